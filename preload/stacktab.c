/*
 * stacktab.c - the stack table (see stacktab.h for the design).
 *
 * Invariants:
 *  - `index` is an open-addressing array of ids (0 = empty), at most half
 *    full; it is only read and written under `lock`.
 *  - `segs[id >> SEG_BITS][id & SEG_MASK]` points to the node of `id`.
 *    Segments and nodes are written before `count` is published with
 *    release; readers load `count` with acquire, so every id <= count has
 *    a complete node.
 */
#include <string.h>

#include "stacktab.h"
#include "arena.h"
#include "lock.h"

#define SEG_SIZE (1u << STACKTAB_SEG_BITS)
#define SEG_MASK (SEG_SIZE - 1)
#define NSEGS (STACKTAB_MAX / SEG_SIZE)

static spinlock_t lock;
CPROF_LOCK_CLASS(stacktab, LOCK_RANK_STACKTAB, lock);
static uint32_t *index_;
static uint32_t index_mask;
static struct stack **segs[NSEGS];
static uint32_t count;   /* published with release */
static uint32_t full_id;

static uint64_t hash_stack(const uintptr_t *pcs, unsigned depth, unsigned flags)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ depth ^ ((uint64_t)flags << 32);
	for (unsigned i = 0; i < depth; i++)
		h = cprof_hash64(h ^ pcs[i]) + i;
	return h ? h : 1;
}

static bool grow_index(void)
{
	uint32_t newcap = index_ ? (index_mask + 1) * 2 : 4096;
	uint32_t *n = pages_alloc((size_t)newcap * sizeof(uint32_t));
	if (!n)
		return false;
	uint32_t nmask = newcap - 1;
	for (uint32_t id = 1; id <= count; id++) {
		const struct stack *s = segs[id >> STACKTAB_SEG_BITS][id & SEG_MASK];
		uint32_t i = (uint32_t)s->hash & nmask;
		while (n[i])
			i = (i + 1) & nmask;
		n[i] = id;
	}
	if (index_)
		pages_free(index_, (size_t)(index_mask + 1) * sizeof(uint32_t));
	index_ = n;
	index_mask = nmask;
	return true;
}

/* Called with lock held.  Returns 0 when out of memory or ids. */
static uint32_t insert_locked(const uintptr_t *pcs, unsigned depth, unsigned flags,
			      uint64_t h)
{
	uint32_t id = count + 1;

	if (id >= STACKTAB_MAX)
		return 0;
	if (((uint64_t)id * 2 > index_mask + 1 || !index_) && !grow_index())
		return 0;
	struct stack ***seg = &segs[id >> STACKTAB_SEG_BITS];
	if (!*seg) {
		*seg = arena_alloc(SEG_SIZE * sizeof(struct stack *));
		if (!*seg)
			return 0;
	}
	struct stack *s = arena_alloc(sizeof(*s) + depth * sizeof(uintptr_t));
	if (!s)
		return 0;
	s->hash = h;
	s->id = id;
	s->depth = (uint16_t)depth;
	s->flags = (uint16_t)flags;
	memcpy(s->pcs, pcs, depth * sizeof(uintptr_t));
	(*seg)[id & SEG_MASK] = s;

	uint32_t i = (uint32_t)h & index_mask;
	while (index_[i])
		i = (i + 1) & index_mask;
	index_[i] = id;
	__atomic_store_n(&count, id, __ATOMIC_RELEASE);
	return id;
}

uint32_t stacktab_intern(const uintptr_t *pcs, unsigned depth, unsigned flags)
{
	uint64_t h;
	uint32_t id;

	if (depth > CPROF_MAX_DEPTH)
		depth = CPROF_MAX_DEPTH;
	h = hash_stack(pcs, depth, flags);
	spin_lock(&lock);
	if (index_) {
		for (uint32_t i = (uint32_t)h & index_mask; (id = index_[i]) != 0;
		     i = (i + 1) & index_mask) {
			const struct stack *s = segs[id >> STACKTAB_SEG_BITS][id & SEG_MASK];
			if (s->hash == h && s->depth == depth && s->flags == flags &&
			    memcmp(s->pcs, pcs, depth * sizeof(uintptr_t)) == 0) {
				spin_unlock(&lock);
				return id;
			}
		}
	}
	id = insert_locked(pcs, depth, flags, h);
	spin_unlock(&lock);
	return id ? id : full_id;
}

const struct stack *stacktab_get(uint32_t id)
{
	if (id == 0 || id > __atomic_load_n(&count, __ATOMIC_ACQUIRE))
		return NULL;
	return segs[id >> STACKTAB_SEG_BITS][id & SEG_MASK];
}

uint32_t stacktab_count(void)
{
	return __atomic_load_n(&count, __ATOMIC_ACQUIRE);
}

uint32_t stacktab_synthetic(uintptr_t pc)
{
	return stacktab_intern(&pc, 1, 0);
}

int stacktab_init(void)
{
	uintptr_t pc = CPROF_PC_STACKTAB_FULL;
	spin_lock(&lock);
	if (!full_id)
		full_id = insert_locked(&pc, 1, 0, hash_stack(&pc, 1, 0));
	spin_unlock(&lock);
	return full_id ? 0 : -1;
}



