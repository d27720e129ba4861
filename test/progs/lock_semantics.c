/*
 * lock_semantics - every wrapped waiting function keeps its semantics.
 *
 * Checks return values, errno and behaviour of each mutex type (normal,
 * recursive, errorcheck, robust, priority-inheritance, priority-protect,
 * process-shared, static initialisers), rwlocks, condition variables,
 * semaphores, joins, barriers and spinlocks, both uncontended and
 * contended (another thread holds the lock, so cprof's slow paths run).
 * Prints one line per check; exits with the number of failures.  The test
 * runs it bare and under cprof and requires identical output.
 */
#include <errno.h>
#include <sched.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(name, got, want)                                                   \
	do {                                                                     \
		long g_ = (long)(got), w_ = (long)(want);                        \
		if (g_ == w_) {                                                  \
			printf("ok %s\n", name);                                 \
		} else {                                                         \
			printf("FAIL %s: got %ld (%s) want %ld (%s)\n", name, g_, \
			       strerror((int)g_), w_, strerror((int)w_));         \
			failures++;                                              \
		}                                                                \
	} while (0)

/* Record a result without asserting it: for behaviour that depends on the
 * machine (priority-protect mutexes need the right to raise priority).  The
 * test still requires the same output with and without cprof. */
static int record_only;
#define CHECKM(name, got, want)                                          \
	do {                                                             \
		if (record_only)                                         \
			printf("value %s = %ld\n", name, (long)(got));    \
		else                                                     \
			CHECK(name, got, want);                          \
	} while (0)

static struct timespec in_ms(clockid_t c, long ms)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	ts.tv_nsec += ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A thread that holds a mutex until told to let go, then `ms` longer, so
 * the owner's next lock call is contended however loaded the machine. */
struct hold {
	pthread_mutex_t *m;
	long ms;
	volatile int locked;
	volatile int release;
};

static void *holder(void *arg)
{
	struct hold *h = arg;
	pthread_mutex_lock(h->m);
	h->locked = 1;
	while (!h->release)
		sleep_ms(1);
	sleep_ms(h->ms);
	pthread_mutex_unlock(h->m);
	return NULL;
}

static void start_holder(pthread_t *th, struct hold *h)
{
	h->locked = 0;
	h->release = 0;
	pthread_create(th, NULL, holder, h);
	while (!h->locked)
		sleep_ms(1);
}

static void mutex_type(const char *label, int type, int protocol)
{
	char name[128];
	pthread_mutexattr_t a;
	pthread_mutex_t m;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, type);
	if (protocol >= 0)
		pthread_mutexattr_setprotocol(&a, protocol);
	if (protocol == PTHREAD_PRIO_PROTECT)
		pthread_mutexattr_setprioceiling(&a, sched_get_priority_min(SCHED_FIFO));
	snprintf(name, sizeof(name), "%s init", label);
	CHECKM(name, pthread_mutex_init(&m, &a), 0);
	pthread_mutexattr_destroy(&a);

	snprintf(name, sizeof(name), "%s lock", label);
	CHECKM(name, pthread_mutex_lock(&m), 0);
	snprintf(name, sizeof(name), "%s relock by owner", label);
	if (type == PTHREAD_MUTEX_RECURSIVE) {
		CHECKM(name, pthread_mutex_lock(&m), 0);
		CHECKM("recursive unlock 1", pthread_mutex_unlock(&m), 0);
	} else if (type == PTHREAD_MUTEX_ERRORCHECK) {
		CHECKM(name, pthread_mutex_lock(&m), EDEADLK);
	}
	snprintf(name, sizeof(name), "%s unlock", label);
	CHECKM(name, pthread_mutex_unlock(&m), 0);
	if (type == PTHREAD_MUTEX_ERRORCHECK || type == PTHREAD_MUTEX_RECURSIVE) {
		snprintf(name, sizeof(name), "%s unlock unlocked", label);
		CHECKM(name, pthread_mutex_unlock(&m), EPERM);
	}

	/* Contended: another thread holds it until the timed calls below are
	 * done (if the holder let go first, a timed lock would succeed and the
	 * next lock of this normal mutex by its owner would wait forever). */
	pthread_t th;
	struct hold h = {&m, 20, 0, 0};
	start_holder(&th, &h);
	snprintf(name, sizeof(name), "%s trylock busy", label);
	CHECKM(name, pthread_mutex_trylock(&m), EBUSY);
	struct timespec ts = in_ms(CLOCK_REALTIME, 5);
	snprintf(name, sizeof(name), "%s timedlock timeout", label);
	CHECKM(name, pthread_mutex_timedlock(&m, &ts), ETIMEDOUT);
	ts = in_ms(CLOCK_MONOTONIC, 5);
	snprintf(name, sizeof(name), "%s clocklock timeout", label);
	CHECKM(name, pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
	if (type == PTHREAD_MUTEX_ERRORCHECK) {
		snprintf(name, sizeof(name), "%s unlock by non-owner", label);
		CHECKM(name, pthread_mutex_unlock(&m), EPERM);
	}
	h.release = 1;
	snprintf(name, sizeof(name), "%s contended lock", label);
	CHECKM(name, pthread_mutex_lock(&m), 0);
	snprintf(name, sizeof(name), "%s contended unlock", label);
	CHECKM(name, pthread_mutex_unlock(&m), 0);
	pthread_join(th, NULL);

	start_holder(&th, &h);
	h.release = 1;
	ts = in_ms(CLOCK_REALTIME, 2000);
	snprintf(name, sizeof(name), "%s contended timedlock", label);
	CHECKM(name, pthread_mutex_timedlock(&m, &ts), 0);
	pthread_mutex_unlock(&m);
	pthread_join(th, NULL);
	snprintf(name, sizeof(name), "%s destroy", label);
	CHECKM(name, pthread_mutex_destroy(&m), 0);
}

