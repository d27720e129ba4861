/*
 * sampler.h - Poisson sampling of allocated bytes, and its unbiased weights.
 *
 * DERIVATION
 * We want each allocated byte to be "hit" by an independent Poisson process
 * of rate 1/R (R = CPROF_HEAP_RATE, mean bytes between samples).  An
 * allocation of s bytes is sampled when at least one hit falls inside it,
 * which happens with probability
 *
 *     p(s) = 1 - exp(-s / R).
 *
 * A per-thread countdown implements this exactly: the distance to the next
 * hit is exponential with mean R (gap = -R ln u, u uniform in (0,1]); each
 * allocation subtracts its size, and the allocation that drives the
 * countdown to <= 0 is sampled.  After a sample the countdown restarts with
 * a fresh gap: by memorylessness the residual distance at the start of any
 * allocation is again exponential, so every allocation is sampled
 * independently with probability p(s), however large.
 *
 * An unbiased estimate of the number of allocations at a site weights each
 * sample by 1/p(s); of their bytes, by s/p(s) (Horvitz-Thompson).  Since
 * every sample in a (stack, size) bucket has the same s, the profile keeps
 * raw sample counts per bucket and scales once at dump time, exactly like
 * Go's scaleHeapSample and jemalloc's prof_unbias_map:
 *
 *     objects = n / (1 - exp(-s/R)),  bytes = objects * s.
 *
 * A free subtracts its raw count from the same bucket, so in-use figures
 * are estimated with the same weights as allocations.  R == 1 means "every
 * allocation" with weight 1 (Go's MemProfileRate = 1).
 */
#ifndef CPROF_SAMPLER_H
#define CPROF_SAMPLER_H

#include <math.h>
#include "common.h"

CPROF_INLINE uint64_t sampler_rand(uint64_t *state)
{
	/* xorshift64* (Vigna): period 2^64-1, good enough for gap draws. */
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Next countdown value: an exponential gap with mean `rate` bytes, >= 1. */
static inline int64_t sampler_next_gap(uint64_t *state, uint64_t rate)
{
	if (rate <= 1)
		return 1;
	/* 53 random bits, mapped to (0, 1]. */
	double u = (double)((sampler_rand(state) >> 11) + 1) * 0x1.0p-53;
	double gap = -log(u) * (double)rate;
	if (gap < 1.0)
		return 1;
	if (gap > 0x1.0p62)
		return INT64_C(1) << 62;
	return (int64_t)gap;
}

/* 1/p(s): how many allocations of size s one sample at rate R stands
 * for (1 when every allocation is sampled). */
static inline double sampler_inverse_p(uint64_t size, uint64_t rate)
{
	if (rate <= 1 || size == 0)
		return 1.0;
	return 1.0 / (-expm1(-(double)size / (double)rate));
}

/* Unbiased (objects, bytes) for n raw samples of size s, each standing
 * for `scale` allocations (sampler_inverse_p). */
static inline void sampler_scale_by(uint64_t n, uint64_t size, double scale,
				    int64_t *objects, int64_t *bytes)
{
	if (n == 0 || size == 0) {
		*objects = 0;
		*bytes = 0;
		return;
	}
	if (scale == 1.0) {
		*objects = (int64_t)n;
		*bytes = (int64_t)(n * size);
		return;
	}
	double obj = (double)n * scale;
	*objects = (int64_t)(obj + 0.5);
	*bytes = (int64_t)(obj * (double)size + 0.5);
}

/* Unbiased (objects, bytes) for n raw samples of size s at rate R. */
static inline void sampler_scale(uint64_t n, uint64_t size, uint64_t rate,
				 int64_t *objects, int64_t *bytes)
{
	sampler_scale_by(n, size, sampler_inverse_p(size, rate), objects, bytes);
}

#endif
