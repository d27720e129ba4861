/*
 * lock_holders - three holders of very different critical sections, and
 * the delay each of their unlocks causes, measured by the program itself.
 *
 * Mutex A: holder_2ms holds it for 2 ms at a time (unlock in
 * a_unlock_2ms) and signals a condition variable that cond_waiter waits on
 * with A.  Mutex B: holder_30us and holder_5us hold it for 30 us and 5 us
 * (b_unlock_30us, b_unlock_5us).  Two waiters on each mutex take it for
 * an instant (waiter_unlock_a, waiter_unlock_b).
 *
 * The truth, with Go's mutex-profile semantics: every thread that locks A
 * or B (holders too) registers its start in the program's own table
 * (under a spinlock of its own, not a pthread lock) before calling
 * pthread_mutex_lock and leaves it once it holds the mutex; every unlock, just before pthread_mutex_unlock, is
 * charged the delay the registered waiters accumulated since the previous
 * unlock of that mutex (n*t - sum of max(start, last)).  So each site's
 * figure is the waiting its unlocks ended, timed by the program.  The
 * waits themselves (the time in pthread_mutex_lock) are also summed per
 * mutex, and cond_waiter's waits.
 * (pthread_cond_wait re-takes A inside glibc, out of any hook's sight:
 * that is not a registered wait.)
 *
 * Prints JSON: {"sites": {"a_unlock_2ms": ns, ...}, "waits": {"A": ns,
 * "B": ns}, "cond_wait": ns, "calls": {...}}.
 * usage: lock_holders [seconds]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile int stop;
static volatile double sink;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void spin_for(long long ns)
{
	long long end = now_ns() + ns;
	double x = 1;
	while (now_ns() < end)
		x = x * 1.0000001 + 1;
	sink = x;
}

static void pause_for(long ns)
{
	struct timespec ts = {0, ns};
	nanosleep(&ts, NULL);
}

/* The program's own account of one mutex. */
struct account {
	pthread_mutex_t m;
	atomic_flag spin;
	long long n, sum, last; /* registered waiters, sum of effective starts, last unlock */
	long long waited, calls;
};

static struct account A = {PTHREAD_MUTEX_INITIALIZER, ATOMIC_FLAG_INIT},
		      B = {PTHREAD_MUTEX_INITIALIZER, ATOMIC_FLAG_INIT};
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cv_ticket;

enum { S_A2MS, S_B30, S_B5, S_WA, S_WB, S_COND, NSITES };
static const char *site_names[NSITES] = {"a_unlock_2ms", "b_unlock_30us", "b_unlock_5us",
					 "waiter_unlock_a", "waiter_unlock_b", "cond_unlock"};
static long long charged[NSITES], unlocks[NSITES];
static long long cond_waited, cond_calls;

static void take(atomic_flag *f)
{
	while (atomic_flag_test_and_set_explicit(f, memory_order_acquire))
		;
}

static void give(atomic_flag *f)
{
	atomic_flag_clear_explicit(f, memory_order_release);
}

/* Lock a's mutex, registered as a waiter from before the call until it
 * holds the mutex (a lock taken at once counts next to nothing). */
__attribute__((noinline)) void waiter_lock(struct account *a)
{
	take(&a->spin);
	long long start = now_ns();
	a->n++;
	a->sum += start;
	give(&a->spin);
	long long t0 = now_ns();
	pthread_mutex_lock(&a->m);
	long long t1 = now_ns(); /* the wait itself: around the call only */
	take(&a->spin);
	a->sum -= start > a->last ? start : a->last;
	a->n--;
	a->waited += t1 - t0;
	a->calls++;
	give(&a->spin);
}

/* Just before unlocking at `site`: charge it what the waiters accumulated
 * since the previous unlock. */
static void charge(struct account *a, int site)
{
	take(&a->spin);
	long long t = now_ns();
	charged[site] += a->n * t - a->sum;
	unlocks[site]++;
	a->sum = a->n * t;
	a->last = t;
	give(&a->spin);
}

