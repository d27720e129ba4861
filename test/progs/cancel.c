/*
 * cancel - threads cancelled (forced unwinding) while blocked in wrapped
 * calls: pthread_cond_wait, sem_wait, pthread_join, nanosleep; and
 * asynchronous cancellation of a thread spinning and allocating.  Each
 * join must report PTHREAD_CANCELED; prints "cancelled N".
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static pthread_t sleeper_th;

static void unlock_mutex(void *arg)
{
	pthread_mutex_unlock(arg);
}

static void *cond_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	pthread_cleanup_push(unlock_mutex, &m);
	for (;;)
		pthread_cond_wait(&c, &m);
	pthread_cleanup_pop(1);
	return NULL;
}

static void *sem_waiter(void *arg)
{
	(void)arg;
	for (;;)
		sem_wait(&sem);
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void *joiner(void *arg)
{
	(void)arg;
	pthread_join(sleeper_th, NULL);
	return NULL;
}

static volatile unsigned char sink;

static void *spinner(void *arg)
{
	(void)arg;
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
	for (;;)
		sink += 1;
	return NULL;
}

int main(void)
{
	int cancelled = 0;
	sem_init(&sem, 0, 0);
	for (int round = 0; round < 20; round++) {
		pthread_t th[4];
		pthread_create(&sleeper_th, NULL, sleeper, NULL);
		pthread_create(&th[0], NULL, cond_waiter, NULL);
		pthread_create(&th[1], NULL, sem_waiter, NULL);
		pthread_create(&th[2], NULL, joiner, NULL);
		pthread_create(&th[3], NULL, spinner, NULL);
		usleep(20000);
		for (int i = 0; i < 4; i++)
			pthread_cancel(th[i]);
		for (int i = 0; i < 4; i++) {
			void *ret;
			pthread_join(th[i], &ret);
			cancelled += ret == PTHREAD_CANCELED;
		}
		pthread_cancel(sleeper_th);
		void *ret;
		pthread_join(sleeper_th, &ret);
		cancelled += ret == PTHREAD_CANCELED;
	}
	printf("cancelled %d\n", cancelled);
	return cancelled != 100;
}
