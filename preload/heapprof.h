/*
 * heapprof.h - the heap profile: sampled allocations and the live set.
 *
 * DESIGN
 * Buckets.  A sampled allocation is charged to the bucket (stack id,
 * requested size), as Go keys its heap buckets.  A bucket holds raw sample
 * counts: `allocs` (ever sampled) and `frees` (of those, freed since).  The
 * dump scales them with sampler_scale() into alloc_objects/alloc_space and
 * inuse_objects/inuse_space, so a free subtracts exactly what its
 * allocation added.
 *
 * Live table.  Every sampled pointer that is still allocated is in a hash
 * table (pointer -> bucket id), so frees and reallocs of sampled memory are
 * found exactly; unsampled pointers are not recorded anywhere.  The table is
 * split into 64 shards.  Each shard has a spinlock for writers (sampled
 * allocations and frees only: rare) and a sequence counter so the lookup
 * every free() performs reads without writing shared memory:
 *
 *    empty shard          -> one load, no match possible
 *    otherwise            -> seqlock read: probe, re-check the sequence
 *
 * In front of the table sits a filter small enough to stay in cache: a
 * bitmap of 2^16 bits (8 KiB) indexed by the pointer's page number
 * (address / 4 KiB, modulo 2^16), a bit set while at least one sampled
 * pointer on such a page is live.  free() probes the table only when its
 * bit is set: with S live samples, for about (S * objects per page) /
 * (pages in use) of frees, and never more than S / 65536 once the heap
 * spans more than 256 MiB.  Indexing by page rather than by hash gives
 * the filter the program's own locality: consecutive frees of nearby
 * blocks read the same few filter lines, which stay cached even when the
 * program streams through memory.  Exact
 * 16-bit counts behind the bits (128 KiB, touched only by writers) decide
 * when a bit may clear; bits and counts change under filter_lock, so a
 * bit is never cleared while a count is non-zero (an unlocked add racing a
 * remove could do that, and the pointer's free would be missed).  A count
 * that saturates stays (false positives only).  Both arrays are in .bss:
 * usable before init, pages mapped as they are touched.
 *
 * A pointer can only be in the table while the program owns it, so a free()
 * never races with the insert of the same pointer; the seqlock protects the
 * probe against other pointers moving (backward-shift deletion, growth).
 * Old shard arrays are never unmapped (a reader may still be probing one);
 * growth doubles, so retired arrays cost at most as much as the live ones.
 *
 * Contexts: all functions run on program threads in normal context, from
 * the allocation hooks' slow paths with the guard held, or on the dump
 * thread (heap_foreach_bucket).  No signal handler touches these tables.
 * Every shard lock and the bucket lock are taken around fork.
 */
#ifndef CPROF_HEAPPROF_H
#define CPROF_HEAPPROF_H

#include <stdatomic.h>
#include "common.h"
#include "lock.h"

#define HEAP_SHARDS 64

struct heap_shard {
	atomic_uint seq;        /* odd while a writer modifies the shard */
	atomic_uint live;       /* entries in this shard */
	spinlock_t lock;
	_Atomic(void *) arr;    /* struct live_arr: mask, keys, bucket ids */
} __attribute__((aligned(CPROF_CACHELINE)));

extern struct heap_shard heap_shards[HEAP_SHARDS] __attribute__((visibility("hidden")));

#define HEAP_FILTER_BITS 16
#define HEAP_FILTER_GRAIN 12  /* 4 KiB granules (see above) */
extern uint64_t heap_filter[(1u << HEAP_FILTER_BITS) / 64] __attribute__((visibility("hidden")));

CPROF_INLINE uint32_t heap_filter_index(uintptr_t p)
{
	return (uint32_t)(p >> HEAP_FILTER_GRAIN) & ((1u << HEAP_FILTER_BITS) - 1);
}

/* Is the filter bit of pointer p set? (one load, usually cached) */
CPROF_INLINE bool heap_filter_hit(uintptr_t p)
{
	uint32_t i = heap_filter_index(p);
	return (__atomic_load_n(&heap_filter[i >> 6], __ATOMIC_RELAXED) >> (i & 63)) & 1;
}

/* Fibonacci hashing of a pointer: allocations are 16-byte aligned, and a
 * multiply spreads the remaining bits over the top ones (shard: top 6
 * bits; slot within the shard: the bits below).  Three instructions on
 * free()'s fast path. */
CPROF_INLINE uint64_t heap_ptr_hash(uintptr_t p)
{
	return (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ULL;
}

CPROF_INLINE struct heap_shard *heap_shard_of(uint64_t h)
{
	return &heap_shards[h >> 58];
}

/* Slow part of the lookup: the shard has entries. */
bool heap_lookup_slow(struct heap_shard *s, uintptr_t key, uint64_t h);

/*
 * Fast check made by every free(): is p possibly a live sampled pointer?
 * False means certainly not (the common case, no shared writes).
 */
CPROF_INLINE bool heap_maybe_live(const void *p)
{
	if (likely(!heap_filter_hit((uintptr_t)p)))
		return false;
	uint64_t h = heap_ptr_hash((uintptr_t)p);
	return heap_lookup_slow(heap_shard_of(h), (uintptr_t)p, h);
}

int heap_init(uint64_t rate);

/* Set the filter bits of [p, p + n) for good (the boot pool's blocks, so
 * that free() takes its slow path for them). */
void heap_filter_mark(const void *p, size_t n);

/* A sampled allocation of `size` bytes at p: capture the caller's stack,
 * charge its bucket, remember p.  Caller holds the guard. */
void heap_record_alloc(void *p, size_t size);

/* Remove p from the live set if it is there; returns its bucket id (0 if
 * p was not sampled).  heap_forget() then counts the free; heap_restore()
 * puts p back (a realloc that failed). */
uint32_t heap_take(void *p);
void heap_forget(uint32_t bucket);
void heap_restore(void *p, uint32_t bucket);

struct heap_bucket_view {
	uint32_t id;        /* dense, from 1: stable for the process's life */
	uint32_t stack;
	uint64_t size;
	uint64_t allocs;
	uint64_t frees;
};
typedef void (*heap_bucket_fn)(const struct heap_bucket_view *b, void *arg);
void heap_foreach_bucket(heap_bucket_fn fn, void *arg);
/* Bucket ids run from 1 to heap_bucket_count(). */
uint32_t heap_bucket_count(void);
uint64_t heap_rate(void);
/* Sampled pointers currently tracked (for tests and the index page). */
uint64_t heap_live_count(void);


#endif
