/*
 * gzip.c - gzip framing (RFC 1952) of packed profiles, in region memory.
 *
 * The deflate stream is cprof's own (deflate.h: zlib's deflate at level 1
 * was half of the exit dump); zlib gives the CRC-32.  Nothing here
 * allocates outside the dump's region.
 */
#include <string.h>
#include <zlib.h>

#include "deflate.h"
#include "gzip.h"

int gzip_compress(struct region *r, const void *in, size_t n, void **out, size_t *outlen)
{
	static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 /* Unix */};
	if (n > UINT32_MAX)
		return -1;
	size_t cap = sizeof(header) + deflate_bound(n) + 8;
	uint8_t *buf = region_alloc(r, cap);
	if (!buf)
		return -1;
	memcpy(buf, header, sizeof(header));
	size_t len = deflate_raw(r, in, n, buf + sizeof(header), cap - sizeof(header) - 8);
	if (!len)
		return -1;
	uint8_t *t = buf + sizeof(header) + len;
	uint32_t crc = (uint32_t)crc32_z(0, in, n), size = (uint32_t)n;
	memcpy(t, &crc, 4); /* little-endian */
	memcpy(t + 4, &size, 4);
	*out = buf;
	*outlen = sizeof(header) + len + 8;
	return 0;
}
