/*
 * malloc_pair - the cost of one malloc+free pair in a tight loop.
 *
 * One thread calls malloc(SIZE) and free() ITERS times (after a warm-up of
 * ITERS/10), in 20 timed chunks, and prints the median over the chunks of
 * the mean time per pair: a chunk in which the thread was preempted (the
 * machine is shared) is an outlier and does not move the median.  The
 * pointer passes through an empty asm so the compiler cannot drop the pair.
 * Under a sampling heap profiler the mean includes the amortised cost of
 * the samples (one per rate/SIZE pairs on average, about a hundred per
 * chunk at the default sizes).
 *
 * With LIVE_MB, the program first allocates that many MiB in 4 KiB blocks
 * and keeps them: a program with a large live heap, for a heap profiler
 * whose free() must tell sampled blocks from the others (the more sampled
 * blocks are live, the more work that can be).
 *
 * Prints {"ns_per_op", "iters", "size", "live_mb"} (iters: the timed
 * operations).
 * usage: malloc_pair ITERS SIZE [LIVE_MB]
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define CHUNKS 20

__attribute__((noinline)) static void loop(long n, size_t size)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(size);
		BENCH_KEEP(p);
		free(p);
	}
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 20000000;
	size_t size = argc > 2 ? (size_t)atol(argv[2]) : 64;
	long live_mb = argc > 3 ? atol(argv[3]) : 0;
	if (iters < 10 || live_mb < 0) {
		fprintf(stderr, "usage: malloc_pair ITERS SIZE [LIVE_MB]\n");
		return 2;
	}
	long nlive = live_mb * 256;
	char **live = nlive ? malloc((size_t)nlive * sizeof(*live)) : NULL;
	for (long i = 0; i < nlive; i++) {
		live[i] = malloc(4096);
		live[i][0] = (char)i;
	}
	loop(iters / 10, size);
	long chunk = iters / CHUNKS;
	double ns[CHUNKS];
	for (int c = 0; c < CHUNKS; c++) {
		int64_t t0 = bench_now_ns();
		loop(chunk, size);
		ns[c] = (double)(bench_now_ns() - t0) / (double)chunk;
	}
	printf("{\"ns_per_op\": %.3f, \"iters\": %ld, \"size\": %zu, \"live_mb\": %ld}\n",
	       bench_median(ns, CHUNKS), chunk * CHUNKS, size, live_mb);
	BENCH_KEEP(live);
	return 0;
}
