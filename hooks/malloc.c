/*
 * malloc.c - the interposed C allocation functions.
 *
 * DESIGN
 * Each wrapper calls the next allocator (real.*) and then pays one
 * thread-local subtraction and one well-predicted branch: the byte
 * countdown of sampler.h.  Only when the countdown runs out does it enter
 * heap_alloc_slow(), which decides, captures the stack and records the
 * sample.  free() pays one hash and one load of a read-mostly shard word
 * (heapprof.h) to learn whether the pointer was sampled.
 *
 * No header or padding is added to any allocation: the program's pointers
 * are exactly the allocator's, so malloc_usable_size, realloc and frees
 * that bypass cprof keep working.
 *
 * Contexts: any program thread, any time, including before cprof's
 * constructor (hooks then only forward), from cprof itself (guard held:
 * forward without sampling) and from the program's signal handlers (the
 * program's business; cprof adds no locks on the fast paths).
 *
 * errno: the fast paths do not touch it; heap_alloc_slow saves and restores
 * it, so the program sees exactly the allocator's errno.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "real.h"
#include "bootpool.h"
#include "heapprof.h"
#include "runtime.h"
#include "sampler.h"
#include "tstate.h"
#include "alloc_hooks.h"

/* ---- slow path ----------------------------------------------------------- */

/*
 * The countdown (tstate.h, heap_armed).  A thread's first countdown is
 * drawn by the slow path of the first allocation it makes while profiling
 * runs, for that allocation: heap_left = gap - n, so the allocation is
 * sampled with probability p(n), like every later one.  Nothing else
 * draws it: registering a thread or starting its CPU timer leaves
 * heap_left at 0.  (Sampling the allocation that found heap_left at 0
 * instead would sample every thread's first allocation, with weight
 * rate/n: 1,000 threads making one malloc(32) each came out as 500 MB.)
 *
 * Before the constructor (RT_NONE) no countdown is drawn at all: every
 * allocation comes here and leaves heap_left at 0, so on every thread
 * that allocated before cprof started (a library constructor, a thread it
 * started) the first allocation after the start is counted at the
 * configured rate.  A countdown drawn at the default rate before the
 * start would run on unseen: with CPROF_HEAP_RATE=1 the thread's next
 * half-megabyte, on average, was missing.  The price is this call on each
 * allocation made before cprof starts, and nothing after.
 */
CPROF_COLD void *heap_alloc_slow(void *p, size_t n)
{
	struct tstate *t = &cprof_tls;
	int saved = errno;

	if (unlikely(t->probe == 1))
		t->probe = 2; /* init's probe reached the hook: see check_preloaded */
	if (t->guard || !p) {
		/* cprof's own allocation, or a failed one: no bytes count. */
		t->heap_left += (int64_t)n;
		goto out;
	}
	int state = atomic_load_explicit(&rt.state, memory_order_relaxed);
	uint64_t rate = rt.heap_rate;
	if (state != RT_RUNNING || rate == 0) {
		/* Not started yet: stay unarmed.  Stopped, or no heap profile:
		 * never come back. */
		t->heap_left = state == RT_NONE ? 0 : INT64_MAX;
		t->heap_armed = 0;
		goto out;
	}
	if (unlikely(!t->heap_armed)) {
		if (!t->seen) {
			guard_enter();
			tstate_first_contact(t); /* seeds rng */
			guard_leave();
		}
		t->heap_armed = 1;
		t->heap_left = sampler_next_gap(&t->rng, rate) - (int64_t)n;
		if (t->heap_left > 0)
			goto out;
	}
	t->heap_left = sampler_next_gap(&t->rng, rate);
	guard_enter();
	heap_record_alloc(p, n);
	guard_leave();
out:
	errno = saved;
	return p;
}

CPROF_COLD void forget_sampled(void *p)
{
	if (cprof_tls.guard)
		return; /* re-entered from cprof (or a handler inside it): leave the entry */
	int saved = errno;
	guard_enter();
	heap_forget(heap_take(p));
	guard_leave();
	errno = saved;
}

CPROF_COLD heap_live_t resize_take_slow(void *old)
{
	heap_live_t sampled;
	if (cprof_tls.guard)
		return 0;
	int saved = errno;
	guard_enter();
	sampled = heap_take(old);
	guard_leave();
	errno = saved;
	return sampled;
}

