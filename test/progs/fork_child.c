/*
 * fork_child - fork without exec from a multi-threaded program while other
 * threads allocate and lock.  The child allocates at child_site, exits
 * normally and must write its own profiles under its own pid; the parent
 * allocates at parent_site.  Prints "parent PID child PID status S".
 *
 * usage: fork_child [forks]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned char sink;

static void *busy(void *arg)
{
	(void)arg;
	while (!stop) {
		pthread_mutex_lock(&m);
		unsigned char *p = malloc(1000);
		p[0] = 1;
		sink += p[0];
		free(p);
		pthread_mutex_unlock(&m);
	}
	return NULL;
}

__attribute__((noinline)) void *child_site(size_t n)
{
	unsigned char *p = malloc(n);
	memset(p, 1, n);
	return p;
}

__attribute__((noinline)) void *parent_site(size_t n)
{
	unsigned char *p = malloc(n);
	memset(p, 2, n);
	return p;
}

int main(int argc, char **argv)
{
	int forks = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, busy, NULL);
	for (int i = 0; i < 200; i++)
		parent_site(65536);
	int bad = 0;
	for (int k = 0; k < forks; k++) {
		fflush(stdout); /* or the child's exit() flushes our buffered lines again */
		pid_t pid = fork();
		if (pid == 0) {
			for (int i = 0; i < 300; i++)
				child_site(65536);
			exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		printf("parent %d child %d status %d\n", (int)getpid(), (int)pid,
		       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	stop = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	return bad;
}
