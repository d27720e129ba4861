/*
 * lock.h - cprof's own locks.
 *
 * cprof never uses pthread mutexes for its own state: they would go through
 * its own pthread hooks and be profiled.  Two kinds exist:
 *
 *  - spinlock_t: for short critical sections over shared tables (a few
 *    hundred instructions at most).  Waiters spin briefly and then yield.
 *    Never taken in a signal handler.  Every spinlock that may be held while
 *    another thread forks is registered with fork_locks (see init.c) so the
 *    child never inherits one locked.
 *
 *  - cprof_mutex_t: a futex-based mutex for long sections (a dump).  Waiters
 *    sleep in the kernel.
 *
 * Both are plain words, statically initialisable with {0}.
 */
#ifndef CPROF_LOCK_H
#define CPROF_LOCK_H

#include <sched.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include "common.h"

typedef struct {
	atomic_int v;
} spinlock_t;

CPROF_INLINE bool spin_trylock(spinlock_t *l)
{
	return atomic_load_explicit(&l->v, memory_order_relaxed) == 0 &&
	       atomic_exchange_explicit(&l->v, 1, memory_order_acquire) == 0;
}

CPROF_INLINE void spin_lock(spinlock_t *l)
{
	unsigned spins = 0;
	while (!spin_trylock(l)) {
		if (++spins < 64)
			__builtin_ia32_pause();
		else
			sched_yield();
	}
}

CPROF_INLINE void spin_unlock(spinlock_t *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_release);
}

CPROF_INLINE void spin_init(spinlock_t *l)
{
	atomic_store_explicit(&l->v, 0, memory_order_relaxed);
}

static inline long cprof_futex(atomic_int *uaddr, int op, int val,
			       const struct timespec *ts)
{
	return syscall(SYS_futex, (int *)uaddr, op, val, ts, NULL, 0);
}

/* Drepper's three-state futex mutex: 0 free, 1 locked, 2 locked+waiters. */
typedef struct {
	atomic_int v;
} cprof_mutex_t;

static inline void cprof_mutex_lock(cprof_mutex_t *m)
{
	int c = 0;
	if (atomic_compare_exchange_strong(&m->v, &c, 1))
		return;
	if (c != 2)
		c = atomic_exchange(&m->v, 2);
	while (c != 0) {
		cprof_futex(&m->v, FUTEX_WAIT_PRIVATE, 2, NULL);
		c = atomic_exchange(&m->v, 2);
	}
}

static inline bool cprof_mutex_trylock(cprof_mutex_t *m)
{
	int c = 0;
	return atomic_compare_exchange_strong(&m->v, &c, 1);
}

static inline void cprof_mutex_unlock(cprof_mutex_t *m)
{
	if (atomic_exchange(&m->v, 0) == 2)
		cprof_futex(&m->v, FUTEX_WAKE_PRIVATE, 1, NULL);
}

#endif
