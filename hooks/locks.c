/*
 * locks.c - the interposed pthread and semaphore waiting functions.
 *
 * Every wrapper returns exactly what the real call returned, with the same
 * errno, for every mutex type (normal, recursive, errorcheck, robust,
 * priority-inheritance and -protect, process-shared): the real function
 * does all the work; cprof only observes.
 *
 * Locks: a try first (docs/profiles.md, "mutex and block").  The try form of each lock returns
 * what the blocking form would whenever it does not have to wait: 0 for a
 * free or recursively owned mutex, EOWNERDEAD for a robust mutex whose
 * owner died, EINVAL/EAGAIN/ENOTRECOVERABLE alike.  Only EBUSY means
 * "would wait"; then the blocking call is made and timed (for an
 * errorcheck mutex the caller already owns it returns EDEADLK at once).
 *
 * Unlock: the waiter filter (lockprof.h) tells whether a thread may be
 * registered as waiting on this lock; only then does the wrapper consult
 * the side table, and it charges the unlocker after the real unlock,
 * outside the critical section.  (The mutex's own futex word cannot tell:
 * it reads 1 while a waiter has not yet marked it, or was woken and lost
 * the lock to another thread.)
 *
 * Condition variables, semaphores, joins and barriers have no owner to
 * charge: only their waits are recorded (block profile).  glibc's
 * pthread_cond_* are the GLIBC_2.3.2 versions (real.c).
 *
 * Every wrapper that may block also publishes the caller's frame for the
 * threads profile (waitframe.h), whether or not lock profiling is on, so a
 * thread parked in a lock, condition variable, semaphore, join or barrier
 * is seen without a signal.  The uncontended mutex paths do not: they do
 * not wait.
 *
 * Contexts: program threads.  With the guard held (cprof's own code,
 * libunwind's internal mutex) or profiling off, wrappers just forward.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>

#include "lockprof.h"
#include "real.h"
#include "runtime.h"
#include "tstate.h"
#include "waitframe.h"

/* glibc 2.36 pthread_mutex_t internals (sysdeps/nptl/bits/struct_mutex.h):
 * __data.__lock is the futex word, __data.__kind the type and flags. */
#define KIND_ROBUST 16

/*
 * Would locking m have to wait?  For most mutexes: try it (exact).  Robust
 * mutexes are only peeked at: glibc's trylock on a robust mutex in the
 * not-recoverable state returns ENOTRECOVERABLE but leaves the mutex
 * locked (a FIXME in pthread_mutex_trylock.c), which would change what the
 * program's next call returns.  A peek can miss a race (counted as
 * uncontended), never changes state.  Returns EBUSY when the caller should
 * make the blocking call timed; any other value is the final result
 * (0 = acquired by the try); -1 = make the blocking call, untimed.
 */
CPROF_INLINE int try_mutex(pthread_mutex_t *m)
{
	if (unlikely(m->__data.__kind & KIND_ROBUST)) {
		unsigned v = (unsigned)__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED);
		return (v & 0x3fffffffu) ? EBUSY : -1;
	}
	return REAL(pthread_mutex_trylock)(m);
}

/* Outside cprof's own code and outside a non-glibc allocator. */
CPROF_INLINE bool program_context(void)
{
	return (cprof_tls.guard | cprof_tls.in_alloc) == 0;
}

CPROF_INLINE bool active_block(void)
{
	return atomic_load_explicit(&lockprof_block_on, memory_order_relaxed) && program_context();
}

CPROF_INLINE bool active_any(void)
{
	return (atomic_load_explicit(&lockprof_block_on, memory_order_relaxed) ||
		atomic_load_explicit(&lockprof_mutex_on, memory_order_relaxed)) &&
	       program_context();
}

/* real.* of these hooks is bound to glibc at load time (real.c): never
 * NULL, never resolved from here. */
#define NEED(fn, fail) ((void)0)

/* The exported wrapper of a call that may block: the caller's frame is
 * published around `name##_body`, which follows the macro. */
#define PUBLISHED(type, name, params, args)                            \
	static inline type name##_body params;                         \
	CPROF_EXPORT type name params                                  \
	{                                                              \
		uint32_t w_ = WAIT_PUBLISH(REAL(name));                \
		type r_ = name##_body args;                            \
		wait_done(w_);                                         \
		return r_;                                             \
	}                                                              \
	static inline type name##_body params

/* ---- mutexes ----------------------------------------------------------------- */

/*
 * The uncontended paths are leaves ending in a tail call: a peek at the
 * futex word (free: straight to the real lock; nobody waiting: straight to
 * the real unlock) costs a few instructions and touches only the mutex.
 * A peek can miss a contention that begins in the few instructions
 * between it and the real call: that wait goes uncounted, nothing else.
 */
CPROF_INLINE bool mutex_busy(const pthread_mutex_t *m)
{
	/* Low bits: 0 free, 1 locked, 2 locked with waiters; for robust and PI
	 * mutexes the owner's tid; priority-protect mutexes keep their ceiling
	 * above bit 19. */
	return (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) & 0x7ffff) != 0;
}

