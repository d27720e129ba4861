/*
 * intern.c - dense ids for keys (see intern.h for the design).
 *
 * Invariants:
 *  - An index is at most half full, so every probe ends at an empty slot;
 *    readers still stop after mask + 1 slots.
 *  - Order of a new id's publication: segment pointer, record, count
 *    (release), index slot (release).  A reader that sees the id, in a
 *    slot or through count, sees the record; an id found in a slot is
 *    never above intern_count().
 *  - Only writers (caller's lock held) store into slots, swap the index or
 *    advance count.
 */
#include <string.h>

#include "intern.h"
#include "arena.h"

#define ID_MASK ((UINT64_C(1) << INTERN_ID_BITS) - 1)
#define HASH_BITS (64 - INTERN_ID_BITS)

void intern_setup(struct intern *t, uint32_t rec_size, uint32_t max, uint32_t first_cap)
{
	t->rec_size = rec_size;
	t->max = max < INTERN_MAX_IDS ? max : INTERN_MAX_IDS;
	t->first_cap = first_cap;
}

/* The hash bits a slot keeps: the low HASH_BITS, which include every bit
 * a position is taken from (indexes have fewer than 2^HASH_BITS slots). */
static inline uint64_t slot_hash(uint64_t h)
{
	return h & ((UINT64_C(1) << HASH_BITS) - 1);
}

static inline uint64_t slot_make(uint64_t h, uint32_t id)
{
	return slot_hash(h) << INTERN_ID_BITS | id;
}

/* t->index: an index's address and capacity in one word (common.h,
 * cprof_sized_make). */
static inline _Atomic uint64_t *ix_addr(uintptr_t v)
{
	return cprof_sized_addr(v);
}

static uint32_t probe(_Atomic uint64_t *x, uint32_t mask, uint64_t h,
		      const struct intern *t, intern_eq_fn eq, const void *key, uint32_t *empty)
{
	uint32_t i = (uint32_t)h & mask;
	uint64_t want = slot_hash(h);
	for (uint32_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
		uint64_t v = atomic_load_explicit(&x[i],
						  memory_order_acquire);
		if (v == 0) {
			if (empty)
				*empty = i;
			return 0;
		}
		uint32_t id = (uint32_t)(v & ID_MASK);
		if ((v >> INTERN_ID_BITS) == want && eq(intern_rec(t, id), key))
			return id;
	}
	return 0;
}

uint32_t intern_find(const struct intern *t, uint64_t h, intern_eq_fn eq, const void *key)
{
	uintptr_t v = atomic_load_explicit(&((struct intern *)t)->index, memory_order_acquire);
	return v ? probe(ix_addr(v), cprof_sized_mask(v), h, t, eq, key, NULL) : 0;
}

/* An index of cap slots (a power of two), page-aligned (see t->index). */
static _Atomic uint64_t *index_new(uint32_t cap)
{
	return pages_alloc_populated((size_t)cap * sizeof(uint64_t));
}

/* Stores slot value v (slot_make) at the first free slot of its chain. */
static void index_put(_Atomic uint64_t *x, uint32_t mask, uint64_t v)
{
	uint32_t i = (uint32_t)(v >> INTERN_ID_BITS) & mask;
	while (atomic_load_explicit(&x[i], memory_order_relaxed))
		i = (i + 1) & mask;
	atomic_store_explicit(&x[i], v, memory_order_release);
}

/* A twice larger index holding the old one's slots, published (as
 * t->index's tagged word, returned; 0 if memory ran out); the old one is
 * left mapped for readers still probing it. */
static uintptr_t grow(struct intern *t, uintptr_t old)
{
	uint32_t cap = old ? (cprof_sized_mask(old) + 1) * 2 : t->first_cap;
	_Atomic uint64_t *x = index_new(cap), *o = ix_addr(old);
	if (!x)
		return 0;
	for (uint32_t i = 0; old && i <= cprof_sized_mask(old); i++) {
		uint64_t v = atomic_load_explicit(&o[i], memory_order_relaxed);
		if (v)
			index_put(x, cap - 1, v);
	}
	uintptr_t v = cprof_sized_make(x, cap);
	atomic_store_explicit(&t->index, v, memory_order_release);
	return v;
}

uint32_t intern_insert(struct intern *t, uint64_t h, intern_eq_fn eq, const void *key,
		       intern_fill_fn fill)
{
	uintptr_t xv = atomic_load_explicit(&t->index, memory_order_relaxed);
	uint32_t n = atomic_load_explicit(&t->count, memory_order_relaxed);
	uint32_t id, empty = UINT32_MAX;

	if (xv && (id = probe(ix_addr(xv), cprof_sized_mask(xv), h, t, eq, key, &empty)) != 0)
		return id;
	id = n + 1;
	if (id >= t->max)
		return 0;
	if (!xv || (uint64_t)id * 2 > (uint64_t)cprof_sized_mask(xv) + 1) {
		if (!(xv = grow(t, xv)))
			return 0;
		empty = UINT32_MAX;
	}
	_Atomic uint64_t *x = ix_addr(xv);
	void *seg = atomic_load_explicit(&t->seg[id >> INTERN_SEG_BITS], memory_order_relaxed);
	if (!seg) {
		seg = arena_alloc((size_t)INTERN_SEG * t->rec_size);
		if (!seg)
			return 0;
		atomic_store_explicit(&t->seg[id >> INTERN_SEG_BITS], seg, memory_order_release);
	}
	void *rec = intern_rec(t, id);
	memset(rec, 0, t->rec_size);
	if (!fill(rec, key))
		return 0;
	atomic_store_explicit(&t->count, id, memory_order_release);
	if (empty == UINT32_MAX)
		index_put(x, cprof_sized_mask(xv), slot_make(h, id));
	else
		atomic_store_explicit(&x[empty], slot_make(h, id), memory_order_release);
	return id;
}
