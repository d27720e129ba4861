/*
 * lifecycle - the ways a profiled process starts children and ends.
 *
 * usage: lifecycle MODE [ARG]
 *   forkexec PROG    fork, child execs PROG (a profiled program), parent waits
 *   spawn PROG       posix_spawn PROG, wait
 *   system CMD       system(CMD)
 *   vfork PROG       vfork + execv PROG
 *   exec-static P    execv a statically linked program P
 *   thread-exit      exit() from a non-main thread while others allocate
 *   busy-exit        exit() from main while 4 threads allocate and lock
 *   signal-at-start  SIGUSR2 to itself first thing in main, then sleep 300 ms
 *                    (one dump on the signal, one at exit)
 *   alloc-forever    print "ready", then allocate and free in a loop on the
 *                    main thread until killed (SIGTERM left at default)
 *   underscore-exit  _exit(0) after allocating (nothing is written)
 *   abort            abort() after allocating
 * Each mode allocates at lifecycle_site first so profiles have content.
 */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static volatile int stop;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned char sink;

__attribute__((noinline)) void *lifecycle_site(size_t n)
{
	unsigned char *p = malloc(n);
	memset(p, 3, n);
	return p;
}

static void *churn(void *arg)
{
	(void)arg;
	while (!stop) {
		pthread_mutex_lock(&m);
		unsigned char *p = malloc(512);
		p[0] = 1;
		sink += p[0];
		free(p);
		pthread_mutex_unlock(&m);
	}
	return NULL;
}

static void *exit_from_thread(void *arg)
{
	(void)arg;
	usleep(100000);
	exit(7);
}

static int status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *arg = argc > 2 ? argv[2] : "/bin/true";
	if (!strcmp(mode, "signal-at-start"))
		kill(getpid(), SIGUSR2); /* first thing: cprof's writer may not have run yet */
	for (int i = 0; i < 200; i++)
		lifecycle_site(65536);
	fflush(stdout);
	if (!strcmp(mode, "forkexec")) {
		pid_t pid = fork();
		if (pid == 0) {
			execl(arg, arg, (char *)NULL);
			_exit(127);
		}
		int st;
		waitpid(pid, &st, 0);
		printf("child %d status %d\n", (int)pid, status_of(st));
	} else if (!strcmp(mode, "spawn")) {
		pid_t pid;
		char *av[] = {(char *)arg, NULL};
		if (posix_spawn(&pid, arg, NULL, NULL, av, environ) != 0)
			return 2;
		int st;
		waitpid(pid, &st, 0);
		printf("child %d status %d\n", (int)pid, status_of(st));
	} else if (!strcmp(mode, "system")) {
		int st = system(arg);
		printf("system status %d\n", status_of(st));
	} else if (!strcmp(mode, "vfork")) {
		pid_t pid = vfork();
		if (pid == 0) {
			char *av[] = {(char *)arg, NULL};
			execv(arg, av);
			_exit(127);
		}
		int st;
		waitpid(pid, &st, 0);
		printf("child %d status %d\n", (int)pid, status_of(st));
	} else if (!strcmp(mode, "exec-static")) {
		char *av[] = {(char *)arg, NULL};
		execv(arg, av);
		perror("execv");
		return 1;
	} else if (!strcmp(mode, "thread-exit")) {
		pthread_t th[3];
		pthread_create(&th[0], NULL, churn, NULL);
		pthread_create(&th[1], NULL, churn, NULL);
		pthread_create(&th[2], NULL, exit_from_thread, NULL);
		pause();
	} else if (!strcmp(mode, "busy-exit")) {
		pthread_t th[4];
		for (int i = 0; i < 4; i++)
			pthread_create(&th[i], NULL, churn, NULL);
		usleep(200000);
		exit(5);
	} else if (!strcmp(mode, "signal-at-start")) {
		/* signalled at the top of main */
		struct timespec left = {0, 300000000};
		while (nanosleep(&left, &left) != 0)
			;
	} else if (!strcmp(mode, "alloc-forever")) {
		printf("ready\n");
		fflush(stdout);
		for (unsigned i = 0;; i++) {
			unsigned char *p = lifecycle_site(16 + i % 512);
			sink += p[0];
			free(p);
		}
	} else if (!strcmp(mode, "underscore-exit")) {
		_exit(0);
	} else if (!strcmp(mode, "abort")) {
		abort();
	} else {
		fprintf(stderr, "unknown mode\n");
		return 2;
	}
	return 0;
}