static inline int mutex_lock_wait(pthread_mutex_t *m)
{
	if (!active_any())
		return REAL(pthread_mutex_lock)(m);
	int r = try_mutex(m);
	if (likely(r != EBUSY))
		return r >= 0 ? r : REAL(pthread_mutex_lock)(m);
	int saved = errno;
	int64_t t0 = lockprof_wait_begin(m, true);
	errno = saved;
	r = REAL(pthread_mutex_lock)(m);
	saved = errno;
	lockprof_wait_end(m, true, t0);
	errno = saved;
	return r;
}

/* Tail-called by pthread_mutex_lock, so the return address is still the
 * program's (or, if the compiler made a call, cprof's wrapper frame, which
 * the unwinder steps through). */
CPROF_COLD static int mutex_lock_slow(pthread_mutex_t *m)
{
	uint32_t w = WAIT_PUBLISH(REAL(pthread_mutex_lock));
	int r = mutex_lock_wait(m);
	wait_done(w);
	return r;
}

CPROF_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	int (*f)(pthread_mutex_t *) = real.pthread_mutex_lock;
	if (likely(f != NULL) && likely(!mutex_busy(m)))
		return f(m);
	return mutex_lock_slow(m);
}

#define TIMED_MUTEX(name, params, args)                                \
	PUBLISHED(int, name, params, args)                             \
	{                                                              \
		NEED(name, EINVAL);                                    \
		if (!active_any())                                     \
			return REAL(name) args;                         \
		int r = try_mutex(m);                                  \
		if (likely(r != EBUSY))                                \
			return r >= 0 ? r : REAL(name) args;            \
		int saved = errno;                                     \
		int64_t t0 = lockprof_wait_begin(m, true);             \
		errno = saved;                                         \
		r = REAL(name) args;                                    \
		saved = errno;                                         \
		lockprof_wait_end(m, true, t0);                        \
		errno = saved;                                         \
		return r;                                              \
	}

TIMED_MUTEX(pthread_mutex_timedlock, (pthread_mutex_t *m, const struct timespec *ts), (m, ts))
TIMED_MUTEX(pthread_mutex_clocklock, (pthread_mutex_t *m, clockid_t c, const struct timespec *ts),
	    (m, c, ts))

CPROF_COLD static int mutex_unlock_slow(pthread_mutex_t *m)
{
	if (!lockprof_maybe_waited(m) || !atomic_load_explicit(&lockprof_mutex_on, memory_order_relaxed) ||
	    !program_context())
		return REAL(pthread_mutex_unlock)(m);
	int saved = errno;
	int64_t delay = lockprof_release_begin(m);
	errno = saved;
	int r = REAL(pthread_mutex_unlock)(m);
	if (delay && r == 0) {
		saved = errno;
		lockprof_charge(delay);
		errno = saved;
	}
	return r;
}

CPROF_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	int (*f)(pthread_mutex_t *) = real.pthread_mutex_unlock;
	if (likely(f != NULL) && likely(!lockprof_maybe_waited(m)))
		return f(m);
	return mutex_unlock_slow(m);
}

/* ---- rwlocks ------------------------------------------------------------------- */

#define RWLOCK(name, tryname, params, args)                            \
	PUBLISHED(int, name, params, args)                             \
	{                                                              \
		NEED(name, EINVAL);                                    \
		if (!active_any())                                     \
			return REAL(name) args;                         \
		int r = REAL(tryname)(l);                               \
		if (likely(r != EBUSY))                                \
			return r;                                      \
		int saved = errno;                                     \
		int64_t t0 = lockprof_wait_begin(l, true);             \
		errno = saved;                                         \
		r = REAL(name) args;                                    \
		saved = errno;                                         \
		lockprof_wait_end(l, true, t0);                        \
		errno = saved;                                         \
		return r;                                              \
	}

RWLOCK(pthread_rwlock_rdlock, pthread_rwlock_tryrdlock, (pthread_rwlock_t *l), (l))
RWLOCK(pthread_rwlock_wrlock, pthread_rwlock_trywrlock, (pthread_rwlock_t *l), (l))
RWLOCK(pthread_rwlock_timedrdlock, pthread_rwlock_tryrdlock,
       (pthread_rwlock_t *l, const struct timespec *ts), (l, ts))
RWLOCK(pthread_rwlock_timedwrlock, pthread_rwlock_trywrlock,
       (pthread_rwlock_t *l, const struct timespec *ts), (l, ts))
RWLOCK(pthread_rwlock_clockrdlock, pthread_rwlock_tryrdlock,
       (pthread_rwlock_t *l, clockid_t c, const struct timespec *ts), (l, c, ts))
RWLOCK(pthread_rwlock_clockwrlock, pthread_rwlock_trywrlock,
       (pthread_rwlock_t *l, clockid_t c, const struct timespec *ts), (l, c, ts))

