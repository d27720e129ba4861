/*
 * threadstacks.h - the current stack of every thread (threads profile,
 * goroutine?debug=2).
 *
 * DESIGN
 * Looking at a thread must never wake it: a signal ends blocking calls
 * early (epoll_wait, poll, select, nanosleep, sigtimedwait fail with EINTR;
 * sleep returns with time left; pause returns), and continuous profilers
 * fetch /debug/pprof/goroutine every few seconds.  So the collector
 * (holding dump_lock) decides per thread how to learn its stack:
 *
 *  1. It reads /proc/self/task/TID/syscall: "running" (executing, or
 *     runnable), or the number of the system call the thread is in with
 *     its user stack pointer and resume address, or -1 with the same two
 *     for a thread stopped outside any system call.
 *  2. If the thread is parked in a wrapped blocking call (its published
 *     wait frame, hooks/waitframe.h, is live: odd wait_seq) it is never
 *     signalled, whatever /proc said: its record is pinned (threads.h),
 *     the frame read between two loads of wait_seq, its stack copied from
 *     the published stack pointer up to at most 64 KiB (bounded by the
 *     thread's stack as pthread_getattr_np reports it), wait_seq checked
 *     unchanged (else one retry, then the published leaf and caller
 *     only), the record unpinned, and the copy unwound (stackcopy.h).  The
 *     stack is the blocking function (an exact leaf: the profile names
 *     sleep, epoll_wait, pthread_cond_wait...) and then its callers.
 *  3. Else, if /proc shows a system call (one cprof does not wrap: inside
 *     libc, or syscall()), it is not signalled either: the stack is the
 *     resume address /proc gives, plus what can be unwound from a copy
 *     of the stack above the /proc stack pointer when the record can be
 *     pinned (RBP is unknown, so the unwind stops at the first frame that
 *     needs it), with the synthetic root frame cprof_partial_stack and a
 *     note in the text forms.  The copy is kept only if /proc reports the
 *     same state after it.  A thread stopped outside a system call (-1) is
 *     reported the same way: a signal would only reach a debugger.
 *  4. Else (running) it is asked by signal as before: the collector fills
 *     a batch of request slots with tids and sends each thread cprof's
 *     signal with si_code SI_QUEUE and a magic value; the handler finds
 *     its slot, unwinds from the interrupted context into it and marks it
 *     answered.  A running thread is not in a blocking call, so nothing is
 *     interrupted; the residual race is a thread that enters a blocking
 *     call in the microseconds between the check and the signal's
 *     delivery: that call can fail with EINTR, the exposure every
 *     signal-based CPU profiler has.  (wait_seq is read after /proc, just
 *     before the signal is sent, to keep the window short.)  The collector
 *     waits a bounded time per batch; a thread that blocks the signal
 *     (seen in /proc/self/task/TID/status) or does not answer in time is
 *     reported under the synthetic frame cprof_thread_did_not_answer,
 *     never waited for forever.
 *
 * Labels: each thread's current label set is read with the thread list
 * (registry lock held, so the thread's TLS is still there), just before
 * its stack is learnt.  A thread cprof cannot pin (no `ts`: one found in
 * /proc, not started through the hook) shows no labels.  The trace and
 * span ids it publishes (labels.h, OpenTelemetry thread context) are read
 * then too, and interned after the registry lock is released.
 *
 * When /proc cannot be read, a thread that is not parked in a wrapped call
 * is not signalled (it might be blocked): it is reported without a stack.
 * The collecting thread reports its own stack directly.
 *
 * Slot protocol (state): 0 free, 1 asked, 2 answered, 3 being written.  The
 * handler moves 1 -> 3 -> 2 with atomics; the collector cancels
 * unanswered slots by CAS 1 -> 0, and waits out a 3 (bounded: an unwind).
 */
#ifndef CPROF_THREADSTACKS_H
#define CPROF_THREADSTACKS_H

#include <ucontext.h>
#include "arena.h"
#include "common.h"

#define STACK_MAGIC 0x63737463  /* "cstc" */

struct thread_stack {
	int tid;
	const char *name;
	uint32_t stack;        /* stack table id */
	const char *state;     /* NULL, or why there is no stack */
	const char *note;      /* NULL, or why the stack is partial */
	uint32_t created;      /* stack of the pthread_create call that made it, or 0 */
	uint32_t labels;       /* its label set (labels.h) when the thread list was read */
};

typedef void (*thread_stack_fn)(const struct thread_stack *ts, void *arg);

/* Caller holds dump_lock.  Calls fn once per thread. */
void threadstacks_collect(struct region *r, thread_stack_fn fn, void *arg);

/* From cprof's signal handler: answer a request, if one is pending for
 * this thread.  Async-signal-safe. */
void threadstacks_answer(const ucontext_t *uc);

#endif
