/*
 * runtime.c - the process-wide state (runtime.h) and the clocks.
 *
 * `rt` is written by the constructor and the fork child handler
 * (control/init.c) and read everywhere; the clocks are plain
 * clock_gettime and async-signal-safe.
 */
#include <time.h>

#include "runtime.h"

struct cprof_runtime rt;

int64_t cprof_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cprof_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