/* Like a mutex's: the side table is checked only when the waiter filter
 * says a thread may wait on this rwlock. */
CPROF_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	NEED(pthread_rwlock_unlock, EINVAL);
	if (likely(!lockprof_maybe_waited(l)) ||
	    !atomic_load_explicit(&lockprof_mutex_on, memory_order_relaxed) || !program_context())
		return REAL(pthread_rwlock_unlock)(l);
	int saved = errno;
	int64_t delay = lockprof_release_begin(l);
	errno = saved;
	int r = REAL(pthread_rwlock_unlock)(l);
	if (delay && r == 0) {
		saved = errno;
		lockprof_charge(delay);
		errno = saved;
	}
	return r;
}

/* ---- waits without an owner: block profile only --------------------------------- */

#define WAIT(name, params, args, failval)                              \
	PUBLISHED(int, name, params, args)                             \
	{                                                              \
		NEED(name, failval);                                   \
		if (!active_block())                                   \
			return REAL(name) args;                         \
		int64_t t0 = lockprof_wait_begin(NULL, false);         \
		int r = REAL(name) args;                                \
		int saved = errno;                                     \
		lockprof_wait_end(NULL, false, t0);                    \
		errno = saved;                                         \
		return r;                                              \
	}

WAIT(pthread_cond_wait, (pthread_cond_t *c, pthread_mutex_t *m), (c, m), EINVAL)
WAIT(pthread_cond_timedwait, (pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *ts),
     (c, m, ts), EINVAL)
WAIT(pthread_cond_clockwait,
     (pthread_cond_t *c, pthread_mutex_t *m, clockid_t k, const struct timespec *ts), (c, m, k, ts),
     EINVAL)

/* Semaphores: sem_trywait first; its EAGAIN must not leak into errno when
 * the blocking call then succeeds. */
#define SEM_WAIT(name, params, args)                                   \
	PUBLISHED(int, name, params, args)                             \
	{                                                              \
		NEED(name, -1);                                        \
		if (!active_block())                                   \
			return REAL(name) args;                         \
		int saved = errno;                                     \
		if (sem_trywait(s) == 0)                               \
			return 0;                                      \
		errno = saved;                                         \
		int64_t t0 = lockprof_wait_begin(NULL, false);         \
		int r = REAL(name) args;                                \
		saved = errno;                                         \
		lockprof_wait_end(NULL, false, t0);                    \
		errno = saved;                                         \
		return r;                                              \
	}

SEM_WAIT(sem_wait, (sem_t *s), (s))
SEM_WAIT(sem_timedwait, (sem_t *s, const struct timespec *ts), (s, ts))
SEM_WAIT(sem_clockwait, (sem_t *s, clockid_t c, const struct timespec *ts), (s, c, ts))

/* Joins: a thread that already ended is reaped by the try without waiting. */
#define JOIN(name, params, args)                                       \
	PUBLISHED(int, name, params, args)                             \
	{                                                              \
		NEED(name, EINVAL);                                    \
		if (!active_block())                                   \
			return REAL(name) args;                         \
		int r = pthread_tryjoin_np(th, ret);                   \
		if (r != EBUSY)                                        \
			return r;                                      \
		int saved = errno;                                     \
		int64_t t0 = lockprof_wait_begin(NULL, false);         \
		errno = saved;                                         \
		r = REAL(name) args;                                    \
		saved = errno;                                         \
		lockprof_wait_end(NULL, false, t0);                    \
		errno = saved;                                         \
		return r;                                              \
	}

JOIN(pthread_join, (pthread_t th, void **ret), (th, ret))
JOIN(pthread_timedjoin_np, (pthread_t th, void **ret, const struct timespec *ts), (th, ret, ts))
JOIN(pthread_clockjoin_np, (pthread_t th, void **ret, clockid_t c, const struct timespec *ts),
     (th, ret, c, ts))

/* Barriers: the thread completing the round (PTHREAD_BARRIER_SERIAL_THREAD
 * in glibc) did not wait. */
PUBLISHED(int, pthread_barrier_wait, (pthread_barrier_t *b), (b))
{
	NEED(pthread_barrier_wait, EINVAL);
	if (!active_block())
		return REAL(pthread_barrier_wait)(b);
	int64_t t0 = lockprof_wait_begin(NULL, false);
	int r = REAL(pthread_barrier_wait)(b);
	if (r == 0) {
		int saved = errno;
		lockprof_wait_end(NULL, false, t0);
		errno = saved;
	}
	return r;
}

CPROF_EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	NEED(pthread_spin_lock, EINVAL);
	if (!active_block())
		return REAL(pthread_spin_lock)(l);
	int r = REAL(pthread_spin_trylock)(l);
	if (likely(r != EBUSY))
		return r;
	int64_t t0 = lockprof_wait_begin(NULL, false);
	r = REAL(pthread_spin_lock)(l);
	int saved = errno;
	lockprof_wait_end(NULL, false, t0);
	errno = saved;
	return r;
}
