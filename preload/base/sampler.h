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
 * sample by 1/p(s); of their bytes, by s/p(s) (Horvitz-Thompson).  A heap
 * bucket holds samples of nearby sizes (heapprof.h, "Buckets"), so each
 * sample's weights are computed when it is taken and added to its
 * bucket's sums (sampler_weigh), rather than scaled from a count at dump
 * time as Go's scaleHeapSample does with a bucket's average size, which
 * is exact only when every sample of the bucket has the same size:
 *
 *     objects += 1 / (1 - exp(-s/R)),  bytes += s / (1 - exp(-s/R)).
 *
 * The object weight is kept in fixed point (SAMPLER_OBJ_ONE per object)
 * and the byte weight rounded to a byte, so the free of a sample
 * subtracts, exactly, what its allocation added (integers, no drift).
 * R == 1 means "every allocation" with weights 1 and s (Go's
 * MemProfileRate = 1).
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

/* -ln(k / 2^53) for 1 <= k <= 2^53, without the C library's log: its
 * tables' cache lines are cold at every sample (the program's own memory
 * traffic evicts them in between), eight first-level misses a sample
 * under callgrind.  k = 2^b m with m in [sqrt(1/2), sqrt(2)), and
 * ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| < 0.172: eight terms of
 * the series leave a relative error under 1e-13 (test_sampler.c). */
static inline double sampler_neglog53(uint64_t k)
{
	int b = 63 - __builtin_clzll(k);
	union {
		uint64_t i;
		double d;
	} scale = {.i = (uint64_t)(1023 - b) << 52}; /* 2^-b */
	double m = (double)k * scale.d;
	if (m > 1.4142135623730951) {
		m *= 0.5;
		b++;
	}
	double t = (m - 1.0) / (m + 1.0), t2 = t * t;
	double series = 1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 +
			 t2 * (1.0 / 11 + t2 * (1.0 / 13 + t2 * (1.0 / 15)))))));
	return (double)(53 - b) * 0.6931471805599453 - 2.0 * t * series;
}

/* Next countdown value: an exponential gap with mean `rate` bytes, >= 1. */
static inline int64_t sampler_next_gap(uint64_t *state, uint64_t rate)
{
	if (rate <= 1)
		return 1;
	/* 53 random bits, as u in (0, 1]: gap = -rate ln u. */
	double gap = sampler_neglog53((sampler_rand(state) >> 11) + 1) * (double)rate;
	if (gap < 1.0)
		return 1;
	if (gap > 0x1.0p62)
		return INT64_C(1) << 62;
	return (int64_t)gap;
}

/* 1 - exp(-x) for x >= 0.  Below 1/2 (sizes under half the rate: nearly
 * every sample) without the C library's expm1, whose tables cost five
 * first-level misses a new bucket under callgrind: x times the series
 * sum (-x)^k / (k+1)!, k < 16, whose first term left out is under 1e-18
 * of the sum (test_sampler.c).  The coefficients share two cache lines. */
static inline double sampler_one_minus_exp(double x)
{
	static const double c[16] __attribute__((aligned(64))) = {
		1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
		1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
		1.0 / 6227020800.0, 1.0 / 87178291200.0, 1.0 / 1307674368000.0,
		1.0 / 20922789888000.0,
	};
	if (!(x < 0.5))
		return -expm1(-x);
	/* Estrin's scheme in y = -x: pairs, then pairs of pairs, so the
	 * longest chain is four multiply-adds rather than Horner's sixteen
	 * (every new bucket computes this, and the dump again per bucket). */
	double y = -x, y2 = y * y, y4 = y2 * y2, y8 = y4 * y4;
	double p[8];
	for (int k = 0; k < 8; k++)
		p[k] = c[2 * k] + c[2 * k + 1] * y;
	double q0 = p[0] + p[1] * y2, q1 = p[2] + p[3] * y2;
	double q2 = p[4] + p[5] * y2, q3 = p[6] + p[7] * y2;
	return x * ((q0 + q1 * y4) + (q2 + q3 * y4) * y8);
}

/* 1/p(s): how many allocations of size s one sample at rate R stands
 * for (1 when every allocation is sampled). */
static inline double sampler_inverse_p(uint64_t size, uint64_t rate)
{
	if (rate <= 1 || size == 0)
		return 1.0;
	return 1.0 / sampler_one_minus_exp((double)size / (double)rate);
}

/* Fixed point of the object weights: 2^-16 of an object.  A weight is
 * at least 1 and rounds to within 2^-17 of itself; a sum overflows only
 * past 2^48 objects estimated. */
#define SAMPLER_OBJ_ONE 65536

/* One sample's unbiased weights (see above). */
struct sampler_weight {
	uint64_t objects; /* in 1/SAMPLER_OBJ_ONE of an object */
	uint64_t space;   /* bytes */
};

static inline struct sampler_weight sampler_weigh(uint64_t size, uint64_t rate)
{
	double inv = sampler_inverse_p(size, rate);
	if (inv == 1.0)
		return (struct sampler_weight){SAMPLER_OBJ_ONE, size};
	return (struct sampler_weight){(uint64_t)(inv * SAMPLER_OBJ_ONE + 0.5),
				       (uint64_t)(inv * (double)size + 0.5)};
}

/* Whole objects from a sum of object weights (rounded to nearest). */
static inline int64_t sampler_objects(int64_t fixed)
{
	return fixed >= 0 ? (fixed + SAMPLER_OBJ_ONE / 2) / SAMPLER_OBJ_ONE
			  : -((-fixed + SAMPLER_OBJ_ONE / 2) / SAMPLER_OBJ_ONE);
}

#endif
