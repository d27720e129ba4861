/*
 * deadlock - two threads that take two mutexes in opposite order and
 * deadlock for good, in named functions, for the threads dump
 * (goroutine?debug=2) and the threads profile.
 *
 * lock_a_then_b (thread "locker-ab") holds A and blocks on B;
 * lock_b_then_a (thread "locker-ba") holds B and blocks on A.  A barrier
 * makes sure each holds its first mutex before either asks for its second,
 * so the deadlock always happens.  The main thread prints "ready" once
 * both are stuck (with a short grace period) and then waits in
 * pthread_join forever; kill it.
 *
 * usage: deadlock
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t A = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t B = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both_hold;

__attribute__((noinline)) void lock_a_then_b(void)
{
	pthread_mutex_lock(&A);
	pthread_barrier_wait(&both_hold);
	pthread_mutex_lock(&B); /* never returns */
	pthread_mutex_unlock(&B);
	pthread_mutex_unlock(&A);
}

__attribute__((noinline)) void lock_b_then_a(void)
{
	pthread_mutex_lock(&B);
	pthread_barrier_wait(&both_hold);
	pthread_mutex_lock(&A); /* never returns */
	pthread_mutex_unlock(&A);
	pthread_mutex_unlock(&B);
}

static void *ab(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "locker-ab");
	lock_a_then_b();
	return NULL;
}

static void *ba(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "locker-ba");
	lock_b_then_a();
	return NULL;
}

int main(void)
{
	pthread_t t1, t2;
	pthread_barrier_init(&both_hold, NULL, 3);
	pthread_create(&t1, NULL, ab, NULL);
	pthread_create(&t2, NULL, ba, NULL);
	pthread_barrier_wait(&both_hold);
	struct timespec ts = {0, 200000000};
	nanosleep(&ts, NULL);
	printf("ready\n");
	fflush(stdout);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	return 0;
}
