/*
 * bootpool.h - memory for dlsym's own allocations during bootstrap.
 *
 * Two kinds of allocations are served from this static pool by the malloc
 * hooks instead of the program's allocator: while the real allocation
 * functions are being resolved (real.c), the resolving thread's
 * re-entrant calls (made by dlsym); and, on any thread, what library calls
 * made for cprof allocate between own_alloc_begin and own_alloc_end
 * (tstate.h: the loader's block of libunwind's TLS, pthread_getattr_np's
 * buffers), some tens of bytes a thread.  Blocks are never returned to
 * any allocator: free() and realloc() recognise them by address, and a
 * spent pool (64 KiB) sends the callers to the allocator.  Allocation is
 * a lock-free bump; any context.
 */
#ifndef CPROF_BOOTPOOL_H
#define CPROF_BOOTPOOL_H

#include "common.h"

#define BOOTPOOL_SIZE (64 * 1024)
extern char bootpool[BOOTPOOL_SIZE] __attribute__((visibility("hidden")));

/* Boot pool blocks are also marked in the heap filter (heapprof.h), so
 * free()'s fast path sends them to its slow path without a range check. */
CPROF_INLINE bool bootpool_owns(const void *p)
{
	return (uintptr_t)p - (uintptr_t)bootpool < BOOTPOOL_SIZE;
}

void *bootpool_alloc(size_t size, size_t align);
size_t bootpool_size(const void *p);

#endif
