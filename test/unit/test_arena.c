/* Unit test: dump regions (preload/base/arena.c).  Region memory comes
 * zeroed and 16-byte aligned; a block handed back with region_recycle
 * serves later allocations first, zeroed again where it was written and
 * with its pages still backed (no new page faults); an allocation larger
 * than what is left of it comes from a new chunk; a smaller block handed
 * back does not replace a larger spare; region_reset forgets it. */
#include <sys/resource.h>

#include "../../preload/base/arena.c"
#include "unit.h"

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int main(void)
{
	struct region r = {0};
	const size_t big = 2u << 20, written = 1536u << 10;

	/* A staging buffer, written in part, then handed back. */
	unsigned char *stage = region_alloc(&r, big);
	CHECK(stage != NULL);
	CHECK(((uintptr_t)stage & 15) == 0);
	CHECK(all_zero(stage, big));
	memset(stage, 0xab, written);
	region_recycle(&r, stage, big, written);

	/* What comes next is carved from it, zeroed, aligned, and backed. */
	long before = minor_faults();
	unsigned char *a = region_alloc(&r, 100);
	unsigned char *b = region_alloc(&r, 1u << 20);
	long after = minor_faults();
	CHECK(a == stage);
	CHECK(b == stage + 112);
	CHECK(((uintptr_t)b & 15) == 0);
	CHECK(all_zero(a, 100));
	CHECK(all_zero(b, 1u << 20));
	CHECK(after - before <= 2);

	/* Beyond what is left of it: elsewhere; a smaller block handed back
	 * leaves the spare as it is. */
	unsigned char *c = region_alloc(&r, 1u << 20);
	CHECK(c != NULL && (c + (1u << 20) <= stage || c >= stage + big));
	CHECK(all_zero(c, 1u << 20));
	unsigned char *small = region_alloc(&r, 4096);
	region_recycle(&r, small, 4096, 4096);
	unsigned char *d = region_alloc(&r, 64);
	CHECK(d >= stage && d < stage + big);

	region_reset(&r);
	CHECK(r.spare == NULL && r.spare_left == 0 && r.head == NULL);
	unsigned char *e = region_alloc(&r, 64);
	CHECK(e != NULL && all_zero(e, 64));
	region_reset(&r);
	UNIT_DONE();
}
