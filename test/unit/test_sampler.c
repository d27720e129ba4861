/*
 * Unit test: the heap sampler's statistics (preload/base/sampler.h).
 *
 * Gaps are exponential with the configured mean; and the whole pipeline -
 * countdown over a stream of allocations, each sample weighed by
 * sampler_weigh() - gives
 * unbiased estimates of objects and bytes per size, checked against the
 * known stream over many independent trials.
 */
#include "../../preload/base/sampler.h"
#include "unit.h"

int main(void)
{
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	const uint64_t rate = 524288;
	const int n = 2000000;
	double sum = 0, sumsq = 0;
	int below = 0;

	/* The table-free logarithm against the C library's, at the ends of
	 * its range, around the sqrt(2) switch and at random. */
	double worst = 0;
	uint64_t ks[] = {1, 2, 3, 1ull << 52, (1ull << 53) - 1, 1ull << 53, 6369051672525772ull,
			 6369051672525773ull, 3184525836262886ull};
	for (int i = 0; i < 1000000 + (int)CPROF_ARRAY_LEN(ks); i++) {
		uint64_t k = i < (int)CPROF_ARRAY_LEN(ks) ? ks[i] : (sampler_rand(&rng) >> 11) + 1;
		if (i >= (int)CPROF_ARRAY_LEN(ks) && (i & 1))
			k >>= sampler_rand(&rng) % 53; /* small k too */
		if (!k)
			k = 1;
		double want = -log((double)k * 0x1.0p-53), got = sampler_neglog53(k);
		double err = fabs(got - want) / (want > 1e-300 ? want : 1e-300);
		if (want == 0)
			err = fabs(got);
		if (err > worst)
			worst = err;
	}
	fprintf(stderr, "neglog53: worst relative error %.3g\n", worst);
	CHECK(worst < 1e-13);

	/* 1 - exp(-x) against the C library's expm1: the series below 1/2
	 * (at its ends, at the sizes a 512 KiB rate gives, at random), and
	 * expm1 itself above. */
	worst = 0;
	double xs[] = {0x1.0p-60, 1e-12, 1.0 / 524288, 64.0 / 524288, 0.25, 0.4999999999999999,
		       0.5, 0.75, 3.0, 40.0};
	for (int i = 0; i < 1000000 + (int)CPROF_ARRAY_LEN(xs); i++) {
		double x = i < (int)CPROF_ARRAY_LEN(xs)
				   ? xs[i]
				   : (double)((sampler_rand(&rng) >> 11) % 262144 + 1) / 524288;
		double want = -expm1(-x), got = sampler_one_minus_exp(x);
		double err = fabs(got - want) / want;
		if (err > worst)
			worst = err;
	}
	fprintf(stderr, "one_minus_exp: worst relative error %.3g\n", worst);
	CHECK(worst < 1e-15);

	for (int i = 0; i < n; i++) {
		double g = (double)sampler_next_gap(&rng, rate);
		sum += g;
		sumsq += g * g;
		below += g < (double)rate;
	}
	double mean = sum / n, var = sumsq / n - mean * mean;
	/* Exponential: mean R, sd R, P(gap < R) = 1 - 1/e. */
	CHECK_NEAR(mean / rate, 1.0, 0.005);
	CHECK_NEAR(sqrt(var) / rate, 1.0, 0.01);
	CHECK_NEAR((double)below / n, 1.0 - exp(-1.0), 0.002);
	CHECK_EQ(sampler_next_gap(&rng, 1), 1);
	CHECK_EQ(sampler_next_gap(&rng, 0), 1);

	/* A sample's weights: 1/(1-exp(-s/R)) objects, s times that in
	 * bytes; rate 1 is exact. */
	struct sampler_weight w = sampler_weigh(100, 1);
	CHECK_EQ(w.objects, SAMPLER_OBJ_ONE);
	CHECK_EQ(w.space, 100);
	w = sampler_weigh(rate * 40, rate);
	CHECK_EQ(w.objects, SAMPLER_OBJ_ONE); /* p = 1 - e^-40 */
	CHECK_EQ(w.space, rate * 40);
	w = sampler_weigh(1, rate);
	CHECK_NEAR((double)w.objects / SAMPLER_OBJ_ONE, rate, 1.0);
	CHECK_NEAR((double)w.space, rate, 1.0);
	CHECK_EQ(sampler_objects(3 * SAMPLER_OBJ_ONE / 2), 2);
	CHECK_EQ(sampler_objects(-3 * SAMPLER_OBJ_ONE / 2), -2);
	CHECK_EQ(sampler_objects(SAMPLER_OBJ_ONE / 2 - 1), 0);

	/* Unbiasedness of the pipeline: a stream of allocations of a few sizes,
	 * sampled by the countdown, estimated per size, averaged over trials. */
	const size_t sizes[] = {16, 1000, 65536, 1 << 20};
	const int counts[] = {200000, 20000, 2000, 50};
	const int trials = 200;
	double est_obj[4] = {0}, est_bytes[4] = {0};
	for (int t = 0; t < trials; t++) {
		uint64_t st = 1000003 * (uint64_t)(t + 1) | 1;
		int64_t left = sampler_next_gap(&st, rate);
		uint64_t obj_fp[4] = {0}, space[4] = {0};
		/* Interleave the sizes as a program would. */
		int remaining[4];
		memcpy(remaining, counts, sizeof(remaining));
		for (int round = 0; ; round++) {
			int any = 0;
			for (int k = 0; k < 4; k++) {
				int batch = counts[k] / 1000 + 1;
				for (int j = 0; j < batch && remaining[k] > 0; j++, remaining[k]--) {
					any = 1;
					left -= (int64_t)sizes[k];
					if (left <= 0) {
						w = sampler_weigh(sizes[k], rate);
						obj_fp[k] += w.objects;
						space[k] += w.space;
						left = sampler_next_gap(&st, rate);
					}
				}
			}
			if (!any)
				break;
		}
		for (int k = 0; k < 4; k++) {
			est_obj[k] += (double)sampler_objects((int64_t)obj_fp[k]) / trials;
			est_bytes[k] += (double)space[k] / trials;
		}
	}
	for (int k = 0; k < 4; k++) {
		double truth = (double)counts[k] * (double)sizes[k];
		/* The mean of 200 trials: sd of one trial ~ sqrt(n s^2 (1-p)/p),
		 * divided by sqrt(200); allow 4 sd. */
		double p = -expm1(-(double)sizes[k] / rate);
		double sd = sqrt(counts[k] * (double)sizes[k] * sizes[k] * (1 - p) / p) / sqrt(trials);
		CHECK_NEAR(est_bytes[k], truth, 4 * sd + 1);
		CHECK_NEAR(est_obj[k], counts[k], 4 * sd / sizes[k] + 1);
		printf("size %7zu: truth %12.0f bytes, mean estimate %12.0f (sd of mean %.0f)\n", sizes[k], truth,
		       est_bytes[k], sd);
	}
	UNIT_DONE();
}
