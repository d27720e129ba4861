/*
 * bench.h - small helpers shared by the benchmark programs.
 *
 * Every benchmark program prints exactly one JSON object on one line of
 * stdout as its last line (bench/run.py takes the last line that starts
 * with '{', because some profilers' wrappers print to stdout too).  Times
 * come from CLOCK_MONOTONIC, the clock Python's time.monotonic_ns() reads,
 * so the harness can compare a child's timestamps with its own.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* xorshift64: a per-thread generator, so threads share no cache line. */
static inline uint64_t bench_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Median of n values (sorts them in place; n small). */
static inline double bench_median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Keeps a value (or a pointer) alive without emitting any instruction, so
 * the compiler cannot drop a malloc/free pair or a loop whose result is
 * unused. */
#define BENCH_KEEP(v) __asm__ volatile("" : : "r"(v) : "memory")

#endif
