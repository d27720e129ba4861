/*
 * blocked_workers - threads that run with every signal blocked, as xz's
 * workers do, so no profiling signal can interrupt them.
 *
 * Two "blocked-N" workers are created with every signal blocked (main
 * blocks them all around pthread_create, which the new thread inherits,
 * then restores its own mask) and burn `ms` milliseconds of their own CPU
 * time in blocked_burn.  A "toggle" worker blocks every signal itself,
 * burns `ms` in blocked_burn, unblocks them and burns `ms` more in
 * open_burn.  Each reads its own CPU clock around the blocked part.
 *
 * Prints JSON: {"blocked_ns": CPU time spent with signals blocked, all
 * workers; "open_ns": the toggle worker's time with them unblocked}.
 * usage: blocked_workers [ms]
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int ms = 500;
static long long blocked_ns[3], open_ns;
static volatile double sink;

static long long thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void burn_until(long long until)
{
	double x = sink;
	do {
		for (int i = 0; i < 200000; i++)
			x = x * 1.0000001 + 0.5;
	} while (thread_cpu() < until);
	sink = x;
}

__attribute__((noinline)) void blocked_burn(void)
{
	burn_until(thread_cpu() + ms * 1000000LL);
}

__attribute__((noinline)) void open_burn(void)
{
	burn_until(thread_cpu() + ms * 1000000LL);
}

static void *blocked_worker(void *arg)
{
	long i = (long)arg;
	char name[16];
	snprintf(name, sizeof(name), "blocked-%ld", i);
	pthread_setname_np(pthread_self(), name);
	long long t0 = thread_cpu();
	blocked_burn();
	blocked_ns[i] = thread_cpu() - t0;
	return NULL;
}

static void *toggle_worker(void *arg)
{
	sigset_t all, old;
	(void)arg;
	pthread_setname_np(pthread_self(), "toggle");
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	long long t0 = thread_cpu();
	blocked_burn();
	blocked_ns[2] = thread_cpu() - t0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	t0 = thread_cpu();
	open_burn();
	open_ns = thread_cpu() - t0;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[3];
	sigset_t all, old;
	if (argc > 1)
		ms = atoi(argv[1]);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_create(&th[0], NULL, blocked_worker, (void *)0L);
	pthread_create(&th[1], NULL, blocked_worker, (void *)1L);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_create(&th[2], NULL, toggle_worker, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	printf("{\"blocked_ns\": %lld, \"open_ns\": %lld}\n", blocked_ns[0] + blocked_ns[1] + blocked_ns[2],
	       open_ns);
	return 0;
}
