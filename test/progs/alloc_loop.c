/*
 * alloc_loop - a long-running allocating program for signal and lifecycle
 * tests.  N threads allocate and free mixed sizes; the main thread keeps a
 * growing "leak" (leak_site) until told to stop.  It prints "ready" once
 * the threads have churned some 40 MB (so a heap profile at the default
 * rate has samples, and a dump set its heappeak file) and exits normally (exit status 0, profiles written) on SIGTERM,
 * SIGINT or after the given number of seconds.
 *
 * usage: alloc_loop [seconds] [threads] [default-signals]
 * With "default-signals" it leaves SIGTERM and SIGINT at their default
 * action (death) instead of handling them.
 */
#include <pthread.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static volatile unsigned char sink;
static unsigned long churned; /* allocations made by the threads */

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

__attribute__((noinline)) void *leak_site(size_t n)
{
	unsigned char *p = malloc(n);
	memset(p, 7, n);
	return p;
}

__attribute__((noinline)) void churn_site(unsigned seed)
{
	size_t n = 16 + (seed * 2654435761u) % 8192;
	unsigned char *p = malloc(n);
	p[0] = (unsigned char)seed;
	sink += p[0];
	free(p);
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	while (!stop) {
		churn_site(seed++);
		__atomic_fetch_add(&churned, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 30;
	int n = argc > 2 ? atoi(argv[2]) : 2;
	pthread_t th[64];
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	if (!(argc > 3 && strcmp(argv[3], "default-signals") == 0)) {
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	for (int i = 0; i < n && i < 64; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i * 1000));
	for (int w = 0; n > 0 && w < 2000 && __atomic_load_n(&churned, __ATOMIC_RELAXED) < 10000; w++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	printf("ready\n");
	fflush(stdout);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t leaked = 0;
	while (!stop) {
		if (leaked < (256u << 20)) {
			leak_site(64 * 1024);
			leaked += 64 * 1024;
		}
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > seconds)
			stop = 1;
	}
	for (int i = 0; i < n && i < 64; i++)
		pthread_join(th[i], NULL);
	printf("done leaked=%zu\n", leaked);
	return 0;
}
