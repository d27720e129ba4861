/*
 * lock_contended - several threads sharing a few mutexes.
 *
 * THREADS threads each run ITERS iterations: pick one of LOCKS mutexes at
 * random, update the counters it protects (a critical section of a few
 * dozen nanoseconds), unlock, then work about 100-200 ns outside any lock.
 * With more threads than cores and few locks, a good share of the lock
 * calls find the mutex taken: the contended path of a lock profiler (the
 * timed wait, the mutex and block samples) is exercised, not just the
 * trylock.
 *
 * Prints {"elapsed_ns", "threads", "locks", "iters", "check"}: elapsed_ns
 * covers creation to the last join; check is the counters' sum, which must
 * equal THREADS*ITERS (a broken lock wrapper shows here).
 *
 * usage: lock_contended THREADS LOCKS ITERS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

struct slot {
	pthread_mutex_t m;
	unsigned long count, sum, last;
	char pad[64];
};

static struct slot *slots;
static long nthreads = 4, nlocks = 4, iters = 1000000;

__attribute__((noinline)) void critical(struct slot *s, unsigned long v)
{
	pthread_mutex_lock(&s->m);
	s->count++;
	s->sum += v;
	s->last = v ^ s->sum;
	pthread_mutex_unlock(&s->m);
}

static void *worker(void *arg)
{
	uint64_t rng = 0x2545F4914F6CDD1Dull * ((uintptr_t)arg + 1);
	unsigned acc = 1;
	for (long i = 0; i < iters; i++) {
		uint64_t r = bench_rand(&rng);
		critical(&slots[r % (uint64_t)nlocks], (unsigned long)r);
		for (int w = 0; w < 60; w++)
			acc = acc * 1664525u + 1013904223u;
	}
	BENCH_KEEP(acc);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		nthreads = atol(argv[1]);
	if (argc > 2)
		nlocks = atol(argv[2]);
	if (argc > 3)
		iters = atol(argv[3]);
	if (nthreads < 1 || nthreads > 256 || nlocks < 1 || iters < 1) {
		fprintf(stderr, "usage: lock_contended THREADS LOCKS ITERS\n");
		return 2;
	}
	slots = calloc((size_t)nlocks, sizeof(*slots));
	for (long i = 0; i < nlocks; i++)
		pthread_mutex_init(&slots[i].m, NULL);
	pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	for (long i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	int64_t t1 = bench_now_ns();
	unsigned long check = 0;
	for (long i = 0; i < nlocks; i++)
		check += slots[i].count;
	printf("{\"elapsed_ns\": %lld, \"threads\": %ld, \"locks\": %ld, \"iters\": %ld, \"check\": %lu}\n",
	       (long long)(t1 - t0), nthreads, nlocks, iters, check);
	return check == (unsigned long)(nthreads * iters) ? 0 : 1;
}
