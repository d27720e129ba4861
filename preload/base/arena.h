/*
 * arena.h - cprof's own memory, from mmap, never from the program's heap.
 *
 * Three allocators, one per lifetime:
 *
 *  - pages_alloc/pages_free: whole mappings (tables, ring buffers).  Zeroed.
 *    Any context but a signal handler (mmap itself is async-signal-safe, but
 *    nothing in a handler needs memory).
 *
 *  - pages_alloc_populated: the same, with every page already backed by
 *    memory of its own (MAP_POPULATE), for tables that threads read before
 *    anything is written to them (open-addressing indexes probed without a
 *    lock).  A page of pages_alloc that is read first maps the kernel's
 *    shared zero page; the first write then replaces that entry, and the
 *    kernel must flush it from the TLB of every CPU running the program:
 *    an interrupt to each of them, taken while the writer holds the
 *    table's lock.  Populating costs nothing such a table would not touch
 *    anyway (an index at least a quarter full has an entry on every page).
 *
 *  - arena_alloc: small long-lived objects (stack table nodes, thread
 *    records), bump-allocated from 1 MiB chunks under a spinlock; never
 *    freed.  Zeroed, 16-byte aligned.
 *
 *  - struct region: scratch memory owned by one dump.  Single-threaded by
 *    contract (the thread holding the dump lock); region_reset() unmaps
 *    everything at once.  Zeroed, 16-byte aligned.  A block the dump is
 *    done with can be handed back (region_recycle): later allocations
 *    take it first, its pages already backed (a dump's big buffers are
 *    written once each; a heap profile's gzip stream and compressor
 *    tables take the pages of the samples' staging buffer instead of
 *    faulting in new ones).
 *
 * All return NULL when the kernel refuses memory; callers degrade (stop
 * sampling, skip a dump) rather than fail the program.
 */
#ifndef CPROF_ARENA_H
#define CPROF_ARENA_H

#include "common.h"
#include "lock.h"

void *pages_alloc(size_t size);
void *pages_alloc_populated(size_t size);
void pages_free(void *p, size_t size);

void *arena_alloc(size_t size);
/* Bytes the arena has mapped (for the profiler's own memory report). */
size_t arena_mapped(void);

struct region_chunk;
struct region {
	struct region_chunk *head;
	size_t mapped;
	char *spare;            /* a recycled block, served first */
	size_t spare_left;
};

void *region_alloc(struct region *r, size_t size);
/* p (size bytes, from region_alloc) is no longer used; its first
 * `written` bytes are zeroed again, and later allocations are carved
 * from it while it lasts (the larger of it and the current spare). */
void region_recycle(struct region *r, void *p, size_t size, size_t written);
void *region_realloc(struct region *r, void *old, size_t old_size, size_t new_size);
char *region_strdup(struct region *r, const char *s);
void region_reset(struct region *r);

/* Append one zeroed element of `elem` bytes to the growable array (*v,
 * *n, *cap) in region memory (doubling from `initial`); returns it, or
 * NULL when memory ran out (the array is unchanged). */
void *region_array_push(struct region *r, void **v, size_t *n, size_t *cap, size_t elem,
			size_t initial);

/* fork protection (see init.c). */

#endif
