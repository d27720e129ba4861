/*
 * unit.h - assertions for cprof's unit tests.
 *
 * A unit test is one C file that #includes the module sources it tests
 * (one translation unit, nothing interposed) and exits 0 on success, 77 to
 * skip, anything else on failure.  CHECK_* print both operands.
 */
#ifndef CPROF_UNIT_H
#define CPROF_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failures;

#define CHECK(cond)                                                             \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__,  \
				__LINE__, #cond);                               \
			unit_failures++;                                        \
		}                                                               \
	} while (0)

#define CHECK_EQ(a, b)                                                          \
	do {                                                                    \
		long long a_ = (long long)(a), b_ = (long long)(b);             \
		if (a_ != b_) {                                                 \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld vs %lld\n", \
				__FILE__, __LINE__, #a, #b, a_, b_);            \
			unit_failures++;                                        \
		}                                                               \
	} while (0)

#define CHECK_STR(a, b)                                                         \
	do {                                                                    \
		const char *a_ = (a), *b_ = (b);                                \
		if (strcmp(a_, b_) != 0) {                                      \
			fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" vs \"%s\"\n", \
				__FILE__, __LINE__, #a, #b, a_, b_);            \
			unit_failures++;                                        \
		}                                                               \
	} while (0)

#define CHECK_NEAR(a, b, tol)                                                   \
	do {                                                                    \
		double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);  \
		if (!(a_ >= b_ - t_ && a_ <= b_ + t_)) {                        \
			fprintf(stderr, "%s:%d: %s ~ %s failed: %g vs %g (tol %g)\n", \
				__FILE__, __LINE__, #a, #b, a_, b_, t_);        \
			unit_failures++;                                        \
		}                                                               \
	} while (0)

#define UNIT_DONE()                                                             \
	do {                                                                    \
		if (unit_failures)                                              \
			fprintf(stderr, "%d check(s) failed\n", unit_failures); \
		return unit_failures ? 1 : 0;                                   \
	} while (0)

#endif
