/*
 * tstate.h - per-thread state and the reentrancy guard.
 *
 * DESIGN
 * Every thread of the program has one `struct tstate` in initial-exec TLS.
 * Initial-exec TLS lives in the static TLS block allocated with the thread,
 * so reading it never allocates and is safe from a signal handler, before
 * cprof has initialised, and after the thread's pthread destructors ran.
 *
 * Who touches what:
 *  - heap_left, heap_armed, rng: only the owning thread, from the malloc
 *    hooks.  heap_armed says heap_left is a countdown drawn while profiling
 *    at rt.heap_rate; until then (a new thread, or any thread before
 *    cprof's constructor ran) heap_left stays at 0, so the thread's next
 *    allocation takes the slow path, which draws the first countdown for
 *    that very allocation (hooks/malloc.c).
 *  - guard: the owning thread increments it around any work cprof does on
 *    the program's thread (sampling, unwinding, table updates) and while the
 *    thread runs cprof's own code (the writer thread holds it forever).  A
 *    hook or signal handler that finds guard != 0 knows it interrupted cprof
 *    and passes through / drops the sample.  Signal fences order it with
 *    respect to handlers on the same thread; no other thread reads it.
 *  - in_loader: set by the dlopen/dlclose/dl_iterate_phdr hooks; the CPU
 *    signal handler then avoids libunwind (which would call
 *    dl_iterate_phdr and could invert the loader lock).
 *  - stack_lo/stack_hi: bounds for the frame-pointer and CFI walkers,
 *    written once by the owning thread in a normal context (the main
 *    thread's at start-up: glibc reads /proc/self/maps for it).
 *  - in_alloc: set around calls into an allocator other than glibc's
 *    (alloc_hooks.h); the lock hooks then only forward, so an allocator's
 *    own mutexes never lead to unwinding (and allocating) inside it.
 *  - deferred_sig: set by the SIGTERM/SIGINT handler when it interrupted
 *    the thread inside cprof; guard_leave sends that signal again once the
 *    guard is released (dump.c).  Only the owning thread touches it.
 *  - cpu_sampled: set by the CPU signal handler on the owning thread, read
 *    when the thread ends (cpuprof_thread_ended).
 *  - rec: the thread's registry record (threads.c); NULL before the thread
 *    registered and after its exit destructor ran.
 *  - wait_*: where the thread waits (hooks/waitframe.h).  Written only by
 *    the owning thread around its blocking calls; read by the threads
 *    profile's collector through the registry (threads.h, `ts`), with
 *    wait_seq as a sequence lock (odd: parked in a blocking call).
 *  - labels: the thread's current label set (preload/core/labels.h).
 *    Stored (relaxed) only by the owning thread, through the public API;
 *    loaded by its own signal handler and hooks, and by the threads
 *    profile's collector through the pinned registry record.  It is on the
 *    struct's first line, which a heap sample reads anyway.
 *  - otel_slot, cl_slot: the address of this thread's instance of the
 *    program's OpenTelemetry thread context variable, and of its
 *    custom-labels set pointer, when the program has them;
 *    written once by the owning thread when it registers (labels.c),
 *    read by its signal handler and hooks and by the threads collector.
 *    label_slots says whether either is set, on the first line, so a
 *    heap sample of a program without them reads no other line.
 *
 * The struct is kept small: a dlopen of libcprof (python ctypes) must fit in
 * glibc's surplus static TLS.
 */
#ifndef CPROF_TSTATE_H
#define CPROF_TSTATE_H

#include <stdatomic.h>
#include "common.h"

struct thread_rec;

