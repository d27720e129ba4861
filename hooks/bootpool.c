/*
 * bootpool.c - the bootstrap pool (see bootpool.h).
 *
 * Invariants: bootpool_used only grows (compare-and-swap); each block has
 * a 16-byte header holding its size; every block's bytes are marked for
 * good in the heap filter, so free()'s fast path sends them to its slow
 * path, which recognises them.
 */
#include "bootpool.h"
#include "heapprof.h"

char bootpool[BOOTPOOL_SIZE] __attribute__((aligned(64)));
static size_t bootpool_used;

/* Each block has a 16-byte header holding its size. */
void *bootpool_alloc(size_t size, size_t align)
{
	if (align < 16)
		align = 16;
	for (;;) {
		size_t used = __atomic_load_n(&bootpool_used, __ATOMIC_RELAXED);
		size_t start = (used + 16 + align - 1) & ~(align - 1);
		if (start + size > BOOTPOOL_SIZE || size > BOOTPOOL_SIZE)
			return NULL;
		if (__atomic_compare_exchange_n(&bootpool_used, &used, start + size, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			*(size_t *)(bootpool + start - 16) = size;
			heap_filter_mark(bootpool + start, size);
			return bootpool + start;
		}
	}
}

size_t bootpool_size(const void *p)
{
	return *(const size_t *)((const char *)p - 16);
}

