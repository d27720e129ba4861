/*
 * lock_pair - the cost of one uncontended pthread_mutex_lock+unlock pair.
 *
 * One thread locks and unlocks a default mutex ITERS times (after a warm-up
 * of ITERS/10), in 20 timed chunks, and prints the median over the chunks
 * of the mean time per pair (a preempted chunk does not move the median).
 * A second thread exists (blocked in a condition wait) so the process is
 * multi-threaded, as any program that uses locks is; it never touches the
 * mutex, so no operation is contended.
 *
 * Prints {"ns_per_op", "iters"} (iters: the timed operations).
 * usage: lock_pair ITERS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define CHUNKS 20

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static int done;

static void *idle(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&idle_lock);
	while (!done)
		pthread_cond_wait(&idle_cond, &idle_lock);
	pthread_mutex_unlock(&idle_lock);
	return NULL;
}

__attribute__((noinline)) static void loop(long n)
{
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(&m);
		BENCH_KEEP(&m);
		pthread_mutex_unlock(&m);
	}
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 50000000;
	pthread_t t;
	if (iters < 10) {
		fprintf(stderr, "usage: lock_pair ITERS\n");
		return 2;
	}
	pthread_create(&t, NULL, idle, NULL);
	loop(iters / 10);
	long chunk = iters / CHUNKS;
	double ns[CHUNKS];
	for (int c = 0; c < CHUNKS; c++) {
		int64_t t0 = bench_now_ns();
		loop(chunk);
		ns[c] = (double)(bench_now_ns() - t0) / (double)chunk;
	}
	pthread_mutex_lock(&idle_lock);
	done = 1;
	pthread_cond_signal(&idle_cond);
	pthread_mutex_unlock(&idle_lock);
	pthread_join(t, NULL);
	printf("{\"ns_per_op\": %.3f, \"iters\": %ld}\n", bench_median(ns, CHUNKS), chunk * CHUNKS);
	return 0;
}
