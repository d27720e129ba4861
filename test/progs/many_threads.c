/*
 * many_threads - 10,000 short-lived threads (in waves of 50), each
 * allocating and taking a lock; afterwards the program must still be able
 * to create a POSIX timer of its own (cprof must not leak its per-thread
 * CPU timers, which count against RLIMIT_SIGPENDING).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long total;

__attribute__((noinline)) void *short_life(void *arg)
{
	char *p = malloc(1000 + (size_t)arg % 100);
	memset(p, 1, 1000);
	pthread_mutex_lock(&m);
	total += p[0];
	pthread_mutex_unlock(&m);
	free(p);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000;
	for (int i = 0; i < n; i += 50) {
		pthread_t th[50];
		for (int k = 0; k < 50; k++)
			if (pthread_create(&th[k], NULL, short_life, (void *)(long)(i + k)) != 0)
				return 2;
		for (int k = 0; k < 50; k++)
			pthread_join(th[k], NULL);
	}
	timer_t t[100];
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_NONE;
	for (int i = 0; i < 100; i++)
		if (timer_create(CLOCK_MONOTONIC, &sev, &t[i]) != 0) {
			perror("timer_create");
			return 3;
		}
	printf("threads %ld\n", total);
	return total != n;
}
