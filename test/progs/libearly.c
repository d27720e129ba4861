/*
 * libearly.so - a library whose constructor allocates and starts a thread
 * that burns CPU (in early_burn) before cprof's constructor has run.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static volatile double sink;
volatile int early_stop;
void *early_buf;

__attribute__((noinline)) void early_burn(void)
{
	double x = 0;
	while (!early_stop)
		x = x * 1.0000001 + 1;
	sink = x;
}

static void *early_thread(void *arg)
{
	(void)arg;
	early_burn();
	return NULL;
}

__attribute__((constructor)) static void early_init(void)
{
	pthread_t th;
	early_buf = malloc(123456);
	memset(early_buf, 1, 123456);
	pthread_create(&th, NULL, early_thread, NULL);
	pthread_detach(th);
}
