/*
 * lock_truth - contention with known waits and a known culprit.
 *
 * holder_loop holds mutex M for long critical sections (about 2 ms) and
 * releases it at long_unlock.  Two waiter functions, waiter_x and waiter_y,
 * take M for short critical sections and measure their own wait around
 * pthread_mutex_lock.  The block profile must report each waiter's total
 * wait (within 15%); the mutex profile must charge the waiters' delay to
 * long_unlock, the unlock that ended the critical sections they waited on.
 *
 * Prints JSON: {"waiter_x": ns, "waiter_y": ns, "lock_calls_x": n, ...}.
 * usage: lock_truth [seconds]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t M = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;
static volatile double sink;
static long long waited[2], calls[2];

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void spin_for(long long ns)
{
	long long end = now_ns() + ns;
	double x = 1;
	while (now_ns() < end)
		x = x * 1.0000001 + 1;
	sink = x;
}

__attribute__((noinline)) void long_unlock(void)
{
	pthread_mutex_unlock(&M);
	sink += 1;
}

__attribute__((noinline)) void short_unlock(void)
{
	pthread_mutex_unlock(&M);
	sink += 1;
}

static void *holder_loop(void *arg)
{
	(void)arg;
	while (!stop) {
		pthread_mutex_lock(&M);
		spin_for(2000000);
		long_unlock();
		struct timespec ts = {0, 300000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

#define WAITER(name, idx, pause_ns)                                   \
	__attribute__((noinline)) void name(void)                     \
	{                                                             \
		long long t0 = now_ns();                              \
		pthread_mutex_lock(&M);                               \
		waited[idx] += now_ns() - t0;                         \
		calls[idx]++;                                         \
		spin_for(20000);                                      \
		short_unlock();                                       \
		struct timespec ts = {0, pause_ns};                   \
		nanosleep(&ts, NULL);                                 \
	}

WAITER(waiter_x, 0, 500000)
WAITER(waiter_y, 1, 1500000)

static void *wx(void *arg)
{
	(void)arg;
	while (!stop)
		waiter_x();
	return NULL;
}

static void *wy(void *arg)
{
	(void)arg;
	while (!stop)
		waiter_y();
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	pthread_t h, x, y;
	pthread_create(&h, NULL, holder_loop, NULL);
	pthread_create(&x, NULL, wx, NULL);
	pthread_create(&y, NULL, wy, NULL);
	struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
	nanosleep(&ts, NULL);
	stop = 1;
	pthread_join(h, NULL);
	pthread_join(x, NULL);
	pthread_join(y, NULL);
	printf("{\"waiter_x\": %lld, \"waiter_y\": %lld, \"calls_x\": %lld, \"calls_y\": %lld}\n",
	       waited[0], waited[1], calls[0], calls[1]);
	return 0;
}
