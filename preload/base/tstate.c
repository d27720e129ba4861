/*
 * tstate.c - first contact with a thread, and the guard's deferred signal.
 *
 * tstate_first_contact and tstate_stack_bounds are called on the owning
 * thread, in a normal context (a hook's slow path or the thread start
 * wrapper), with the guard held so that the allocations
 * pthread_getattr_np makes internally pass straight through the hooks.
 * guard_deferred_signal runs as the guard drops to zero, possibly at the
 * end of a signal handler: async-signal-safe.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tstate.h"

CPROF_TLS struct tstate cprof_tls;

int cprof_gettid(void)
{
	return (int)syscall(SYS_gettid);
}

void tstate_stack_bounds(struct tstate *t)
{
	pthread_attr_t attr;
	void *addr;
	size_t size;

	if (t->stack_hi)
		return;
	int64_t left = own_alloc_begin(); /* its affinity buffer: not in the program's heap */
	int r = pthread_getattr_np(pthread_self(), &attr);
	if (r != 0) {
		own_alloc_end(left);
		return;
	}
	if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
		t->stack_lo = (uintptr_t)addr;
		t->stack_hi = (uintptr_t)addr + size;
	}
	pthread_attr_destroy(&attr);
	own_alloc_end(left);
}

void tstate_first_contact(struct tstate *t)
{
	struct timespec ts;

	if (t->seen)
		return;
	t->tid = cprof_gettid();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Seed from tid, time and the TLS address: distinct per thread and
	 * per run.  Never zero (xorshift's fixed point). */
	t->rng = cprof_hash64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
			      ((uint64_t)t->tid << 17) ^ (uintptr_t)t) | 1;
	t->seen = 1;
}

void guard_deferred_signal(void)
{
	int saved = errno;
	int sig = cprof_tls.deferred_sig;
	cprof_tls.deferred_sig = 0;
	if (sig)
		syscall(SYS_tgkill, getpid(), cprof_gettid(), sig);
	errno = saved;
}