struct tstate {
	/* The first line: what malloc's fast path and a heap sample read
	 * (the struct is line-aligned, so this is one line a sample finds
	 * cold, not two or three). */
	int64_t heap_left;   /* bytes left before the next heap sample */
	uint32_t guard;      /* > 0 while the thread runs cprof code */
	uint32_t labels;     /* current label set (preload/core/labels.h), 0: none */
	uint8_t seen;        /* first-contact initialisation done */
	uint8_t in_loader;   /* inside the dynamic loader */
	uint8_t exited;      /* exit destructor ran */
	uint8_t resolving;   /* resolving the real symbols (bootstrap) */
	uint8_t in_alloc;    /* inside a non-glibc allocator (lock hooks pass through) */
	uint8_t probe;       /* init's "does malloc reach us" probe: 1 asked, 2 seen */
	uint8_t deferred_sig; /* a fatal signal to send again at guard_leave (dump.c) */
	uint8_t heap_armed;  /* heap_left is a countdown drawn while profiling */
	uint8_t cpu_sampled; /* a CPU sample of this thread entered the ring (cpuprof.c) */
	uint8_t own_alloc;   /* a library call made for cprof is allocating (own_alloc_begin) */
	uint8_t unw_tls;     /* libunwind's TLS block exists on this thread (unwind.c) */
	uint8_t label_slots; /* otel_slot or cl_slot is set (labels.c) */
	uint8_t heap_table;  /* 1 + the heap bucket table of its samples, 0: none yet (heapprof.h) */
	uint64_t rng;        /* xorshift state for the sampler */
	uintptr_t stack_lo, stack_hi;
	/* The rest. */
	void *otel_slot;     /* this thread's otel_thread_ctx_v1, or NULL (labels.h) */
	void *cl_slot;       /* this thread's custom_labels_current_set, or NULL */
	struct thread_rec *rec;
	int tid;
	uint32_t unwinds;    /* normal-context unwinds so far (unwind.c) */
	uint32_t wait_seq;   /* odd while parked in a wrapped blocking call */
	uintptr_t wait_fn;   /* the blocking function (its entry address) */
	uintptr_t wait_pc;   /* return address into its caller */
	uintptr_t wait_sp;   /* the caller's stack pointer after the return */
	uintptr_t wait_fp;   /* the caller's frame pointer */
} __attribute__((aligned(CPROF_CACHELINE)));

extern CPROF_TLS struct tstate cprof_tls;

CPROF_INLINE void guard_enter(void)
{
	cprof_tls.guard++;
	atomic_signal_fence(memory_order_seq_cst);
}

/* Send again the SIGTERM/SIGINT that arrived while the guard was held
 * (dump.c, on_term), as the guard drops to zero.  Async-signal-safe: the
 * guard may be released at the end of a signal handler (a CPU sample). */
void guard_deferred_signal(void);

CPROF_INLINE void guard_leave(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	if (--cprof_tls.guard == 0 && unlikely(cprof_tls.deferred_sig))
		guard_deferred_signal();
}

CPROF_INLINE bool guarded(void)
{
	return cprof_tls.guard != 0;
}

/*
 * Library calls cprof makes on a program thread that allocate behind its
 * back (the loader's block of libunwind's thread-local storage at the
 * first unw_backtrace, pthread_getattr_np's buffer) would put blocks in
 * the program's heap and move the program's own blocks (test_heap,
 * test_program_heap_layout_unchanged).  Between own_alloc_begin and
 * own_alloc_end every malloc, calloc and realloc of NULL is served from
 * the boot pool (hooks/bootpool.h: its blocks
 * are never returned to the program's allocator and their frees are
 * ignored); once the pool is spent they go to the allocator as before.
 * Guard held; normal context.
 */
CPROF_INLINE int64_t own_alloc_begin(void)
{
	int64_t left = cprof_tls.heap_left;
	cprof_tls.heap_left = 0; /* malloc's fast path falls through to the slow path */
	cprof_tls.own_alloc = 1;
	return left;
}

CPROF_INLINE void own_alloc_end(int64_t left)
{
	cprof_tls.own_alloc = 0;
	cprof_tls.heap_left = left;
}

/* Fill in tid, rng seed and stack bounds; called on first contact from a
 * normal context. */
void tstate_first_contact(struct tstate *t);

/* Stack bounds of the calling thread (normal context only). */
void tstate_stack_bounds(struct tstate *t);

int cprof_gettid(void);

#endif
