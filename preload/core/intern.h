/*
 * intern.h - dense ids for keys: the one interning table behind the stack
 * table, the heap buckets, the lock buckets and the CPU sample table.
 *
 * DESIGN
 * A table hands out ids 1, 2, 3 ... for distinct keys and stores one
 * fixed-size record per id, in segments of INTERN_SEG records allocated
 * as ids reach them.  Ids are never removed and a record's key never
 * changes, so a record pointer stays valid for the life of the process.
 * Lookup is by an open-addressing index, at most half full, keyed by a
 * 64-bit hash the caller computes; the caller also says how to compare a
 * record with a key.  A slot (0 = empty) holds the id in its low
 * INTERN_ID_BITS bits and the hash's low 42 bits above them: a probe
 * compares a record only when those bits match (a lookup that misses in
 * a table of cold records reads index lines, not records: a heap sample
 * of a new size compared two or three buckets' records before), and the
 * index doubles from its slots alone, without reading a record.
 *
 * Readers never lock.  intern_find() probes whatever index is published;
 * every id it can see has a complete record and is at most
 * intern_count() (record, segment and count are written before the id is
 * stored into an index slot with release, and readers load slots with
 * acquire).  A reader that raced with growth may
 * probe the previous index and miss an id added since: a miss is only a
 * hint, and the caller confirms it with intern_insert() under its own
 * lock.  Replaced indexes are never unmapped (a reader may still be
 * probing one); they add up to less than the current index.
 *
 * Writers (intern_insert) are serialised by the caller: the stack table
 * and the heap and lock buckets by their spinlocks, the CPU table by
 * dump_lock.  The table itself takes no lock and calls no allocator but
 * pages_alloc/arena_alloc, so it is usable from the hooks' slow paths.
 *
 * Contexts: intern_find, intern_rec and intern_count only load memory and
 * are safe anywhere, signal handlers included; intern_insert runs in
 * normal context with the caller's writer lock held.
 */
#ifndef CPROF_INTERN_H
#define CPROF_INTERN_H

#include <stdatomic.h>
#include "common.h"

#define INTERN_SEG_BITS 12
#define INTERN_SEG (1u << INTERN_SEG_BITS)
#define INTERN_ID_BITS 22
#define INTERN_MAX_IDS (1u << INTERN_ID_BITS)

typedef bool (*intern_eq_fn)(const void *rec, const void *key);
/* Fills the record of a new id; false if it cannot (the id is then not
 * handed out). */
typedef bool (*intern_fill_fn)(void *rec, const void *key);

struct intern {
	/* set once by intern_setup */
	uint32_t rec_size;
	uint32_t max;                 /* ids are < max (<= INTERN_MAX_IDS) */
	uint32_t first_cap;           /* first index capacity (power of 2) */
	/* state */
	/* The published index's address, with log2 of its capacity in the
	 * low bits (an index is page-aligned): a probe learns the mask from
	 * the word it loaded, and reads no header line. */
	_Atomic uintptr_t index;
	void *_Atomic seg[INTERN_MAX_IDS / INTERN_SEG];
	/* Last id handed out; published with release.  The one field every
	 * insert writes has a line of its own: a lookup reads index and seg,
	 * and another thread's insert would otherwise take that line from
	 * its cache each time. */
	_Alignas(CPROF_CACHELINE) _Atomic uint32_t count;
};

void intern_setup(struct intern *t, uint32_t rec_size, uint32_t max, uint32_t first_cap);

/* The record of id (1 <= id <= intern_count(t)). */
CPROF_INLINE void *intern_rec(const struct intern *t, uint32_t id)
{
	char *seg = atomic_load_explicit(&((struct intern *)t)->seg[id >> INTERN_SEG_BITS],
					 memory_order_relaxed);
	return seg + (size_t)(id & (INTERN_SEG - 1)) * t->rec_size;
}

/* Ids run from 1 to intern_count(t); each has a complete record. */
CPROF_INLINE uint32_t intern_count(const struct intern *t)
{
	return atomic_load_explicit(&((struct intern *)t)->count, memory_order_acquire);
}

/* The id of key (hash h), or 0 if the published index does not have it
 * (yet).  Takes no lock. */
uint32_t intern_find(const struct intern *t, uint64_t h, intern_eq_fn eq, const void *key);

/* The id of key, adding it if absent (fill() writes the new record).
 * 0 when the table is full or memory ran out.  Caller holds its writer
 * lock. */
uint32_t intern_insert(struct intern *t, uint64_t h, intern_eq_fn eq, const void *key,
		       intern_fill_fn fill);

#endif
