/*
 * fd_juggle - a single-threaded program that re-creates its descriptor 2
 * over and over, as a shell does for `2>&1`: close(2), then dup2 onto 2.
 * Alone in its process, it may assume that no other thread allocates a
 * descriptor in between.  A profiler thread that opens a file at that
 * moment gets descriptor 2: the program's dup2 then fails with EBUSY (the
 * slot is being filled) or silently replaces the profiler's file, which
 * the profiler then reads and closes under the program.
 *
 * usage: fd_juggle [seconds]
 * Prints "juggles N failures F"; exits 0 only if every close and dup2
 * succeeded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.5;
	int keep = dup(2);
	long n = 0, bad = 0, busy = 0;
	double end = now() + secs;

	if (keep < 0)
		return 2;
	while (now() < end) {
		for (int i = 0; i < 1000; i++, n++) {
			if (close(2) != 0)
				bad++;
			int r = dup2(keep, 2);
			if (r != 2) {
				bad++;
				if (r < 0 && errno == EBUSY)
					busy++;
				dup2(keep, 2);
			}
		}
	}
	printf("juggles %ld failures %ld ebusy %ld\n", n, bad, busy);
	return bad ? 1 : 0;
}
