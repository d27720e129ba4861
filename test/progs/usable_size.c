/*
 * usable_size - malloc_usable_size, realloc and frees of every size keep
 * their meaning: prints the usable size of a range of allocations (the
 * test compares the output with and without cprof) and checks
 * usable >= requested and that the memory is fully usable.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	int bad = 0;
	size_t sizes[] = {0, 1, 7, 8, 15, 16, 24, 100, 1000, 4096, 65536, 1 << 20, 8 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int rep = 0; rep < 200; rep++) {
			size_t n = sizes[i];
			unsigned char *p = malloc(n);
			size_t u = malloc_usable_size(p);
			if (u < n)
				bad++;
			memset(p, 0xab, u);
			p = realloc(p, n * 2 + 1);
			if (malloc_usable_size(p) < n * 2 + 1)
				bad++;
			if (rep == 0)
				printf("size %zu usable %zu\n", n, u);
			free(p);
		}
	}
	void *a = NULL;
	if (posix_memalign(&a, 4096, 10000) != 0 || ((size_t)a & 4095) || malloc_usable_size(a) < 10000)
		bad++;
	free(a);
	a = aligned_alloc(64, 640);
	if (!a || ((size_t)a & 63))
		bad++;
	free(a);
	a = calloc(1000, 1000);
	for (int i = 0; i < 1000000; i++)
		if (((unsigned char *)a)[i])
			bad++;
	free(a);
	printf("bad %d\n", bad);
	return bad != 0;
}
