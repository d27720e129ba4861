/* Unit test: the stack table (preload/core/stacktab.c): interning, dedup,
 * flags as part of the key, concurrency, and the full-table fallback. */
#include <pthread.h>

#include "../../preload/base/arena.c"
#include "../../preload/core/intern.c"
#include "../../preload/core/stacktab.c"
#include "unit.h"

static void *interner(void *arg)
{
	uintptr_t seed = (uintptr_t)arg;
	uintptr_t pcs[8];
	for (int i = 0; i < 20000; i++) {
		for (int k = 0; k < 8; k++)
			pcs[k] = 0x400000 + (uintptr_t)((i % 5000) * 8 + k);
		uint32_t id = stacktab_intern(pcs, 8, 0);
		const struct stack *s = stacktab_get(id);
		if (!s || s->depth != 8 || memcmp(s->pcs, pcs, sizeof(pcs)) != 0)
			abort();
	}
	(void)seed;
	return NULL;
}

int main(void)
{
	CHECK_EQ(stacktab_init(), 0);
	uint32_t full = stacktab_count();
	CHECK_EQ(full, 1); /* the synthetic "table full" stack */
	CHECK_EQ(stacktab_get(1)->pcs[0], CPROF_PC_STACKTAB_FULL);

	uintptr_t a[3] = {0x401000, 0x402000, 0x403000};
	uint32_t ia = stacktab_intern(a, 3, 0);
	CHECK_EQ(stacktab_intern(a, 3, 0), ia);
	CHECK(stacktab_intern(a, 3, STACK_LEAF_EXACT) != ia);
	CHECK(stacktab_intern(a, 2, 0) != ia);
	const struct stack *s = stacktab_get(ia);
	CHECK_EQ(s->depth, 3);
	CHECK_EQ(s->pcs[2], 0x403000);
	CHECK(stacktab_get(0) == NULL);
	CHECK(stacktab_get(stacktab_count() + 1) == NULL);

	/* Depth is capped at CPROF_MAX_DEPTH. */
	uintptr_t deep[100];
	for (int i = 0; i < 100; i++)
		deep[i] = 0x500000 + (uintptr_t)i;
	CHECK_EQ(stacktab_get(stacktab_intern(deep, 100, 0))->depth, CPROF_MAX_DEPTH);

	uint32_t before = stacktab_count();
	pthread_t th[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, interner, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	/* 5000 distinct stacks, interned once each despite 4 racing threads. */
	CHECK_EQ(stacktab_count() - before, 5000);

	/* Growth to 100k entries keeps every id valid. */
	uintptr_t pc[2];
	for (uintptr_t i = 0; i < 100000; i++) {
		pc[0] = 0x700000 + i;
		pc[1] = 0x1;
		uint32_t id = stacktab_intern(pc, 2, 0);
		if (stacktab_get(id)->pcs[0] != 0x700000 + i) {
			CHECK(0);
			break;
		}
	}
	UNIT_DONE();
}
