/*
 * eintr - blocking system calls must not start failing with EINTR because
 * of the profiler.  Threads loop on nanosleep, poll, epoll_wait, select
 * and a blocking pipe read (fed by a writer) while another thread burns
 * CPU; each counts EINTR failures.  Prints "eintr N calls M".
 *
 * usage: eintr [seconds]
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
static long eintr_count, calls;
static volatile double sink;
static int pipefd[2];

static void count(int r)
{
	__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED);
	if (r < 0 && errno == EINTR)
		__atomic_fetch_add(&eintr_count, 1, __ATOMIC_RELAXED);
}

static void *sleeper(void *arg)
{
	(void)arg;
	while (!stop) {
		struct timespec ts = {0, 200000};
		count(nanosleep(&ts, NULL));
	}
	return NULL;
}

static void *poller(void *arg)
{
	(void)arg;
	while (!stop)
		count(poll(NULL, 0, 1));
	return NULL;
}

static void *epoller(void *arg)
{
	int ep = epoll_create1(0);
	struct epoll_event ev;
	(void)arg;
	while (!stop)
		count(epoll_wait(ep, &ev, 1, 1));
	close(ep);
	return NULL;
}

static void *selecter(void *arg)
{
	(void)arg;
	while (!stop) {
		struct timeval tv = {0, 500};
		count(select(0, NULL, NULL, NULL, &tv));
	}
	return NULL;
}

static void *reader(void *arg)
{
	char c;
	(void)arg;
	while (!stop) {
		ssize_t r = read(pipefd[0], &c, 1);
		count(r < 0 ? -1 : 0);
	}
	return NULL;
}

static void *writer(void *arg)
{
	(void)arg;
	while (!stop) {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
		if (write(pipefd[1], "x", 1) < 0)
			break;
	}
	if (write(pipefd[1], "x", 1) < 0)
		return NULL;
	return NULL;
}

static void *burner(void *arg)
{
	double x = 0;
	(void)arg;
	while (!stop)
		x = x * 1.000001 + 1;
	sink = x;
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	pthread_t th[7];
	if (pipe(pipefd) != 0)
		return 2;
	void *(*fns[7])(void *) = {sleeper, poller, epoller, selecter, reader, writer, burner};
	for (int i = 0; i < 7; i++)
		pthread_create(&th[i], NULL, fns[i], NULL);
	struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	stop = 1;
	for (int i = 0; i < 7; i++)
		pthread_join(th[i], NULL);
	printf("eintr %ld calls %ld\n", eintr_count, calls);
	return eintr_count != 0;
}
