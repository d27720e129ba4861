/*
 * arena.c - mmap-backed memory for cprof's own data.
 *
 * Invariants:
 *  - Nothing here calls malloc; every byte comes from mmap.
 *  - arena_lock protects (cur, left); it is held for a few instructions and
 *    taken around fork by arena_fork_prepare so a child never inherits it
 *    held.
 *  - Regions are used by one thread at a time (the dump lock's holder), so
 *    they need no lock.
 */
#include <string.h>
#include <sys/mman.h>

#include "arena.h"

#define ARENA_CHUNK (1u << 20)
#define ARENA_BIG (ARENA_CHUNK / 4)
#define PAGE 4096u

static size_t round_up(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

void *pages_alloc(size_t size)
{
	size = round_up(size, PAGE);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void *pages_alloc_populated(size_t size)
{
	size = round_up(size, PAGE);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void pages_free(void *p, size_t size)
{
	if (p)
		munmap(p, round_up(size, PAGE));
}

static spinlock_t arena_lock;
CPROF_LOCK_CLASS(arena, LOCK_RANK_ARENA, arena_lock);
static char *arena_cur;
static size_t arena_left;
static size_t arena_total;

void *arena_alloc(size_t size)
{
	void *p;

	size = round_up(size ? size : 1, 16);
	if (size >= ARENA_BIG) {
		p = pages_alloc(size);
		if (p) {
			spin_lock(&arena_lock);
			arena_total += round_up(size, PAGE);
			spin_unlock(&arena_lock);
		}
		return p;
	}
	spin_lock(&arena_lock);
	if (arena_left < size) {
		char *c = pages_alloc(ARENA_CHUNK);
		if (!c) {
			spin_unlock(&arena_lock);
			return NULL;
		}
		arena_cur = c;
		arena_left = ARENA_CHUNK;
		arena_total += ARENA_CHUNK;
	}
	p = arena_cur;
	arena_cur += size;
	arena_left -= size;
	spin_unlock(&arena_lock);
	return p;
}

size_t arena_mapped(void)
{
	return __atomic_load_n(&arena_total, __ATOMIC_RELAXED);
}




/* ---- regions ---------------------------------------------------------- */

struct region_chunk {
	struct region_chunk *next;
	size_t size;   /* mapped bytes, header included */
	size_t used;   /* bytes used, header included */
};

#define REGION_CHUNK (1u << 20)

void *region_alloc(struct region *r, size_t size)
{
	struct region_chunk *c = r->head;
	size_t hdr = round_up(sizeof(*c), 16);

	size = round_up(size ? size : 1, 16);
	if (size <= r->spare_left) {
		void *p = r->spare;
		r->spare += size;
		r->spare_left -= size;
		return p;
	}
	if (!c || c->size - c->used < size) {
		size_t want = size + hdr > REGION_CHUNK ? round_up(size + hdr, PAGE)
						       : REGION_CHUNK;
		c = pages_alloc(want);
		if (!c)
			return NULL;
		c->size = want;
		c->used = hdr;
		/* Big one-off chunks go behind the head so the head keeps
		 * serving small allocations. */
		if (r->head && want > REGION_CHUNK) {
			c->next = r->head->next;
			r->head->next = c;
		} else {
			c->next = r->head;
			r->head = c;
		}
		r->mapped += want;
	}
	void *p = (char *)c + c->used;
	c->used += size;
	return p;
}

void region_recycle(struct region *r, void *p, size_t size, size_t written)
{
	size &= ~(size_t)15; /* the spare's allocations stay 16-byte aligned */
	if (!p || size <= r->spare_left)
		return;
	memset(p, 0, written < size ? written : size);
	r->spare = p;
	r->spare_left = size;
}

void *region_realloc(struct region *r, void *old, size_t old_size, size_t new_size)
{
	if (new_size <= old_size && old)
		return old;
	void *p = region_alloc(r, new_size);
	if (p && old)
		memcpy(p, old, old_size);
	return p;
}

char *region_strdup(struct region *r, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = region_alloc(r, n);
	if (p)
		memcpy(p, s, n);
	return p;
}

void *region_array_push(struct region *r, void **v, size_t *n, size_t *cap, size_t elem,
			size_t initial)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : initial;
		void *nv = region_realloc(r, *v, *cap * elem, ncap * elem);
		if (!nv)
			return NULL;
		*v = nv;
		*cap = ncap;
	}
	char *x = (char *)*v + (*n)++ * elem;
	memset(x, 0, elem);
	return x;
}

void region_reset(struct region *r)
{
	struct region_chunk *c = r->head;
	while (c) {
		struct region_chunk *next = c->next;
		pages_free(c, c->size);
		c = next;
	}
	r->head = NULL;
	r->mapped = 0;
	r->spare = NULL;
	r->spare_left = 0;
}
