/*
 * gzip.c - gzip framing of packed profiles with zlib, in region memory.
 *
 * zlib's allocations go to the dump's region (zfree is a no-op: the region
 * is reset after the dump).  Level 1 (Go writes profiles with
 * gzip.BestSpeed too): profiles compress well even so, and the dump of a
 * large stack table stays fast.
 */
#include <string.h>
#include <zlib.h>

#include "gzip.h"

static voidpf zalloc(voidpf opaque, uInt items, uInt size)
{
	return region_alloc(opaque, (size_t)items * size);
}

static void zfree(voidpf opaque, voidpf p)
{
	(void)opaque;
	(void)p;
}

int gzip_compress(struct region *r, const void *in, size_t n, void **out, size_t *outlen)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	z.zalloc = zalloc;
	z.zfree = zfree;
	z.opaque = r;
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	size_t cap = deflateBound(&z, (uLong)n) + 64;
	unsigned char *buf = region_alloc(r, cap);
	if (!buf) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END)
		return -1;
	*out = buf;
	*outlen = len;
	return 0;
}
