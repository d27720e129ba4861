/*
 * malloc_mix - multi-threaded allocation with mixed sizes.
 *
 * Each thread keeps a window of 4,096 live blocks and, OPS/THREADS times,
 * replaces a random slot: frees the old block and allocates a new one
 * whose size is drawn from a skewed mix (60% 16-128 B, 30% 128 B-1 KiB,
 * 9% 1-16 KiB, 1% 64-256 KiB, the last above glibc's initial mmap
 * threshold), about 2.6 KiB on average.  70% of the new blocks come from
 * malloc, 20% from calloc and 10% from realloc(NULL, n).  Every new block
 * is filled, as a program fills what it allocates (a loop that only
 * allocates would show a profiler's cost against an unrealistically cheap
 * program).  Allocations are made through a few call chains of different
 * depths, so a heap profiler sees several stacks, as in a real program.
 * Between two operations each thread spins WORK iterations of an integer
 * loop: WORK sets the allocation rate (bytes per second) for the growth
 * table.
 *
 * Prints {"elapsed_ns", "ops", "bytes", "threads"}: elapsed_ns covers the
 * threads' work (creation to the last join), not process start or exit.
 *
 * usage: malloc_mix THREADS OPS [WORK]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define RING 4096

static long threads = 2, ops = 4000000, work;
static uint64_t total_bytes;

static size_t draw_size(uint64_t *rng)
{
	uint64_t r = bench_rand(rng);
	unsigned pick = (unsigned)(r % 100);
	r >>= 8;
	if (pick < 60)
		return 16 + r % 113;
	if (pick < 90)
		return 128 + r % 897;
	if (pick < 99)
		return 1024 + r % (15 * 1024 + 1);
	return 65536 + r % (192 * 1024 + 1);
}

/* Three allocation sites reached through chains of different depths. */
__attribute__((noinline)) void *alloc_small(size_t n)
{
	void *p = malloc(n);
	BENCH_KEEP(p);
	return p;
}

__attribute__((noinline)) void *alloc_zeroed(size_t n)
{
	void *p = calloc(1, n);
	BENCH_KEEP(p);
	return p;
}

__attribute__((noinline)) void *alloc_grow(void *old, size_t n)
{
	void *p = realloc(old, n);
	BENCH_KEEP(p);
	return p;
}

__attribute__((noinline)) void *chain(int depth, size_t n, int kind, void *old)
{
	void *p;
	if (depth > 0)
		p = chain(depth - 1, n, kind, old);
	else if (kind == 1)
		p = alloc_zeroed(n);
	else if (kind == 2)
		p = alloc_grow(old, n);
	else
		p = alloc_small(n);
	BENCH_KEEP(p);
	return p;
}

static void *worker(void *arg)
{
	uint64_t rng = 0x9E3779B97F4A7C15ull * ((uintptr_t)arg + 1);
	void **ring = calloc(RING, sizeof(*ring));
	long n = ops / threads;
	uint64_t bytes = 0;
	unsigned acc = 0;

	for (long i = 0; i < n; i++) {
		uint64_t r = bench_rand(&rng);
		unsigned slot = (unsigned)(r % RING);
		unsigned pick = (unsigned)((r >> 16) % 10);
		size_t size = draw_size(&rng);
		int depth = (int)((r >> 24) % 4) * 3;
		free(ring[slot]);
		void *p = chain(depth, size, pick < 7 ? 0 : pick < 9 ? 1 : 2, NULL);
		memset(p, (int)i, size);
		ring[slot] = p;
		bytes += size;
		for (long w = 0; w < work; w++)
			acc = acc * 1664525u + 1013904223u;
	}
	BENCH_KEEP(acc);
	for (unsigned i = 0; i < RING; i++)
		free(ring[i]);
	free(ring);
	__atomic_fetch_add(&total_bytes, bytes, __ATOMIC_RELAXED);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		threads = atol(argv[1]);
	if (argc > 2)
		ops = atol(argv[2]);
	if (argc > 3)
		work = atol(argv[3]);
	if (threads < 1 || threads > 256 || ops < threads) {
		fprintf(stderr, "usage: malloc_mix THREADS OPS [WORK]\n");
		return 2;
	}
	pthread_t *th = calloc((size_t)threads, sizeof(*th));
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	for (long i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	int64_t t1 = bench_now_ns();
	free(th);
	printf("{\"elapsed_ns\": %lld, \"ops\": %ld, \"bytes\": %llu, \"threads\": %ld}\n",
	       (long long)(t1 - t0), ops / threads * threads, (unsigned long long)total_bytes,
	       threads);
	return 0;
}
