/*
 * fd_games - a program whose own descriptor use must win over the
 * profiler's HTTP server (CPROF_HTTP tests).
 *
 *  hog LIMIT SECONDS: prints "waiting" and waits for SIGUSR1 (the test
 *    sends it once the profiler's server is up, so that the server's own
 *    descriptors exist first), lowers RLIMIT_NOFILE to LIMIT, opens /dev/null until
 *    EMFILE, closes 6 of them and prints "ready".  Then, every 2 ms, it
 *    opens 5 descriptors (all must succeed: they are among the ones it
 *    left itself; the sixth is for cprof's writer thread, which reads
 *    /proc/self/stat every 100 ms) and closes them again.  SIGUSR1 releases half of the hoard
 *    ("released").  At the end (SIGTERM or SECONDS) it prints
 *    "failures N" and "done", and exits 0.
 *
 *  closefrom SECONDS: prints "waiting", and on SIGUSR1 (the test sends
 *    it once the profiler's server is up and busy), as a daemon does at
 *    start-up, closes every
 *    descriptor from 3 up (closefrom(3), the profiler's included), then
 *    opens its own listening socket on 127.0.0.1 and an epoll instance
 *    (which take the lowest numbers, the profiler's old ones), prints
 *    "listening PORT" and answers each connection with "hello\n" until
 *    SIGTERM or SECONDS; prints "served N" and "done", exits 0.
 *
 * usage: fd_games hog LIMIT SECONDS | fd_games closefrom SECONDS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop, usr1;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int hog(long limit, double seconds)
{
	struct rlimit rl;
	static int fds[1 << 16];
	int n = 0, failures = 0;

	printf("waiting\n");
	fflush(stdout);
	while (!usr1 && !stop) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = (rlim_t)limit;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		perror("setrlimit");
		return 1;
	}
	while (n < (int)(sizeof(fds) / sizeof(fds[0]))) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	for (int i = 0; i < 6 && n > 0; i++)
		close(fds[--n]);
	printf("ready (holding %d)\n", n);
	fflush(stdout);
	double end = now_s() + seconds;
	while (!stop && now_s() < end) {
		int mine[5];
		for (int i = 0; i < 5; i++) {
			mine[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (mine[i] < 0)
				failures++;
		}
		for (int i = 0; i < 5; i++)
			if (mine[i] >= 0)
				close(mine[i]);
		if (usr1 >= 2) {
			usr1 = 0;
			while (n > limit / 2)
				close(fds[--n]);
			printf("released\n");
			fflush(stdout);
		}
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	printf("failures %d\ndone\n", failures);
	return 0;
}

static int reuse(double seconds)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int served = 0, one = 1;

	printf("waiting\n");
	fflush(stdout);
	while (!usr1 && !stop) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	closefrom(3);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || ep < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 16) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &len) != 0) {
		perror("listen");
		return 1;
	}
	/* A pointer-sized value that means nothing to anyone else. */
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x5a5a5a5a5a5a5a5aull};
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	printf("listening %d (fds %d %d)\n", ntohs(a.sin_port), ls, ep);
	fflush(stdout);
	double end = now_s() + seconds;
	while (!stop && now_s() < end) {
		struct epoll_event got;
		int r = epoll_wait(ep, &got, 1, 50);
		if (r <= 0)
			continue;
		if (got.data.u64 != 0x5a5a5a5a5a5a5a5aull) {
			printf("foreign epoll data\n");
			return 2;
		}
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (write(c, "hello\n", 6) == 6)
			served++;
		close(c);
	}
	printf("served %d\ndone\n", served);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	signal(SIGUSR1, on_usr1);
	if (argc == 4 && strcmp(argv[1], "hog") == 0)
		return hog(atol(argv[2]), atof(argv[3]));
	if (argc == 3 && strcmp(argv[1], "closefrom") == 0)
		return reuse(atof(argv[2]));
	fprintf(stderr, "usage: fd_games hog LIMIT SECONDS | fd_games closefrom SECONDS\n");
	return 2;
}
