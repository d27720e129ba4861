/*
 * label_work.h - the work of the label ground-truth programs (otel_ctx.c,
 * custom_labels.c): CPU burnt in calibrated units and memory kept in
 * known amounts, through functions of known names.
 */
#ifndef LABEL_WORK_H
#define LABEL_WORK_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK (32 * 1024)

static volatile double sink;
static long unit_iters;

/* CPU time, for calibrating the work unit on a busy machine. */
static long long cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) void burn(int units)
{
	double x = sink;
	for (long i = 0; i < units * unit_iters; i++)
		x = x * 1.0000001 + 1;
	sink = x;
}

__attribute__((noinline)) void keep(int mib)
{
	for (int i = 0; i < mib * 1024 * 1024 / BLOCK; i++)
		memset(malloc(BLOCK), 1, BLOCK);
}

/* One unit: about 100 ms of this thread's CPU time. */
static void calibrate(void)
{
	long long t0 = cpu_ns();
	unit_iters = 1000000;
	burn(1);
	long long dt = cpu_ns() - t0;
	unit_iters = (long)(unit_iters * (100e6 / (dt > 0 ? dt : 1)));
}

#endif
