/*
 * stacktab.c - the stack table (see stacktab.h for the design).
 *
 * Invariants:
 *  - The table is an intern table (intern.h) whose record is the pointer
 *    to the stack's node; nodes are complete before their id is
 *    published, immutable after, never freed.
 *  - Lookups take no lock (intern_find); inserts take `lock`, which only
 *    serialises writers.
 */
#include <string.h>

#include "stacktab.h"
#include "arena.h"
#include "intern.h"
#include "lock.h"

static spinlock_t lock;
CPROF_LOCK_CLASS(stacktab, LOCK_RANK_STACKTAB, lock);
static struct intern tab;
static uint32_t full_id;

struct key {
	const uintptr_t *pcs;
	unsigned depth, flags;
	uint64_t hash;
};

static uint64_t hash_stack(const uintptr_t *pcs, unsigned depth, unsigned flags)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ depth ^ ((uint64_t)flags << 32);
	for (unsigned i = 0; i < depth; i++)
		h = cprof_hash64(h ^ pcs[i]) + i;
	return h ? h : 1;
}

static bool node_eq(const void *rec, const void *key)
{
	const struct stack *s = *(struct stack *const *)rec;
	const struct key *k = key;
	return s->hash == k->hash && s->depth == k->depth && s->flags == k->flags &&
	       memcmp(s->pcs, k->pcs, k->depth * sizeof(uintptr_t)) == 0;
}

static bool node_fill(void *rec, const void *key)
{
	const struct key *k = key;
	struct stack *s = arena_alloc(sizeof(*s) + k->depth * sizeof(uintptr_t));
	if (!s)
		return false;
	s->hash = k->hash;
	s->id = intern_count(&tab) + 1;
	s->depth = (uint16_t)k->depth;
	s->flags = (uint16_t)k->flags;
	memcpy(s->pcs, k->pcs, k->depth * sizeof(uintptr_t));
	*(struct stack **)rec = s;
	return true;
}

static void setup(void)
{
	if (!tab.rec_size)
		intern_setup(&tab, sizeof(struct stack *), STACKTAB_MAX, 4096);
}

uint32_t stacktab_intern(const uintptr_t *pcs, unsigned depth, unsigned flags)
{
	struct key k;
	uint32_t id;

	if (depth > CPROF_MAX_DEPTH)
		depth = CPROF_MAX_DEPTH;
	k.pcs = pcs;
	k.depth = depth;
	k.flags = flags;
	k.hash = hash_stack(pcs, depth, flags);
	if ((id = intern_find(&tab, k.hash, node_eq, &k)) != 0)
		return id;
	spin_lock(&lock);
	setup();
	id = intern_insert(&tab, k.hash, node_eq, &k, node_fill);
	spin_unlock(&lock);
	return id ? id : full_id;
}

const struct stack *stacktab_get(uint32_t id)
{
	if (id == 0 || id > intern_count(&tab))
		return NULL;
	return *(struct stack *const *)intern_rec(&tab, id);
}

uint32_t stacktab_count(void)
{
	return intern_count(&tab);
}

uint32_t stacktab_synthetic(uintptr_t pc)
{
	return stacktab_intern(&pc, 1, 0);
}

int stacktab_init(void)
{
	uintptr_t pc = CPROF_PC_STACKTAB_FULL;
	struct key k = {&pc, 1, 0, hash_stack(&pc, 1, 0)};
	spin_lock(&lock);
	setup();
	if (!full_id)
		full_id = intern_insert(&tab, k.hash, node_eq, &k, node_fill);
	spin_unlock(&lock);
	return full_id ? 0 : -1;
}
