/*
 * sigwait_only - the "all signals blocked, one sigwait thread" design.
 * main blocks every signal before starting threads (they inherit the
 * mask); workers burn CPU and allocate; the waiter thread takes signals
 * with sigwait and prints each one it receives.  SIGTERM ends the program
 * normally.  cprof's timer signal must never reach sigwait.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int stop;
static volatile double sink;

__attribute__((noinline)) void blocked_burn(void)
{
	double x = 0;
	while (!stop) {
		x = x * 1.0000001 + 1;
		if (((long)x & 0xfff) == 0)
			free(malloc(100));
	}
	sink = x;
}

static void *worker(void *arg)
{
	(void)arg;
	blocked_burn();
	return NULL;
}

static void *waiter(void *arg)
{
	sigset_t *all = arg;
	for (;;) {
		int sig = 0;
		if (sigwait(all, &sig) != 0)
			continue;
		printf("got %d\n", sig);
		fflush(stdout);
		if (sig == SIGTERM) {
			stop = 1;
			return NULL;
		}
	}
}

int main(void)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_t w[2], t;
	for (int i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, worker, NULL);
	pthread_create(&t, NULL, waiter, &all);
	printf("ready\n");
	fflush(stdout);
	pthread_join(t, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	printf("done\n");
	return 0;
}
