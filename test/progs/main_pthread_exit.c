/*
 * main_pthread_exit - main ends with pthread_exit while a worker runs; when
 * the worker returns, the process ends with status 0 (glibc calls exit(0)
 * for the last thread).  cprof's own threads must not keep it alive.
 * With "fork" the same happens in a child forked from the worker.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile double sink;

__attribute__((noinline)) void *worker_site(size_t n)
{
	char *p = malloc(n);
	memset(p, 1, n);
	return p;
}

static void *worker(void *arg)
{
	for (int i = 0; i < 100; i++)
		worker_site(10000);
	double x = 0;
	for (long i = 0; i < 100000000; i++)
		x = x * 1.0000001 + 1;
	sink = x;
	if (arg) {
		/* fork from this (non-main) thread; the child's only thread ends
		 * with pthread_exit */
		pid_t pid = fork();
		if (pid == 0)
			pthread_exit(NULL);
		int st;
		waitpid(pid, &st, 0);
		printf("child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		fflush(stdout);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;
	pthread_create(&th, NULL, worker, argc > 1 ? (void *)1 : NULL);
	printf("main leaves\n");
	fflush(stdout);
	pthread_exit(NULL);
}