CPROF_COLD void resize_end(void *old, heap_live_t sampled, bool failed)
{
	int saved = errno;
	guard_enter();
	if (failed)
		heap_restore(old, sampled);
	else
		heap_forget(sampled);
	guard_leave();
	errno = saved;
}

/* ---- bootstrap: before the real functions are known ---------------------- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

CPROF_COLD static void *boot_alloc(size_t n, size_t align, bool zero)
{
	if (real_resolve()) {
		/* Resolved now; if the allocator still is not known, fall back to
		 * glibc's own entry points. */
		void *p = align > 16 ? (real.memalign ? real.memalign(align, n) : __libc_memalign(align, n))
				     : (real.malloc ? real.malloc(n) : __libc_malloc(n));
		if (p && zero)
			memset(p, 0, n);
		return p;
	}
	void *p = bootpool_alloc(n, align);
	if (!p)
		errno = ENOMEM;
	return p; /* static pool: already zero */
}

CPROF_COLD static void *realloc_bootpool(void *old, size_t n)
{
	size_t have = bootpool_size(old);
	void *p = malloc(n);
	if (p)
		memcpy(p, old, have < n ? have : n);
	return p;
}

/* ---- the interposed functions -------------------------------------------- */

/*
 * malloc and free are the two hottest functions in most programs, so their
 * fast paths are leaves ending in a tail call to the real allocator (no
 * stack frame, no second return): the countdown is taken before the call,
 * and everything unusual - the sample, bootstrap, a non-glibc allocator,
 * a possibly sampled pointer - is in one out-of-line slow path.
 */
CPROF_COLD static void *malloc_slow(size_t n)
{
	if (unlikely(cprof_tls.own_alloc)) {
		/* Allocated by a library call cprof made (tstate.h,
		 * own_alloc_begin): kept out of the program's heap. */
		void *p = bootpool_alloc(n, 0);
		if (p)
			return p;
	}
	if (unlikely(!real.malloc)) {
		cprof_tls.heap_left += (int64_t)n; /* not yet counted: bootstrap */
		return boot_alloc(n, 0, false);
	}
	void *p = ALLOC_CALL(real.malloc(n));
	if (cprof_tls.heap_left > 0)
		return p; /* here only for the non-glibc allocator bracket */
	return heap_alloc_slow(p, n); /* the countdown is already applied */
}

/* jemalloc or tcmalloc: bracket the call (tstate.h, in_alloc).  Reached
 * by a tail call, so glibc's path through malloc keeps no stack frame. */
CPROF_NOINLINE static void *malloc_foreign(void *(*f)(size_t), size_t n)
{
	cprof_tls.in_alloc++;
	void *p = f(n);
	cprof_tls.in_alloc--;
	return p;
}

CPROF_NOINLINE static void free_foreign(void (*f)(void *), void *p)
{
	cprof_tls.in_alloc++;
	f(p);
	cprof_tls.in_alloc--;
}

CPROF_EXPORT void *malloc(size_t n)
{
	struct tstate *t = &cprof_tls;
	void *(*f)(size_t) = fast_malloc;
	int64_t left = t->heap_left - (int64_t)n;
	t->heap_left = left;
	if (likely(left > 0)) {
		if (likely(f != NULL))
			return f(n);
		if (real.malloc)
			return malloc_foreign(real.malloc, n);
	}
	return malloc_slow(n);
}

CPROF_COLD static void free_slow(void *p)
{
	if (bootpool_owns(p))
		return;
	if (p && heap_maybe_live(p))
		forget_sampled(p);
	if (unlikely(!real.free)) {
		real_resolve();
		if (!real.free) {
			__libc_free(p);
			return;
		}
	}
	ALLOC_CALL_VOID(real.free(p));
}

CPROF_EXPORT void free(void *p)
{
	void (*f)(void *) = fast_free;
	if (likely(!heap_filter_hit((uintptr_t)p))) {
		if (likely(f != NULL))
			return f(p);
		if (real.free && !bootpool_owns(p))
			return free_foreign(real.free, p);
	}
	free_slow(p);
}

