/*
 * many_stacks - DEPTH levels of two-way calls end in 2^DEPTH distinct
 * allocation stacks, each allocation kept live: with CPROF_HEAP_RATE=1 a
 * heap profile that takes seconds to encode (2^20 stacks: about 2.5 s on a
 * 2-core VM), for tests of what waits for a dump to finish.
 *
 * usage: many_stacks [DEPTH [SECONDS]]; prints "ready" once every
 * allocation is made, then lives SECONDS (a signal does not shorten it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void **keep;
static unsigned long nkeep;

__attribute__((noinline)) static void step(unsigned depth, unsigned long path);

__attribute__((noinline)) static void left(unsigned depth, unsigned long path)
{
	step(depth, path << 1);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void right(unsigned depth, unsigned long path)
{
	step(depth, path << 1 | 1);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void step(unsigned depth, unsigned long path)
{
	if (!depth) {
		keep[nkeep++] = malloc(16);
		return;
	}
	left(depth - 1, path);
	right(depth - 1, path);
}

int main(int argc, char **argv)
{
	unsigned depth = argc > 1 ? (unsigned)atoi(argv[1]) : 20;
	int seconds = argc > 2 ? atoi(argv[2]) : 60;
	if (depth > 24)
		depth = 24;
	keep = calloc(1ul << depth, sizeof(void *));
	step(depth, 0);
	printf("ready\n");
	fflush(stdout);
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
		;
	return 0;
}
