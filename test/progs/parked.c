/*
 * parked - threads parked in blocking calls, each timing its call, while
 * someone looks at them (the threads profile must never wake them).
 *
 * One thread per call: sleep, nanosleep, epoll_wait, poll, select, read
 * (a pipe nobody writes until the end), pthread_cond_wait, sigtimedwait,
 * pause, and read through syscall() (a call cprof does not wrap).  Each is
 * reached through its own function park_in_<call>, so a profile can show
 * the blocking function with its caller below it.  The timed calls time
 * out after SECONDS; the others are ended by the main thread at the same
 * deadline (a byte in the pipe, the condition signalled, SIGUSR1 for
 * pause).  A busy thread spins in busy_loop meanwhile.
 *
 * The dump signal (SIGUSR2) is blocked in every thread but the main one,
 * which waits with clock_nanosleep(TIMER_ABSTIME) and retries on EINTR:
 * the kernel hands a process-directed signal to a thread that does not
 * block it, and that thread's call is interrupted as it would be by any
 * signal, cprof or not.
 *
 * Prints "ready" once every thread is about to call, then at the end one
 * line per call:
 *   call NAME ret R errno E took T want W
 * (seconds; W is how long the call should have taken), then "done".
 *
 * usage: parked [SECONDS]   (default 6)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int seconds = 6;
static double start, deadline;
static int read_pipe[2], raw_pipe[2], idle_pipe[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_flag;
static volatile int busy_stop;
static volatile double sink;
static int about_to_call;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct result {
	const char *name;
	long ret;
	int err;
	double took, want;
};

static void arrive(void)
{
	__atomic_fetch_add(&about_to_call, 1, __ATOMIC_SEQ_CST);
}

#define TIMED(res, call, want_)                   \
	do {                                      \
		arrive();                         \
		double t0_ = now();               \
		errno = 0;                        \
		(res)->ret = (long)(call);        \
		(res)->err = errno;               \
		(res)->took = now() - t0_;        \
		(res)->want = (want_) < 0 ? deadline - t0_ : (want_); \
	} while (0)

__attribute__((noinline)) void park_in_sleep(struct result *r)
{
	TIMED(r, sleep(seconds), seconds);
}

__attribute__((noinline)) void park_in_nanosleep(struct result *r)
{
	struct timespec ts = {seconds, 0}, rem;
	TIMED(r, nanosleep(&ts, &rem), seconds);
}

__attribute__((noinline)) void park_in_epoll_wait(struct result *r)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;
	TIMED(r, epoll_wait(ep, &ev, 1, seconds * 1000), seconds);
	close(ep);
}

__attribute__((noinline)) void park_in_poll(struct result *r)
{
	struct pollfd p = {.fd = idle_pipe[0], .events = POLLIN};
	TIMED(r, poll(&p, 1, seconds * 1000), seconds);
}

__attribute__((noinline)) void park_in_select(struct result *r)
{
	fd_set set;
	struct timeval tv = {seconds, 0};
	FD_ZERO(&set);
	FD_SET(idle_pipe[0], &set);
	TIMED(r, select(idle_pipe[0] + 1, &set, NULL, NULL, &tv), seconds);
}

__attribute__((noinline)) void park_in_read(struct result *r)
{
	char c;
	TIMED(r, read(read_pipe[0], &c, 1), -1);
}

__attribute__((noinline)) void park_in_cond_wait(struct result *r)
{
	pthread_mutex_lock(&mu);
	/* The first return is timed: a wakeup before the deadline is early
	 * (glibc restarts its futex wait after a signal, so none is
	 * expected). */
	TIMED(r, pthread_cond_wait(&cv, &mu), -1);
	while (!cond_flag)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

__attribute__((noinline)) void park_in_sigtimedwait(struct result *r)
{
	sigset_t set;
	siginfo_t si;
	struct timespec ts = {seconds, 0};
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 1);
	TIMED(r, sigtimedwait(&set, &si, &ts), seconds);
}

__attribute__((noinline)) void park_in_pause(struct result *r)
{
	TIMED(r, pause(), -1);
}

__attribute__((noinline)) void park_in_raw_syscall(struct result *r)
{
	char c;
	TIMED(r, syscall(SYS_read, raw_pipe[0], &c, 1), -1);
}

__attribute__((noinline)) void busy_loop(void)
{
	arrive();
	while (!busy_stop) {
		double x = 0;
		for (int i = 0; i < 100000; i++)
			x += i * 0.5;
		sink = x;
	}
}

static void on_usr1(int sig)
{
	(void)sig;
}

struct job {
	const char *name;
	void (*park)(struct result *);
	pthread_t th;
	struct result res;
};

static struct job jobs[] = {
	{"sleep", park_in_sleep},
	{"nanosleep", park_in_nanosleep},
	{"epoll_wait", park_in_epoll_wait},
	{"poll", park_in_poll},
	{"select", park_in_select},
	{"read", park_in_read},
	{"cond_wait", park_in_cond_wait},
	{"sigtimedwait", park_in_sigtimedwait},
	{"pause", park_in_pause},
	{"raw_syscall", park_in_raw_syscall},
};
#define NJOBS (sizeof(jobs) / sizeof(jobs[0]))

static void *run_job(void *arg)
{
	struct job *j = arg;
	char name[16];
	snprintf(name, sizeof(name), "p-%.13s", j->name);
	pthread_setname_np(pthread_self(), name);
	j->res.name = j->name;
	j->park(&j->res);
	return NULL;
}

static void *run_busy(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "p-busy");
	busy_loop();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		seconds = atoi(argv[1]);
	if (pipe(read_pipe) || pipe(raw_pipe) || pipe(idle_pipe))
		return 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	/* Threads inherit this mask: the dump signal and sigtimedwait's signal
	 * blocked; SIGUSR1 stays open for pause. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGRTMIN + 1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	start = now();
	deadline = start + seconds;
	for (size_t i = 0; i < NJOBS; i++)
		pthread_create(&jobs[i].th, NULL, run_job, &jobs[i]);
	pthread_t busy;
	pthread_create(&busy, NULL, run_busy, NULL);
	sigdelset(&block, SIGRTMIN + 1);
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);

	while (__atomic_load_n(&about_to_call, __ATOMIC_SEQ_CST) < (int)NJOBS + 1)
		usleep(1000);
	usleep(100000); /* let the last ones enter their calls */
	printf("ready\n");
	fflush(stdout);

	struct timespec until = {(time_t)deadline, (long)((deadline - (time_t)deadline) * 1e9)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
	busy_stop = 1;
	write(read_pipe[1], "x", 1);
	write(raw_pipe[1], "x", 1);
	pthread_mutex_lock(&mu);
	cond_flag = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (size_t i = 0; i < NJOBS; i++)
		if (jobs[i].park == park_in_pause)
			pthread_kill(jobs[i].th, SIGUSR1);
	for (size_t i = 0; i < NJOBS; i++)
		pthread_join(jobs[i].th, NULL);
	pthread_join(busy, NULL);
	for (size_t i = 0; i < NJOBS; i++)
		printf("call %s ret %ld errno %d took %.3f want %.3f\n", jobs[i].res.name, jobs[i].res.ret,
		       jobs[i].res.err, jobs[i].res.took, jobs[i].res.want);
	printf("done\n");
	return 0;
}