static pthread_mutex_t robust;

static void *die_holding(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&robust);
	return NULL; /* exits with the mutex held */
}

static void robust_mutex(int make_consistent)
{
	pthread_mutexattr_t a;
	pthread_t th;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&robust, &a);
	pthread_mutexattr_destroy(&a);
	pthread_create(&th, NULL, die_holding, NULL);
	pthread_join(th, NULL);
	CHECK("robust owner died", pthread_mutex_lock(&robust), EOWNERDEAD);
	if (make_consistent) {
		CHECK("robust consistent", pthread_mutex_consistent(&robust), 0);
		CHECK("robust unlock", pthread_mutex_unlock(&robust), 0);
		CHECK("robust relock", pthread_mutex_lock(&robust), 0);
		CHECK("robust unlock 2", pthread_mutex_unlock(&robust), 0);
	} else {
		CHECK("robust unlock inconsistent", pthread_mutex_unlock(&robust), 0);
		CHECK("robust not recoverable", pthread_mutex_lock(&robust), ENOTRECOVERABLE);
		CHECK("robust trylock not recoverable", pthread_mutex_trylock(&robust), ENOTRECOVERABLE);
	}
}

static void process_shared(void)
{
	pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int *counter = (int *)(m + 1);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 20000; i++) {
			pthread_mutex_lock(m);
			(*counter)++;
			pthread_mutex_unlock(m);
		}
		_exit(0);
	}
	for (int i = 0; i < 20000; i++) {
		pthread_mutex_lock(m);
		(*counter)++;
		pthread_mutex_unlock(m);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK("pshared child exit", WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
	CHECK("pshared count", *counter, 40000);
	munmap(m, 4096);
}

static pthread_mutex_t static_normal = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t static_recursive = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t static_errorcheck = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static pthread_mutex_t static_adaptive = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;

static void statics(void)
{
	CHECK("static normal lock", pthread_mutex_lock(&static_normal), 0);
	CHECK("static normal unlock", pthread_mutex_unlock(&static_normal), 0);
	CHECK("static recursive lock", pthread_mutex_lock(&static_recursive), 0);
	CHECK("static recursive lock 2", pthread_mutex_lock(&static_recursive), 0);
	CHECK("static recursive unlock", pthread_mutex_unlock(&static_recursive), 0);
	CHECK("static recursive unlock 2", pthread_mutex_unlock(&static_recursive), 0);
	CHECK("static errorcheck lock", pthread_mutex_lock(&static_errorcheck), 0);
	CHECK("static errorcheck relock", pthread_mutex_lock(&static_errorcheck), EDEADLK);
	CHECK("static errorcheck unlock", pthread_mutex_unlock(&static_errorcheck), 0);
	CHECK("static adaptive lock", pthread_mutex_lock(&static_adaptive), 0);
	CHECK("static adaptive unlock", pthread_mutex_unlock(&static_adaptive), 0);
}

/* Many threads hammering one counter: mutual exclusion preserved. */
static pthread_mutex_t hammer_m = PTHREAD_MUTEX_INITIALIZER;
static long hammer_count;

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50000; i++) {
		pthread_mutex_lock(&hammer_m);
		hammer_count++;
		pthread_mutex_unlock(&hammer_m);
	}
	return NULL;
}

static void exclusion(void)
{
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, hammer, NULL);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	CHECK("mutual exclusion", hammer_count, 8 * 50000);
}

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;

static volatile int rw_release;

