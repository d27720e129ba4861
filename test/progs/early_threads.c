/*
 * early_threads - linked with libearly.so, whose constructor starts a
 * CPU-burning thread before cprof initialises; main starts another one
 * (late_burn).  Both must appear in the CPU profile.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern volatile int early_stop;
static volatile int late_stop;
static volatile double sink;

__attribute__((noinline)) void late_burn(void)
{
	double x = 0;
	while (!late_stop)
		x = x * 1.0000001 + 1;
	sink = x;
}

static void *late_thread(void *arg)
{
	(void)arg;
	late_burn();
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.5;
	pthread_t th;
	pthread_create(&th, NULL, late_thread, NULL);
	struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
	nanosleep(&ts, NULL);
	late_stop = 1;
	early_stop = 1;
	pthread_join(th, NULL);
	printf("done\n");
	return 0;
}