CPROF_EXPORT void *calloc(size_t n, size_t m)
{
	size_t total;
	if (unlikely(!real.calloc)) {
		if (__builtin_mul_overflow(n, m, &total)) {
			errno = ENOMEM;
			return NULL;
		}
		return boot_alloc(total, 0, true);
	}
	if (unlikely(cprof_tls.own_alloc) && !__builtin_mul_overflow(n, m, &total)) {
		void *q = bootpool_alloc(total, 0); /* never used before: zero */
		if (q)
			return q;
	}
	void *p = ALLOC_CALL(real.calloc(n, m));
	if (__builtin_mul_overflow(n, m, &total))
		return p; /* NULL: the allocator refused */
	return account(p, total);
}

/*
 * realloc is a free of the old block and an allocation of the new size, as
 * jemalloc's profiler counts it.  A sampled old block leaves the live set
 * before the real call (so the allocator may hand its address to another
 * thread at once) and comes back if the call fails.
 */
CPROF_EXPORT void *realloc(void *old, size_t n)
{
	heap_live_t sampled = 0;
	void *p;

	if (unlikely(bootpool_owns(old)))
		return realloc_bootpool(old, n);
	if (unlikely(cprof_tls.own_alloc) && !old)
		return malloc(n); /* the boot pool, as for malloc (tstate.h) */
	if (unlikely(!real.realloc)) {
		if (!old)
			return boot_alloc(n, 0, false);
		real_resolve();
		if (!real.realloc)
			return __libc_realloc(old, n);
	}
	sampled = resize_begin(old);
	p = ALLOC_CALL(real.realloc(old, n));
	if (unlikely(sampled))
		resize_end(old, sampled, !p && n != 0);
	if (!p)
		return p;
	return account(p, n);
}

CPROF_EXPORT void *reallocarray(void *old, size_t n, size_t m)
{
	size_t total;
	if (__builtin_mul_overflow(n, m, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, total);
}

CPROF_EXPORT void *memalign(size_t align, size_t n)
{
	if (unlikely(!real.memalign))
		return boot_alloc(n, align, false);
	return account(ALLOC_CALL(real.memalign(align, n)), n);
}

CPROF_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (unlikely(!real.posix_memalign)) {
		real_resolve();
		if (!real.posix_memalign) {
			void *p = boot_alloc(n, align, false);
			if (!p)
				return ENOMEM;
			*out = p;
			return 0;
		}
	}
	int r = ALLOC_CALL(real.posix_memalign(out, align, n));
	if (r == 0)
		account(*out, n);
	return r;
}

CPROF_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	if (unlikely(!real.aligned_alloc))
		return boot_alloc(n, align, false);
	return account(ALLOC_CALL(real.aligned_alloc(align, n)), n);
}

CPROF_EXPORT void *valloc(size_t n)
{
	if (unlikely(!real.valloc))
		return boot_alloc(n, 4096, false);
	return account(ALLOC_CALL(real.valloc(n)), n);
}

CPROF_EXPORT void *pvalloc(size_t n)
{
	if (unlikely(!real.pvalloc))
		return boot_alloc((n + 4095) & ~(size_t)4095, 4096, false);
	return account(ALLOC_CALL(real.pvalloc(n)), (n + 4095) & ~(size_t)4095);
}

/* Reads the allocator's metadata and takes no lock (glibc, jemalloc,
 * tcmalloc): a plain tail call, no bracket.  redis calls it on every
 * allocation and free. */
CPROF_EXPORT size_t malloc_usable_size(void *p)
{
	size_t (*f)(void *) = real.malloc_usable_size;
	if (likely(f != NULL) && likely(!bootpool_owns(p)))
		return f(p);
	if (bootpool_owns(p))
		return bootpool_size(p);
	real_resolve();
	return real.malloc_usable_size ? real.malloc_usable_size(p) : 0;
}

/* cfree is a glibc compatibility alias of free; free_sized and
 * free_aligned_sized (C23) may be implemented as free. */
CPROF_EXPORT void cfree(void *p)
{
	free(p);
}

CPROF_EXPORT void free_sized(void *p, size_t n)
{
	(void)n;
	free(p);
}

CPROF_EXPORT void free_aligned_sized(void *p, size_t align, size_t n)
{
	(void)align;
	(void)n;
	free(p);
}
