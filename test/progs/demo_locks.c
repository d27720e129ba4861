/*
 * demo_locks - lock contention: four workers update a shared counter
 * table under one global mutex, and a flusher (flush_stats) holds it
 * while writing out slowly.  The block profile shows where workers wait
 * (record_hit); the mutex profile blames the unlock in flush_stats.
 *
 * Every thread sleeps rather than spins (the slow write is a 3 ms sleep
 * under the lock, like blocking I/O), so the picture does not depend on
 * how many cores are free: with spinning threads on a busy machine, a
 * worker preempted inside record_hit would make the others wait on it.
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static long table[1024];
static volatile int stop;

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
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
	sleep_us(3000); /* "writing to disk" while holding the lock */
	pthread_mutex_unlock(&table_lock);
}

static void *worker(void *arg)
{
	long id = (long)arg;
	for (int i = 0; !stop; i++) {
		record_hit((int)(i + id));
		sleep_us(50);
	}
	return NULL;
}

static void *flusher(void *arg)
{
	(void)arg;
	while (!stop) {
		flush_stats();
		sleep_us(1000);
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
