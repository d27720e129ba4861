/*
 * main_renamed - a single-threaded program whose main thread renames
 * itself with pthread_setname_np, then burns CPU in burn_renamed().
 *
 * usage: main_renamed [milliseconds]
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void burn_renamed(double secs)
{
	double end = now() + secs;
	while (now() < end)
		for (int i = 0; i < 10000; i++)
			sink += (unsigned long)i * i;
}

int main(int argc, char **argv)
{
	int ms = argc > 1 ? atoi(argv[1]) : 300;
	pthread_setname_np(pthread_self(), "renamed-main");
	burn_renamed(ms / 1000.0);
	return 0;
}
