/*
 * waitframe.h - publishing where a thread waits, for the threads profile.
 *
 * DESIGN
 * A thread parked in a blocking call must not be signalled to learn its
 * stack: the signal would end the call early (EINTR, or sleep() returning
 * with time left).  So every wrapper of a blocking call publishes, in the
 * calling thread's own initial-exec TLS (tstate.h: wait_*), the caller's
 * frame as it will be the moment the call returns:
 *
 *   wait_fn  the real blocking function (its entry: the leaf the profile
 *            names),
 *   wait_pc  the return address into the caller,
 *   wait_sp  the caller's stack pointer after the return (the wrapper's
 *            CFA: its frame address + 16, cprof being built with frame
 *            pointers),
 *   wait_fp  the caller's frame pointer (saved at the wrapper's frame
 *            address),
 *
 * then makes wait_seq odd (release), calls the real function, and makes
 * wait_seq even again.  The collector (threadstacks.c), holding the thread
 * pinned (threads.h), reads the fields between two loads of an odd wait_seq,
 * copies the stack above wait_sp and unwinds the copy (stackcopy.h).  The
 * region above wait_sp is the caller's frames, which the blocking call
 * never touches, so the copy is consistent whenever wait_seq did not move.
 *
 * Cost: a TLS load and test, four TLS stores and one more store on each
 * side of the real call; nothing shared, no lock, errno untouched.
 * Ordering: x86-64 only (TSO): the release store keeps the fields before
 * the odd wait_seq; the even store is ordered before the caller's later
 * stack writes by TSO, the compiler fence keeps the compiler from moving
 * them.
 *
 * Nesting: a wrapper called while an outer one is parked on the same stack
 * (cprof's sigwait calling its sigtimedwait, a signal handler making a
 * blocking call) leaves the outer frame published: it is recognised by an
 * odd wait_seq and a CFA below the published one.  An odd wait_seq with a
 * CFA at or above it can only be stale (a siglongjmp out of a blocking
 * call skipped the wrapper's second half): it is withdrawn (wait_seq made
 * even) before the fields are rewritten, so a reader mid-copy notices.  A stale frame is
 * otherwise reported as if the thread were still parked there, until the
 * thread's next wrapped call at or above it (docs/profiles.md).
 *
 * Contexts: any program thread, before cprof's constructor too (TLS needs
 * nothing initialised), inside the program's signal handlers.  With the
 * guard held (cprof's own code) nothing is published.
 */
#ifndef CPROF_WAITFRAME_H
#define CPROF_WAITFRAME_H

#include "tstate.h"

CPROF_INLINE uint32_t wait_publish(void *fn, void *ret, void *frame)
{
	struct tstate *t = &cprof_tls;
	uint32_t s = t->wait_seq;
	uintptr_t cfa = (uintptr_t)frame + 16;

	if (unlikely(t->guard))
		return 0;
	if (unlikely(s & 1)) {
		if (cfa < t->wait_sp)
			return 0; /* nested: the outer frame stays */
		/* Stale: withdraw it before rewriting the fields. */
		__atomic_store_n(&t->wait_seq, ++s, __ATOMIC_RELAXED);
		atomic_signal_fence(memory_order_seq_cst);
	}
	__atomic_store_n(&t->wait_fn, (uintptr_t)fn, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_pc, (uintptr_t)ret, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_sp, cfa, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_fp, *(const uintptr_t *)frame, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_seq, ++s, __ATOMIC_RELEASE);
	return s;
}

CPROF_INLINE void wait_done(uint32_t s)
{
	struct tstate *t = &cprof_tls;
	if (s && t->wait_seq == s)
		__atomic_store_n(&t->wait_seq, s + 1, __ATOMIC_RELEASE);
	atomic_signal_fence(memory_order_seq_cst);
}

/* In the exported wrapper itself (or a function it tail-calls, which keeps
 * the caller's return address): the builtins read this frame. */
#define WAIT_PUBLISH(fn) \
	wait_publish((void *)(fn), __builtin_return_address(0), __builtin_frame_address(0))

/*
 * The fast path of the libc wrappers (waits.c), for the common case that
 * wait_publish handles on its first branch: guard not held, nothing
 * published (wait_seq even).  The caller has checked both.
 */
CPROF_INLINE void wait_publish_fresh(struct tstate *t, void *fn, void *ret, void *frame)
{
	__atomic_store_n(&t->wait_fn, (uintptr_t)fn, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_pc, (uintptr_t)ret, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_sp, (uintptr_t)frame + 16, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_fp, *(const uintptr_t *)frame, __ATOMIC_RELAXED);
	__atomic_store_n(&t->wait_seq, t->wait_seq + 1, __ATOMIC_RELEASE);
}

/* After a call published by wait_publish_fresh: withdraw whatever frame is
 * still published (its own, or one a signal handler left stale). */
CPROF_INLINE void wait_withdraw(struct tstate *t)
{
	uint32_t s = t->wait_seq;
	if (likely(s & 1))
		__atomic_store_n(&t->wait_seq, s + 1, __ATOMIC_RELEASE);
	atomic_signal_fence(memory_order_seq_cst);
}

#endif
