/*
 * cpu_burn - CPU-bound threads with deep stacks.
 *
 * THREADS threads each do UNITS units of floating-point work.  Every unit
 * is reached through a recursion 16 frames deep that alternates between
 * two functions, so a CPU profiler's signal handler has a real stack to
 * unwind (the depth of a typical application call path), and the leaf
 * loop does no calls and no memory traffic, so the profiler's own cost is
 * the only thing that can slow it down.
 *
 * Prints {"elapsed_ns", "threads", "units"}: elapsed_ns covers creation to
 * the last join.
 *
 * usage: cpu_burn THREADS UNITS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define UNIT_ITERS 1000000L

static long nthreads = 4, units = 100;

__attribute__((noinline)) double leaf(double x)
{
	for (long i = 0; i < UNIT_ITERS; i++)
		x = x * 1.0000001 + 0.5;
	return x;
}

double descend_b(int depth, double x);

__attribute__((noinline)) double descend_a(int depth, double x)
{
	double r = depth > 0 ? descend_b(depth - 1, x) : leaf(x);
	BENCH_KEEP(r);
	return r + 1.0;
}

__attribute__((noinline)) double descend_b(int depth, double x)
{
	double r = depth > 0 ? descend_a(depth - 1, x) : leaf(x);
	BENCH_KEEP(r);
	return r - 1.0;
}

static void *worker(void *arg)
{
	double x = (double)(uintptr_t)arg;
	for (long u = 0; u < units; u++)
		x = descend_a(16, x) * 1e-9;
	BENCH_KEEP(x);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		nthreads = atol(argv[1]);
	if (argc > 2)
		units = atol(argv[2]);
	if (nthreads < 1 || nthreads > 256 || units < 1) {
		fprintf(stderr, "usage: cpu_burn THREADS UNITS\n");
		return 2;
	}
	pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	for (long i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	int64_t t1 = bench_now_ns();
	printf("{\"elapsed_ns\": %lld, \"threads\": %ld, \"units\": %ld}\n",
	       (long long)(t1 - t0), nthreads, units);
	return 0;
}