/* Holds the write lock until main says it may go, then a little longer, so
 * main's timed calls always time out (however loaded the machine) and its
 * next blocking call is contended. */
static void *rw_writer(void *arg)
{
	pthread_rwlock_wrlock(&rw);
	*(volatile int *)arg = 1;
	while (!rw_release)
		sleep_ms(1);
	sleep_ms(20);
	pthread_rwlock_unlock(&rw);
	return NULL;
}

static void rwlocks(void)
{
	CHECK("rw rdlock", pthread_rwlock_rdlock(&rw), 0);
	CHECK("rw rdlock 2", pthread_rwlock_rdlock(&rw), 0);
	CHECK("rw trywrlock busy", pthread_rwlock_trywrlock(&rw), EBUSY);
	CHECK("rw unlock", pthread_rwlock_unlock(&rw), 0);
	CHECK("rw unlock 2", pthread_rwlock_unlock(&rw), 0);
	CHECK("rw wrlock", pthread_rwlock_wrlock(&rw), 0);
	CHECK("rw wrlock again", pthread_rwlock_wrlock(&rw), EDEADLK);
	CHECK("rw unlock w", pthread_rwlock_unlock(&rw), 0);
	volatile int held = 0;
	pthread_t th;
	pthread_create(&th, NULL, rw_writer, (void *)&held);
	while (!held)
		sleep_ms(1);
	CHECK("rw tryrdlock busy", pthread_rwlock_tryrdlock(&rw), EBUSY);
	struct timespec ts = in_ms(CLOCK_REALTIME, 5);
	CHECK("rw timedrdlock timeout", pthread_rwlock_timedrdlock(&rw, &ts), ETIMEDOUT);
	ts = in_ms(CLOCK_REALTIME, 5);
	CHECK("rw timedwrlock timeout", pthread_rwlock_timedwrlock(&rw, &ts), ETIMEDOUT);
	ts = in_ms(CLOCK_MONOTONIC, 5);
	CHECK("rw clockrdlock timeout", pthread_rwlock_clockrdlock(&rw, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
	ts = in_ms(CLOCK_MONOTONIC, 5);
	CHECK("rw clockwrlock timeout", pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
	rw_release = 1;
	CHECK("rw contended rdlock", pthread_rwlock_rdlock(&rw), 0);
	CHECK("rw contended unlock", pthread_rwlock_unlock(&rw), 0);
	pthread_join(th, NULL);
	held = 0;
	rw_release = 0;
	pthread_create(&th, NULL, rw_writer, (void *)&held);
	while (!held)
		sleep_ms(1);
	rw_release = 1;
	CHECK("rw contended wrlock", pthread_rwlock_wrlock(&rw), 0);
	CHECK("rw contended wr unlock", pthread_rwlock_unlock(&rw), 0);
	pthread_join(th, NULL);
}

static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ready;

static void *signaller(void *arg)
{
	(void)arg;
	sleep_ms(20);
	pthread_mutex_lock(&cm);
	ready = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&cm);
	return NULL;
}

static void conds(void)
{
	pthread_t th;
	pthread_mutex_lock(&cm);
	struct timespec ts = in_ms(CLOCK_REALTIME, 5);
	CHECK("cond timedwait timeout", pthread_cond_timedwait(&cv, &cm, &ts), ETIMEDOUT);
	ts = in_ms(CLOCK_MONOTONIC, 5);
	CHECK("cond clockwait timeout", pthread_cond_clockwait(&cv, &cm, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
	CHECK("cond mutex still held", pthread_mutex_trylock(&cm), EBUSY);
	pthread_create(&th, NULL, signaller, NULL);
	while (!ready)
		CHECK("cond wait", pthread_cond_wait(&cv, &cm), 0);
	CHECK("cond ready", ready, 1);
	pthread_mutex_unlock(&cm);
	pthread_join(th, NULL);
}

static sem_t sem;

static void *poster(void *arg)
{
	(void)arg;
	sleep_ms(20);
	sem_post(&sem);
	return NULL;
}

static void sems(void)
{
	pthread_t th;
	sem_init(&sem, 0, 1);
	errno = 4321;
	CHECK("sem wait available", sem_wait(&sem), 0);
	CHECK("sem errno kept", errno, 4321);
	CHECK("sem trywait empty", sem_trywait(&sem), -1);
	CHECK("sem trywait errno", errno, EAGAIN);
	struct timespec ts = in_ms(CLOCK_REALTIME, 5);
	CHECK("sem timedwait timeout", sem_timedwait(&sem, &ts), -1);
	CHECK("sem timedwait errno", errno, ETIMEDOUT);
	ts = in_ms(CLOCK_MONOTONIC, 5);
	CHECK("sem clockwait timeout", sem_clockwait(&sem, CLOCK_MONOTONIC, &ts), -1);
	CHECK("sem clockwait errno", errno, ETIMEDOUT);
	pthread_create(&th, NULL, poster, NULL);
	errno = 4321;
	CHECK("sem contended wait", sem_wait(&sem), 0);
	CHECK("sem contended errno kept", errno, 4321);
	pthread_join(th, NULL);
	sem_destroy(&sem);
}

static volatile int join_release;

/* Returns 42 `arg` ms after main lets it go. */
static void *returner(void *arg)
{
	while (!join_release)
		sleep_ms(1);
	sleep_ms((long)arg);
	return (void *)42;
}

static void joins(void)
{
	pthread_t th;
	void *ret = NULL;
	join_release = 0;
	pthread_create(&th, NULL, returner, (void *)10L);
	CHECK("tryjoin busy", pthread_tryjoin_np(th, &ret), EBUSY);
	struct timespec ts = in_ms(CLOCK_REALTIME, 5);
	CHECK("timedjoin timeout", pthread_timedjoin_np(th, &ret, &ts), ETIMEDOUT);
	ts = in_ms(CLOCK_MONOTONIC, 5);
	CHECK("clockjoin timeout", pthread_clockjoin_np(th, &ret, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
	join_release = 1;
	CHECK("join", pthread_join(th, &ret), 0);
	CHECK("join value", (long)ret, 42);
	pthread_create(&th, NULL, returner, (void *)0L);
	sleep_ms(20);
	CHECK("join finished", pthread_join(th, &ret), 0);
	CHECK("join finished value", (long)ret, 42);
	CHECK("join self", pthread_join(pthread_self(), &ret), EDEADLK);
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_create(&th, &a, returner, (void *)50L);
	pthread_attr_destroy(&a);
	CHECK("join detached", pthread_join(th, &ret), EINVAL);
	sleep_ms(80);
}

static pthread_barrier_t bar;
static int serial_count;

static void *barrier_thread(void *arg)
{
	(void)arg;
	int r = pthread_barrier_wait(&bar);
	if (r == PTHREAD_BARRIER_SERIAL_THREAD)
		__atomic_fetch_add(&serial_count, 1, __ATOMIC_RELAXED);
	else if (r != 0)
		__atomic_fetch_add(&serial_count, 100, __ATOMIC_RELAXED);
	return NULL;
}

static void barriers(void)
{
	pthread_t th[4];
	pthread_barrier_init(&bar, NULL, 4);
	for (int round = 0; round < 3; round++) {
		serial_count = 0;
		for (int i = 0; i < 4; i++)
			pthread_create(&th[i], NULL, barrier_thread, NULL);
		for (int i = 0; i < 4; i++)
			pthread_join(th[i], NULL);
		CHECK("barrier one serial thread", serial_count, 1);
	}
	pthread_barrier_destroy(&bar);
}

static pthread_spinlock_t spin;

static void *spin_holder(void *arg)
{
	pthread_spin_lock(&spin);
	*(volatile int *)arg = 1;
	sleep_ms(20);
	pthread_spin_unlock(&spin);
	return NULL;
}

static void spins(void)
{
	pthread_t th;
	volatile int held = 0;
	pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
	CHECK("spin lock", pthread_spin_lock(&spin), 0);
	CHECK("spin trylock busy", pthread_spin_trylock(&spin), EBUSY);
	CHECK("spin unlock", pthread_spin_unlock(&spin), 0);
	pthread_create(&th, NULL, spin_holder, (void *)&held);
	while (!held)
		sleep_ms(1);
	CHECK("spin contended lock", pthread_spin_lock(&spin), 0);
	CHECK("spin contended unlock", pthread_spin_unlock(&spin), 0);
	pthread_join(th, NULL);
	pthread_spin_destroy(&spin);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	mutex_type("normal", PTHREAD_MUTEX_NORMAL, -1);
	mutex_type("recursive", PTHREAD_MUTEX_RECURSIVE, -1);
	mutex_type("errorcheck", PTHREAD_MUTEX_ERRORCHECK, -1);
	mutex_type("pi", PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_INHERIT);
	mutex_type("pi errorcheck", PTHREAD_MUTEX_ERRORCHECK, PTHREAD_PRIO_INHERIT);
	record_only = 1;
	mutex_type("protect", PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_PROTECT);
	record_only = 0;
	robust_mutex(1);
	robust_mutex(0);
	process_shared();
	statics();
	exclusion();
	rwlocks();
	conds();
	sems();
	joins();
	barriers();
	spins();
	printf("failures: %d\n", failures);
	return failures;
}
