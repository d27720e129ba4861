/*
 * stacks - N distinct allocation stacks, for the profiler's memory and
 * dump-time growth tables.
 *
 * Ten functions f0..f9 call one another through a table; allocation i
 * walks the decimal digits of i, calling f<digit> at each level, and the
 * innermost call allocates 64 bytes.  Each function has its own call site,
 * so the return addresses differ and allocation i has a stack no other
 * allocation shares: N allocations give N distinct stacks (the depth is
 * the number of digits of N-1).  The blocks stay live, so every stack is
 * still in the in-use profile when it is written.  Run it with every
 * allocation sampled (CPROF_HEAP_RATE=1, lg_prof_sample:0).
 *
 * Output, one JSON object per line:
 *   {"ready": 1, "stacks": N}         after the allocations (wait mode only)
 *   {"exit_ns": T, "stacks": N}       just before main returns; T is
 *                                     CLOCK_MONOTONIC, so the harness can
 *                                     time the exit (the profile dump) up
 *                                     to the process's end.
 * In wait mode the program then blocks until stdin reaches end of file, so
 * the harness can trigger a dump with the profiler's signal first.
 *
 * usage: stacks N [wait]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

typedef void *(*fn_t)(int depth, unsigned long idx);
static fn_t table[10];

#define F(k)                                                           \
	__attribute__((noinline)) void *f##k(int depth, unsigned long idx) \
	{                                                              \
		void *p = depth > 0 ? table[idx % 10](depth - 1, idx / 10) \
				    : malloc(64);                      \
		BENCH_KEEP(p);                                         \
		return p;                                              \
	}
F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9)

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int wait = argc > 2 && strcmp(argv[2], "wait") == 0;
	fn_t init[10] = {f0, f1, f2, f3, f4, f5, f6, f7, f8, f9};
	int depth = 0;

	if (n < 1) {
		fprintf(stderr, "usage: stacks N [wait]\n");
		return 2;
	}
	memcpy(table, init, sizeof(table));
	for (long m = n - 1; m >= 10; m /= 10)
		depth++;
	void **keep = malloc((size_t)n * sizeof(*keep));
	for (long i = 0; i < n; i++)
		keep[i] = table[i % 10](depth, (unsigned long)i / 10);
	BENCH_KEEP(keep);
	if (wait) {
		char buf[64];
		printf("{\"ready\": 1, \"stacks\": %ld}\n", n);
		fflush(stdout);
		while (read(0, buf, sizeof(buf)) > 0)
			;
	}
	printf("{\"exit_ns\": %lld, \"stacks\": %ld}\n", (long long)bench_now_ns(), n);
	fflush(stdout);
	return 0;
}
