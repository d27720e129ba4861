/*
 * demo_locks - lock contention: four workers update a shared counter
 * table under one global mutex, and one of them (flush_stats) holds it
 * while doing slow work.  The block profile shows where workers wait
 * (record_hit); the mutex profile blames the unlock in flush_stats.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static long table[1024];
static volatile int stop;

static void busy_us(long us)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

__attribute__((noinline)) static void record_hit(int k)
{
	pthread_mutex_lock(&table_lock);
	table[k & 1023]++;
	pthread_mutex_unlock(&table_lock);
}

__attribute__((noinline)) static void flush_stats(void)
{
	pthread_mutex_lock(&table_lock);
	busy_us(3000); /* "writing to disk" while holding the lock */
	pthread_mutex_unlock(&table_lock);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	for (int i = 0; !stop; i++) {
		record_hit((int)(i + id));
		busy_us(50);
	}
	return NULL;
}

static void *flusher(void *arg)
{
	(void)arg;
	while (!stop) {
		flush_stats();
		busy_us(1000);
	}
	return NULL;
}

int main(void)
{
	pthread_t th[5];
	for (long i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	pthread_create(&th[4], NULL, flusher, NULL);
	struct timespec ts = {2, 0};
	nanosleep(&ts, NULL);
	stop = 1;
	for (int i = 0; i < 5; i++)
		pthread_join(th[i], NULL);
	printf("done\n");
	return 0;
}
