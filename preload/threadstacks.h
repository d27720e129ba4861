/*
 * threadstacks.h - the current stack of every thread (threads profile,
 * goroutine?debug=2).
 *
 * DESIGN
 * Native threads cannot be inspected from outside without ptrace, so each
 * thread is asked to unwind itself: the collector (holding dump_lock) fills
 * a batch of request slots with tids and sends each thread cprof's signal
 * with si_code SI_QUEUE and a magic value; the handler finds its slot,
 * unwinds from the interrupted context into it and marks it answered.  The
 * collector waits a bounded time per batch; a thread that blocks the
 * signal (seen in /proc/self/task/TID/status) or does not answer in time
 * (stopped, or stuck with signals blocked) is reported under the synthetic
 * frame cprof_thread_did_not_answer, never waited for forever.  The
 * collecting thread reports its own stack directly.
 *
 * Slot protocol (state): 0 free, 1 asked, 2 answered, 3 being written.  The
 * handler moves 1 -> 3 -> 2 with atomics; the collector cancels
 * unanswered slots by CAS 1 -> 0, and waits out a 3 (bounded: an unwind).
 *
 * Signals can interrupt system calls that are never restarted (epoll_wait,
 * nanosleep...), so this profile is collected only when asked for: HTTP
 * /goroutine, or CPROF_PROFILES naming `threads`.
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
};

typedef void (*thread_stack_fn)(const struct thread_stack *ts, void *arg);

/* Caller holds dump_lock.  Calls fn once per thread. */
void threadstacks_collect(struct region *r, thread_stack_fn fn, void *arg);

/* From cprof's signal handler: answer a request, if one is pending for
 * this thread.  Async-signal-safe. */
void threadstacks_answer(const ucontext_t *uc);

#endif