#define UNLOCK_SITE(name, acct, site)                       \
	__attribute__((noinline)) void name(void)           \
	{                                                   \
		charge(&acct, site);                        \
		pthread_mutex_unlock(&acct.m);              \
		sink += 1;                                  \
	}

UNLOCK_SITE(a_unlock_2ms, A, S_A2MS)
UNLOCK_SITE(b_unlock_30us, B, S_B30)
UNLOCK_SITE(b_unlock_5us, B, S_B5)
UNLOCK_SITE(waiter_unlock_a, A, S_WA)
UNLOCK_SITE(waiter_unlock_b, B, S_WB)
UNLOCK_SITE(cond_unlock, A, S_COND)

static void *holder_2ms(void *arg)
{
	(void)arg;
	while (!stop) {
		waiter_lock(&A);
		spin_for(2000000);
		cv_ticket++;
		pthread_cond_signal(&cv);
		a_unlock_2ms();
		pause_for(300000);
	}
	return NULL;
}

static void *holder_30us(void *arg)
{
	(void)arg;
	while (!stop) {
		waiter_lock(&B);
		spin_for(30000);
		b_unlock_30us();
		pause_for(50000);
	}
	return NULL;
}

static void *holder_5us(void *arg)
{
	(void)arg;
	while (!stop) {
		waiter_lock(&B);
		spin_for(5000);
		b_unlock_5us();
		pause_for(10000);
	}
	return NULL;
}

__attribute__((noinline)) void waiter_a(long pause)
{
	waiter_lock(&A);
	sink += 1;
	waiter_unlock_a();
	pause_for(pause);
}

__attribute__((noinline)) void waiter_b(long pause)
{
	waiter_lock(&B);
	sink += 1;
	waiter_unlock_b();
	pause_for(pause);
}

static void *wa(void *arg)
{
	while (!stop)
		waiter_a((long)arg);
	return NULL;
}

static void *wb(void *arg)
{
	while (!stop)
		waiter_b((long)arg);
	return NULL;
}

__attribute__((noinline)) void cond_wait_site(void)
{
	waiter_lock(&A);
	int seen = cv_ticket;
	long long t0 = now_ns();
	while (cv_ticket == seen && !stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&cv, &A.m, &ts);
	}
	cond_waited += now_ns() - t0;
	cond_calls++;
	cond_unlock();
}

static void *cond_waiter(void *arg)
{
	(void)arg;
	while (!stop)
		cond_wait_site();
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0;
	pthread_t th[8];
	int n = 0;
	pthread_create(&th[n++], NULL, holder_2ms, NULL);
	pthread_create(&th[n++], NULL, holder_30us, NULL);
	pthread_create(&th[n++], NULL, holder_5us, NULL);
	pthread_create(&th[n++], NULL, wa, (void *)500000L);
	pthread_create(&th[n++], NULL, wa, (void *)1500000L);
	pthread_create(&th[n++], NULL, wb, (void *)20000L);
	pthread_create(&th[n++], NULL, wb, (void *)60000L);
	pthread_create(&th[n++], NULL, cond_waiter, NULL);
	struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
	nanosleep(&ts, NULL);
	stop = 1;
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("{\"sites\": {");
	for (int i = 0; i < NSITES; i++)
		printf("%s\"%s\": %lld", i ? ", " : "", site_names[i], charged[i]);
	printf("}, \"unlocks\": {");
	for (int i = 0; i < NSITES; i++)
		printf("%s\"%s\": %lld", i ? ", " : "", site_names[i], unlocks[i]);
	printf("}, \"waits\": {\"A\": %lld, \"B\": %lld}, \"calls\": {\"A\": %lld, \"B\": %lld}, "
	       "\"cond_wait\": %lld, \"cond_calls\": %lld}\n",
	       A.waited, B.waited, A.calls, B.calls, cond_waited, cond_calls);
	return 0;
}
