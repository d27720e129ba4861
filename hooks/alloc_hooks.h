/*
 * alloc_hooks.h - what the allocation wrappers (malloc.c, jemalloc.c,
 * cxx.c) share: the countdown test and the slow paths behind it.
 */
#ifndef CPROF_ALLOC_HOOKS_H
#define CPROF_ALLOC_HOOKS_H

#include "heapprof.h"
#include "tstate.h"

#include "real.h"

void *heap_alloc_slow(void *p, size_t n);

/* Call into the next allocator; when it is not glibc's, mark the thread
 * as inside it (see tstate.h, in_alloc).  One predictable branch. */
#define ALLOC_CALL(expr)                                         \
	({                                                       \
		__typeof__(expr) r_;                             \
		if (likely(!alloc_foreign)) {                    \
			r_ = (expr);                             \
		} else {                                         \
			cprof_tls.in_alloc++;                    \
			r_ = (expr);                             \
			cprof_tls.in_alloc--;                    \
		}                                                \
		r_;                                              \
	})
#define ALLOC_CALL_VOID(expr)                                    \
	do {                                                     \
		if (likely(!alloc_foreign)) {                    \
			expr;                                    \
		} else {                                         \
			cprof_tls.in_alloc++;                    \
			expr;                                    \
			cprof_tls.in_alloc--;                    \
		}                                                \
	} while (0)
/* p may be a live sampled pointer: take it out and count the free. */
void forget_sampled(void *p);

/* The countdown test every allocating wrapper pays (sampler.h). */
CPROF_INLINE void *account(void *p, size_t n)
{
	if (unlikely((cprof_tls.heap_left -= (int64_t)n) <= 0))
		return heap_alloc_slow(p, n);
	return p;
}

/* The lookup every freeing wrapper pays (heapprof.h). */
CPROF_INLINE void unaccount(void *p)
{
	if (p && unlikely(heap_maybe_live(p)))
		forget_sampled(p);
}

/* realloc-like resizes: take the old block out of the live set before the
 * real call, then settle once the result is known. */
heap_live_t resize_take_slow(void *old);
CPROF_INLINE heap_live_t resize_begin(void *old)
{
	if (old && unlikely(heap_maybe_live(old)))
		return resize_take_slow(old);
	return 0;
}
void resize_end(void *old, heap_live_t sampled, bool failed);

#endif
