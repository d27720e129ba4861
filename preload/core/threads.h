/*
 * threads.h - the registry of the program's threads.
 *
 * DESIGN
 * One record per live thread the profiler knows: its tid, its CPU timer,
 * its name (for the `thread` label), whether cprof created it (then it is
 * never profiled), and how it became known:
 *  - created through the pthread_create hook: the start wrapper registers
 *    the thread on itself and a pthread key destructor unregisters it when
 *    it ends (return, pthread_exit or cancellation);
 *  - found in /proc/self/task (threads that existed before cprof
 *    initialised, or were created behind libc's back): registered by the
 *    scanner at init and rescanned by the writer thread every second; such
 *    "foreign" records are dropped when tgkill(tid, 0) says the thread is
 *    gone.
 *
 * Contexts: registration and scans run in normal contexts (thread start
 * and exit, the writer thread, init, fork child).  No signal handler
 * touches the registry.  `lock` (a spinlock) protects the list and the
 * tid index; it is taken around fork.  Records are recycled through a free
 * list; a thread's TLS points to its record until its destructor runs.
 *
 * Reading a live thread's stack (threads profile, threadstacks.c): a
 * record whose thread is certain to unregister before its stack and TLS
 * go away (started through the hook, with the exit destructor set) or
 * whose stack never goes away (the main thread) carries `ts`, the address
 * of the thread's tstate.  The collector pins such a record
 * (threads_pin: `readers` + 1, under the lock, refused once `exiting`)
 * for the few microseconds it reads the thread's TLS and copies its
 * stack; the thread's exit (threads_unregister_self) marks it `exiting`
 * and waits, yielding, for the readers to leave before the record is
 * freed and the thread goes on to release its stack.  Pinned records are
 * never removed or recycled: the scanner skips them.
 */
#ifndef CPROF_THREADS_H
#define CPROF_THREADS_H

#include <pthread.h>
#include <stdatomic.h>
#include "common.h"

struct tstate;

struct thread_rec {
	struct thread_rec *next;       /* registry list / free list */
	int tid;
	bool hooked;                   /* started by the pthread_create wrapper */
	bool internal;                 /* cprof's own thread */
	bool has_timer;
	bool paused;                   /* timer disarmed (signal blocked, exec) */
	int timer;                     /* kernel timer id */
	int64_t blocked_cpu;           /* while paused: CPU time counted up to (cpuprof.c) */
	pthread_t pth;                 /* valid when hooked */
	char name[16];
	uint32_t create_stack;         /* threadcreate: stack of the creating call */
	/* threads profile: the thread's answer to a stack request */
	_Atomic unsigned reply_seq;
	unsigned reply_depth;
	uintptr_t reply_pcs[CPROF_MAX_DEPTH];
	/* threads profile: reading the stack of a parked thread (see above) */
	struct tstate *ts;             /* the thread's TLS, or NULL: not pinnable */
	atomic_int readers;            /* collectors reading its stack now */
	bool exiting;                  /* unregistering: no new readers */
	uintptr_t stack_lo, stack_hi;  /* its stack, 0 until the collector asked */
};

int threads_init(void);

/* Register the calling thread (normal context).  `hooked`: started by the
 * pthread_create wrapper. */
struct thread_rec *threads_register_self(bool hooked);

/* Unregister the calling thread (its exit). */
void threads_unregister_self(void);

/* cprof's own threads: never sampled, never listed.  An internal thread
 * that ends calls threads_internal_exit(). */
void threads_mark_internal(void);
void threads_internal_exit(void);

/* True when only cprof's threads remain (and a zombie leader): the
 * program's last thread ended with pthread_exit (see threads.c). */
bool threads_program_gone(void);

/* Add threads found in /proc/self/task; drop foreign records whose thread
 * is gone.  Calls cpuprof hooks for timers. */
void threads_scan(void);

/* Name of thread `tid` into out (from the registry; refreshed from
 * /proc/self/task/<tid>/comm when `refresh`). */
void threads_name(int tid, char *out, size_t outlen, bool refresh);
void threads_set_name(pthread_t th, const char *name);

/* Pin thread tid's record so its stack and TLS stay mapped while the
 * caller reads them; NULL when it cannot be pinned (unknown, exiting, or
 * not a thread whose stack cprof may read).  Keep pins short: the thread's
 * exit waits for them. */
struct thread_rec *threads_pin(int tid);
void threads_unpin(struct thread_rec *r);

/* Bounds of a pinned thread's stack, computed on first use (normal
 * context; callers are serialised by dump_lock) with pthread_getattr_np,
 * which allocates a few bytes from the program's heap (guard held) once
 * per thread; the main thread's are read from /proc/self/maps by glibc.
 * False when unknown. */
bool threads_stack_bounds(struct thread_rec *r, uintptr_t *lo, uintptr_t *hi);

typedef void (*threads_fn)(struct thread_rec *r, void *arg);
/* Call fn for every registered non-internal thread, registry locked: fn
 * must not block or call back into the registry. */
void threads_foreach(threads_fn fn, void *arg);
size_t threads_count(void);
/* Does the registry hold a program thread other than the caller? */
bool threads_others_alive(void);

void threads_fork_child(void);

/* threadcreate profile: count one thread creation at `stack`. */
void threads_note_create(uint32_t stack);
/* id: dense index from 1, stable for the process's life. */
typedef void (*threads_create_fn)(uint32_t id, uint32_t stack, uint64_t count, void *arg);
void threads_foreach_create(threads_create_fn fn, void *arg);

/* The calling thread's timer: paused while the thread blocks the CPU
 * signal (so sigwait can never receive it), and across exec. */
void threads_pause_self(void);
void threads_resume_self(void);

#endif
