/*
 * exit_dumps - dump requests arriving while the process exits.
 *
 * Two threads allocate and lock, a third sends SIGUSR2 to the process
 * every 200 us; after 200 ms main sends one more and calls exit(6).
 * libexitwatch.so (linked) reports whether any profile file appeared after
 * cprof's exit dump.
 *
 * usage: exit_dumps
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void exitwatch_arm(void);

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned char sink;

__attribute__((noinline)) void exit_dumps_site(size_t n)
{
	unsigned char *p = malloc(n);
	memset(p, 1, n);
	sink += p[0];
}

static void *churn(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&m);
		unsigned char *p = malloc(512);
		p[0] = 1;
		sink += p[0];
		free(p);
		pthread_mutex_unlock(&m);
	}
	return NULL;
}

static void *request_dumps(void *arg)
{
	(void)arg;
	for (;;) {
		kill(getpid(), SIGUSR2);
		usleep(200);
	}
	return NULL;
}

int main(void)
{
	pthread_t th[3];
	for (int i = 0; i < 100; i++)
		exit_dumps_site(65536);
	exitwatch_arm();
	pthread_create(&th[0], NULL, churn, NULL);
	pthread_create(&th[1], NULL, churn, NULL);
	pthread_create(&th[2], NULL, request_dumps, NULL);
	struct timespec left = {0, 200000000};
	while (nanosleep(&left, &left) != 0)
		; /* the dump signal interrupts it: sleep the rest */
	kill(getpid(), SIGUSR2); /* one more, as exit() begins */
	exit(6);
}
