/*
 * fork_storm - fork over and over while other threads create and destroy
 * threads, allocate and lock: every cprof lock (thread registry, the
 * pthread_create start blocks, stack table, heap and lock tables, arena)
 * is being taken by some thread when a fork happens.  Each child creates a
 * thread of its own, allocates, and exits 0; a child that inherits a held
 * lock hangs, which the parent sees as a child not done within 10 s.
 *
 * usage: fork_storm [forks] [churn threads]
 * Prints "forks N ok N hung N" and exits 0 only if every child exited 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long sink;

static void *short_lived(void *arg)
{
	char *p = malloc(64 + (size_t)(long)arg % 4096);
	p[0] = 1;
	sink += (unsigned char)p[0];
	free(p);
	return NULL;
}

static void *churn(void *arg)
{
	(void)arg;
	unsigned long i = 0;
	while (!stop) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_lived, (void *)i++) == 0)
			pthread_join(t, NULL);
		pthread_mutex_lock(&m);
		void *q = malloc(200000); /* a sample about every other time */
		sink += (unsigned long)q & 1;
		free(q);
		pthread_mutex_unlock(&m);
	}
	return NULL;
}

static void *child_thread(void *arg)
{
	(void)arg;
	free(malloc(1000));
	return NULL;
}

int main(int argc, char **argv)
{
	int forks = argc > 1 ? atoi(argv[1]) : 200;
	int nchurn = argc > 2 ? atoi(argv[2]) : 3;
	pthread_t th[16];
	int ok = 0, hung = 0;

	if (nchurn > 16)
		nchurn = 16;
	for (int i = 0; i < nchurn; i++)
		pthread_create(&th[i], NULL, churn, NULL);
	for (int i = 0; i < forks; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			pthread_t t;
			if (pthread_create(&t, NULL, child_thread, NULL) != 0)
				_exit(3);
			pthread_join(t, NULL);
			free(malloc(300000));
			exit(0);
		}
		if (pid < 0)
			continue;
		int status = -1, waited = 0;
		for (;;) {
			pid_t r = waitpid(pid, &status, WNOHANG);
			if (r == pid)
				break;
			if (++waited > 10000) { /* 10 s */
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				hung++;
				status = -1;
				break;
			}
			struct timespec ms = {0, 1000000};
			nanosleep(&ms, NULL);
		}
		if (status == 0)
			ok++;
	}
	stop = 1;
	for (int i = 0; i < nchurn; i++)
		pthread_join(th[i], NULL);
	printf("forks %d ok %d hung %d\n", forks, ok, hung);
	return ok == forks ? 0 : 1;
}
