/*
 * fork_latency - how long fork() takes in a program whose profiles are
 * being read.
 *
 * Allocates through 4^7 = 16384 distinct call stacks (kept live), so a
 * heap profile has that many samples to symbolize; prints "ready"; then
 * for `seconds` (argv[1]) forks children that exit at once, timing each
 * fork() call in the parent; prints "forks N median_us M p90_us P max_us X".
 * With argv[2] = K, K of the children (one in 20 forks, from the 10th) exit with exit(),
 * not _exit(), so each writes its own profiles; they free the 16384
 * allocations first, so what remains in use is the children's "child_leak".
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEPTH 7

static void *keep[1 << (2 * DEPTH)];

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void *walk(unsigned path, int level);

__attribute__((noinline)) static void *step_a(unsigned p, int l) { void *r = walk(p, l); __asm__ volatile(""); return r; }
__attribute__((noinline)) static void *step_b(unsigned p, int l) { void *r = walk(p, l); __asm__ volatile(""); return r; }
__attribute__((noinline)) static void *step_c(unsigned p, int l) { void *r = walk(p, l); __asm__ volatile(""); return r; }
__attribute__((noinline)) static void *step_d(unsigned p, int l) { void *r = walk(p, l); __asm__ volatile(""); return r; }

/* One of four functions per level, chosen by two bits of path. */
__attribute__((noinline)) static void *walk(unsigned path, int level)
{
	if (level == DEPTH)
		return malloc(64);
	switch ((path >> (2 * level)) & 3) {
	case 0: return step_a(path, level + 1);
	case 1: return step_b(path, level + 1);
	case 2: return step_c(path, level + 1);
	default: return step_d(path, level + 1);
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

__attribute__((noinline)) static void child_leak(void)
{
	static void *p;
	p = malloc(4096);
	__asm__ volatile("" : : "r"(p) : "memory");
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	int exits = argc > 2 ? atoi(argv[2]) : 0;
	for (unsigned i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		keep[i] = walk(i, 0);
	printf("ready\n");
	fflush(stdout);

	static double lat[100000];
	size_t n = 0;
	double end = now_us() + seconds * 1e6;
	while (now_us() < end && n < sizeof(lat) / sizeof(lat[0])) {
		double t0 = now_us();
		bool full = exits > 0 && n % 20 == 10;
		pid_t pid = fork();
		if (pid == 0 && full) {
			for (unsigned i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
				free(keep[i]);
			child_leak();
			exit(0);
		}
		if (pid == 0)
			_exit(0);
		exits -= full;
		lat[n++] = now_us() - t0;
		if (pid > 0)
			waitpid(pid, NULL, 0);
		usleep(2000);
	}
	qsort(lat, n, sizeof(lat[0]), cmp);
	printf("forks %zu median_us %.0f p90_us %.0f max_us %.0f\n", n, n ? lat[n / 2] : 0,
	       n ? lat[n * 9 / 10] : 0, n ? lat[n - 1] : 0);
	for (unsigned i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		free(keep[i]);
	return 0;
}
