/*
 * http_server_demo - a long-running program with something in every
 * profile, for the /debug/pprof tests (CPROF_HTTP).
 *
 *  - leak_site: the main thread leaks 64 KiB every 10 ms (up to 128 MiB,
 *    never touched, so it costs address space rather than memory);
 *  - burn_cpu: one thread spins about half of the time;
 *  - hold_lock / wait_lock: two threads contend on one mutex (mutex and
 *    block profiles);
 *  - spawn_site: a short-lived thread is created every 200 ms
 *    (threadcreate).
 *
 * The main thread prints "ready", then "tick N" every 100 ms, so a test can
 * see the program keep doing its own work.  With "fork" as the second
 * argument it then forks (300 ms after "ready") a child that leaves the
 * process group and idles, allocating a little, for as long as the parent
 * runs plus 5 s; the parent prints "child PID".  Exits 0
 * with "done" on SIGTERM, SIGINT or after the given number of seconds.
 *
 * usage: http_server_demo [seconds] [fork]
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static volatile double sink;
static pthread_mutex_t M = PTHREAD_MUTEX_INITIALIZER;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

__attribute__((noinline)) void *leak_site(size_t n)
{
	return malloc(n);
}

__attribute__((noinline)) void burn_cpu(double seconds)
{
	double end = now_s() + seconds, x = 1;
	while (now_s() < end)
		x = x * 1.0000001 + 1;
	sink = x;
}

static void *burner(void *arg)
{
	(void)arg;
	while (!stop) {
		burn_cpu(0.02);
		sleep_ms(20);
	}
	return NULL;
}

__attribute__((noinline)) void hold_lock(void)
{
	pthread_mutex_lock(&M);
	burn_cpu(0.002);
	pthread_mutex_unlock(&M);
}

__attribute__((noinline)) void wait_lock(void)
{
	pthread_mutex_lock(&M);
	sink += 1;
	pthread_mutex_unlock(&M);
}

static void *holder(void *arg)
{
	(void)arg;
	while (!stop) {
		hold_lock();
		sleep_ms(1);
	}
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	while (!stop) {
		wait_lock();
		sleep_ms(1);
	}
	return NULL;
}

static void *short_lived(void *arg)
{
	(void)arg;
	sink += 1;
	return NULL;
}

__attribute__((noinline)) void spawn_site(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, short_lived, NULL) == 0)
		pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 60;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	pthread_t th[3];
	pthread_create(&th[0], NULL, burner, NULL);
	pthread_create(&th[1], NULL, holder, NULL);
	pthread_create(&th[2], NULL, waiter, NULL);
	printf("ready\n");
	fflush(stdout);
	if (argc > 2 && strcmp(argv[2], "fork") == 0) {
		/* Forked from a multi-threaded process with the server up; the
		 * child leaves the process group so it outlives the parent's. */
		sleep_ms(300);
		pid_t pid = fork();
		if (pid == 0) {
			setsid();
			double end = now_s() + seconds + 5;
			while (now_s() < end) {
				free(leak_site(1000));
				sleep_ms(50);
			}
			_exit(0);
		}
		printf("child %d\n", (int)pid);
		fflush(stdout);
	}

	double t0 = now_s(), last_tick = t0, last_spawn = t0;
	size_t leaked = 0;
	unsigned long ticks = 0;
	while (!stop && now_s() - t0 < seconds) {
		if (leaked < (128u << 20)) {
			leak_site(64 * 1024);
			leaked += 64 * 1024;
		}
		double t = now_s();
		if (t - last_spawn >= 0.2) {
			spawn_site();
			last_spawn = t;
		}
		if (t - last_tick >= 0.1) {
			printf("tick %lu\n", ++ticks);
			fflush(stdout);
			last_tick = t;
		}
		sleep_ms(10);
	}
	stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	printf("done leaked=%zu ticks=%lu\n", leaked, ticks);
	return 0;
}
