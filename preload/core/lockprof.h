/*
 * lockprof.h - mutex and block profiles with Go's semantics
 * (docs/profiles.md, "mutex and block").
 *
 * DESIGN
 * Block profile: where threads waited.  A wrapped blocking call first
 * tries the non-blocking form (trylock, sem_trywait, tryjoin); only when
 * that fails is the real call timed.  The waiter's stack is charged the
 * time it waited, sampled like Go's SetBlockProfileRate: a wait of at least
 * CPROF_BLOCK_RATE ns is always kept; a shorter wait w is kept with
 * probability w/rate and then counts rate/w events and `rate` ns, which
 * keeps both totals unbiased.
 *
 * Mutex profile: what made them wait.  A contended waiter registers its
 * start time in a side table keyed by the lock's address.  The unlock that
 * ends a critical section others are waiting on is charged the delay those
 * waiters accumulated since the previous such unlock (for n waiters with
 * start times s_i at time t: sum(t - s_i)); the starts then move to t, so
 * no wait is charged twice (Go's semrelease1 does the same with its head
 * waiter and average).  Events are kept 1 in CPROF_MUTEX_FRACTION, scaled
 * by the fraction.
 *
 * Costs: the uncontended paths (trylock succeeded; unlock of a lock nobody
 * is registered as waiting on, by the waiter filter below) write nothing
 * shared.  Only contended paths read clocks, take a side-table shard lock
 * or unwind.
 *
 * Labels (labels.h): a bucket is (stack, label set) of the thread whose
 * stack it records: the waiter's in the block profile, the unlocker's in
 * the mutex profile (the stack charged, as Go charges the unlocker).
 *
 * Contexts: program threads, normal context, guard not held on entry (the
 * hooks pass straight through when it is: cprof's own locking, libunwind's
 * internal mutex).  Never in a signal handler.
 */
#ifndef CPROF_LOCKPROF_H
#define CPROF_LOCKPROF_H

#include <stdatomic.h>
#include "common.h"

/* True when the lock hooks should do anything at all (set at init). */
extern atomic_bool lockprof_mutex_on;   /* mutex profile (unlock side) */
extern atomic_bool lockprof_block_on;   /* block profile (waiter side) */
extern atomic_int lockprof_waiters;     /* registered waiters, all locks */

/*
 * The waiter filter: registered waiters counted by a hash of the lock's
 * address.  A registered waiter keeps its slot nonzero from before it
 * enters the side table until after it leaves it, so an unlock that finds
 * its slot at zero knows no thread waits on its lock, and one that finds
 * it nonzero looks in the side table.  This is what an unlock asks on its
 * fast path (one multiply and one load of a word that changes only when
 * a contended wait begins or ends), instead of the lock's own state: a
 * glibc mutex's futex word reads 1, not 2, while a waiter has not yet
 * marked it or was woken and beaten to the lock, and the unlocks in
 * between then went uncharged.
 */
#define LOCKPROF_FILTER_BITS 10
extern atomic_uint lockprof_filter[1u << LOCKPROF_FILTER_BITS];

CPROF_INLINE unsigned lockprof_filter_slot(const void *lock)
{
	return (unsigned)(((uintptr_t)lock * 0x9e3779b97f4a7c15ULL) >> (64 - LOCKPROF_FILTER_BITS));
}

/* May a thread be registered as waiting on `lock`? */
CPROF_INLINE bool lockprof_maybe_waited(const void *lock)
{
	return atomic_load_explicit(&lockprof_filter[lockprof_filter_slot(lock)],
				    memory_order_relaxed) != 0;
}

int lockprof_init(void);

/* Waiter side: call after a failed try, before the blocking call.
 * Returns the start time (ns). */
int64_t lockprof_wait_begin(const void *lock, bool track_owner);
/* After the blocking call returned. */
void lockprof_wait_end(const void *lock, bool track_owner, int64_t start);

/* A wait with no lock owner to charge (cond, sem, join, barrier). */
void lockprof_block_event(int64_t start);

/* Unlock side: `lock` is being released and may have waiters.  Returns the
 * delay to charge (0: nothing), to be passed to lockprof_charge() after the
 * real unlock (so the unwinding happens outside the critical section). */
int64_t lockprof_release_begin(const void *lock);
void lockprof_charge(int64_t delay);

struct lock_bucket_view {
	uint32_t id;        /* dense, from 1 */
	uint32_t stack;
	uint32_t labels;    /* label set of the thread whose stack this is (labels.h) */
	uint64_t count_fp;  /* events, fixed point: count_fp / LOCKPROF_ONE */
	uint64_t delay_ns;
};
#define LOCKPROF_ONE 1024
typedef void (*lock_bucket_fn)(const struct lock_bucket_view *v, void *arg);
/* which: 0 = mutex, 1 = block */
void lockprof_foreach(int which, lock_bucket_fn fn, void *arg);
uint32_t lockprof_count(int which);

void lockprof_fork_child(void);

#endif
