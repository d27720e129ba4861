/*
 * labels_pair - the cost of making a label set current and restoring the
 * previous one, through the public header (preload/base/cprof.h), as a
 * program does around each piece of labelled work.
 *
 * Interns one set, then calls cprof_labels_set(set) and
 * cprof_labels_set(prev) ITERS times in loop().  Without libcprof.so the
 * weak calls are skipped (the bare run); bench/costs.py counts the
 * instructions the pair adds under cprof.
 *
 * Prints {"ns_per_op", "iters", "labels"}.
 * usage: labels_pair ITERS
 */
#include <stdio.h>
#include <stdlib.h>

#include <cprof.h>

#include "bench.h"

__attribute__((noinline)) static void loop(long n, cprof_labels_t set)
{
	for (long i = 0; i < n; i++) {
		cprof_labels_t prev = cprof_labels_set(set);
		BENCH_KEEP(prev);
		cprof_labels_set(prev);
	}
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 10000000;
	const char *kv[] = {"handler", "bench", "tier", "web"};
	cprof_labels_t set = cprof_labels_intern(kv, 2);
	int64_t t0 = bench_now_ns();
	loop(iters, set);
	int64_t t1 = bench_now_ns();
	printf("{\"ns_per_op\": %.3f, \"iters\": %ld, \"labels\": %d}\n",
	       (double)(t1 - t0) / (double)iters, iters, set != 0);
	return 0;
}
