/*
 * jemalloc.c - jemalloc's non-standard allocation API.
 *
 * mallocx, rallocx, xallocx, sdallocx and dallocx are accounted exactly
 * like malloc, realloc and free when the next allocator provides them
 * (a program linked with or preloading libjemalloc.so.2).
 *
 * Only these five are exported.  nallocx, sallocx and mallctl are left to
 * the allocator: libraries detect jemalloc by looking those up (folly's
 * usingJEMalloc checks mallctl), and must keep seeing the truth when the
 * program's allocator is glibc's.  Without jemalloc the five exports are
 * unreachable except through dlsym probing; they then fail the way jemalloc
 * reports failure (NULL, or the unchanged size for xallocx).
 */
#include <errno.h>

#include "alloc_hooks.h"
#include "real.h"

CPROF_EXPORT void *mallocx(size_t size, int flags)
{
	if (unlikely(!real.mallocx)) {
		real_resolve();
		if (!real.mallocx)
			return NULL;
	}
	return account(ALLOC_CALL(real.mallocx(size, flags)), size);
}

CPROF_EXPORT void *rallocx(void *old, size_t size, int flags)
{
	if (unlikely(!real.rallocx)) {
		real_resolve();
		if (!real.rallocx)
			return NULL;
	}
	heap_live_t sampled = resize_begin(old);
	void *p = ALLOC_CALL(real.rallocx(old, size, flags));
	if (unlikely(sampled))
		resize_end(old, sampled, p == NULL);
	return p ? account(p, size) : p;
}

/* xallocx resizes in place and returns the new usable size; the block is
 * resized (and accounted as a new allocation of `size`) when the result is
 * at least `size`. */
CPROF_EXPORT size_t xallocx(void *p, size_t size, size_t extra, int flags)
{
	if (unlikely(!real.xallocx)) {
		real_resolve();
		if (!real.xallocx)
			return 0;
	}
	heap_live_t sampled = resize_begin(p);
	size_t r = ALLOC_CALL(real.xallocx(p, size, extra, flags));
	bool resized = r >= size;
	if (unlikely(sampled))
		resize_end(p, sampled, !resized);
	if (resized)
		account(p, size);
	return r;
}

CPROF_EXPORT void sdallocx(void *p, size_t size, int flags)
{
	if (unlikely(!real.sdallocx)) {
		real_resolve();
		if (!real.sdallocx)
			return;
	}
	unaccount(p);
	ALLOC_CALL_VOID(real.sdallocx(p, size, flags));
}

CPROF_EXPORT void dallocx(void *p, int flags)
{
	if (unlikely(!real.dallocx)) {
		real_resolve();
		if (!real.dallocx)
			return;
	}
	unaccount(p);
	ALLOC_CALL_VOID(real.dallocx(p, flags));
}
