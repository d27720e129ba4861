/*
 * labels_truth - profiler labels with known amounts under each label set.
 *
 * The same functions run under two label sets, so only the labels tell the
 * samples apart:
 *  - cpu: burn() runs 1 unit under {handler=a, phase=cpu} and 3 units
 *    under {handler=b, phase=cpu}, alternating, 8 rounds.
 *  - heap: keep_block() allocates 30 MiB in 32 KiB blocks under handler=a
 *    and 10 MiB under handler=b; then, under handler=b, half of a's blocks
 *    are freed, and 20 MiB are allocated and freed at once.  So alloc_space
 *    is a 30, b 30 MiB; inuse_space a 15, b 10 MiB: a's memory freed by b
 *    leaves a's bucket, and what is still live keeps a's label.
 *  - mutex/block: a holder thread (handler=a) holds mutex M for 10 ms,
 *    ROUNDS times, while a waiter thread (handler=b) waits for it in
 *    wait_for_lock.  Block samples at wait_for_lock carry handler=b, mutex
 *    samples at long_unlock handler=a.
 *  - threads: the thread "parker" sits in sleep under handler=idle until
 *    the process exits.
 * Interned twice, a set gives the same handle; the set in any order too.
 *
 * Without libcprof.so the label calls return 0 and nothing else changes.
 * Prints JSON: {"labels": 0|1, "waited_ns": ..., ...}; with the argument
 * `serve` (one CPU round instead of 8), then "ready", and waits to be
 * killed (for CPROF_HTTP).
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cprof.h>

#define BLOCK (32 * 1024)
#define ROUNDS 10

static volatile double sink;
static pthread_mutex_t M = PTHREAD_MUTEX_INITIALIZER;
static sem_t locked, done;
static long long waited_ns;
static cprof_labels_t set_a, set_b, set_idle;

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time, for calibrating the work unit on a busy machine. */
static long long cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long unit_iters;

__attribute__((noinline)) void burn(int units)
{
	double x = sink;
	for (long i = 0; i < units * unit_iters; i++)
		x = x * 1.0000001 + 1;
	sink = x;
}

__attribute__((noinline)) void *keep_block(void)
{
	char *p = malloc(BLOCK);
	memset(p, 1, BLOCK);
	return p;
}

__attribute__((noinline)) void long_unlock(void)
{
	pthread_mutex_unlock(&M);
	sink += 1;
}

__attribute__((noinline)) void wait_for_lock(void)
{
	long long t0 = now_ns();
	pthread_mutex_lock(&M);
	waited_ns += now_ns() - t0;
	pthread_mutex_unlock(&M);
}

static void *holder(void *arg)
{
	(void)arg;
	cprof_labels_set(set_a);
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&M);
		sem_post(&locked);
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
		long_unlock();
		sem_wait(&done);
	}
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	cprof_labels_set(set_b);
	for (int i = 0; i < ROUNDS; i++) {
		sem_wait(&locked);
		wait_for_lock();
		sem_post(&done);
	}
	return NULL;
}

__attribute__((noinline)) void parked_here(void)
{
	for (;;)
		sleep(100);
}

static void *parker(void *arg)
{
	(void)arg;
	cprof_labels_set(set_idle);
	parked_here();
	return NULL;
}

int main(int argc, char **argv)
{
	const char *a[] = {"handler", "a"}, *b[] = {"handler", "b"}, *idle[] = {"handler", "idle"};
	const char *phase[] = {"phase", "cpu"};
	const char *ab[] = {"tier", "web", "handler", "a"}, *ba[] = {"handler", "a", "tier", "web"};

	set_a = cprof_labels_intern(a, 1);
	set_b = cprof_labels_intern(b, 1);
	set_idle = cprof_labels_intern(idle, 1);
	int same = cprof_labels_intern(a, 1) == set_a &&
		   cprof_labels_intern(ab, 2) == cprof_labels_intern(ba, 2) &&
		   cprof_labels_with(set_a, ab, 1) == cprof_labels_intern(ba, 2);
	cprof_labels_t cpu_a = cprof_labels_with(set_a, phase, 1);
	cprof_labels_t cpu_b = cprof_labels_with(set_b, phase, 1);

	/* A unit of CPU work: about 50 ms. */
	long long t0 = cpu_ns();
	unit_iters = 1000000;
	burn(1);
	long long dt = cpu_ns() - t0;
	unit_iters = (long)(unit_iters * (50e6 / (dt > 0 ? dt : 1)));
	if (unit_iters < 1000)
		unit_iters = 1000;
	int serve = argc > 1 && strcmp(argv[1], "serve") == 0;
	for (int r = 0; r < (serve ? 1 : 8); r++) {
		cprof_labels_t prev = cprof_labels_set(cpu_a);
		burn(1);
		cprof_labels_set(cpu_b);
		burn(3);
		cprof_labels_set(prev);
	}

	/* Heap. */
	enum { NA = 30 * 1024 * 1024 / BLOCK, NB = 10 * 1024 * 1024 / BLOCK, NC = 20 * 1024 * 1024 / BLOCK };
	static void *pa[NA], *pb[NB];
	cprof_labels_set(set_a);
	for (int i = 0; i < NA; i++)
		pa[i] = keep_block();
	cprof_labels_set(set_b);
	for (int i = 0; i < NB; i++)
		pb[i] = keep_block();
	for (int i = 0; i < NA; i += 2)
		free(pa[i]);
	for (int i = 0; i < NC; i++)
		free(keep_block());
	cprof_labels_t got = cprof_labels_get();
	cprof_labels_set(0);

	/* Contention. */
	sem_init(&locked, 0, 0);
	sem_init(&done, 0, 0);
	pthread_t th[3];
	pthread_create(&th[0], NULL, holder, NULL);
	pthread_create(&th[1], NULL, waiter, NULL);
	pthread_create(&th[2], NULL, parker, NULL);
	pthread_setname_np(th[2], "parker");
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	usleep(100000); /* the parker is parked */

	printf("{\"labels\": %d, \"same\": %d, \"get\": %d, \"waited_ns\": %lld, "
	       "\"alloc_a\": %d, \"alloc_b\": %d, \"inuse_a\": %d, \"inuse_b\": %d}\n",
	       set_a != 0, same, got == set_b, waited_ns, NA * BLOCK, (NB + NC) * BLOCK,
	       (NA / 2) * BLOCK, NB * BLOCK);
	fflush(stdout);
	(void)pb;
	if (serve) {
		/* For the HTTP endpoints: serve until killed. */
		printf("ready\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	return 0;
}
