/* Unit test: cprof's deflate (encoder/deflate.c) and gzip framing
 * (encoder/gzip.c).  Every stream is inflated by zlib and must give the
 * input back, byte for byte, and fit deflate_bound(): empty and tiny
 * inputs, long runs (the longest match, distance 1), repeats at the edge
 * of the window, incompressible data (stored blocks), skewed symbol
 * frequencies whose optimal codes are longer than deflate's 15 bits,
 * several blocks, records shaped like a profile's samples, and a few
 * hundred random mixtures of those.  The gzip file must carry the right
 * CRC and size (zlib checks both).  Each stream is made again into an
 * output of exactly its length (and must come out the same) and into
 * one byte less (and must fail).  On the profile-shaped records the
 * output must stay within a tenth of zlib's at level 1. */
#include <zlib.h>

#include "../../preload/base/arena.c"
#include "../../encoder/deflate.c"
#include "../../encoder/gzip.c"
#include "unit.h"

static uint64_t rng = 0x243F6A8885A308D3ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int inflate_raw(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *outlen, int wbits)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, wbits) != Z_OK)
		return -1;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int rc = inflate(&z, Z_FINISH);
	*outlen = cap - z.avail_out;
	int left = (int)z.avail_in;
	inflateEnd(&z);
	return rc == Z_STREAM_END && left == 0 ? 0 : -1;
}

static size_t zlib_level1(const uint8_t *in, size_t n)
{
	uLongf len = compressBound(n);
	uint8_t *out = malloc(len);
	compress2(out, &len, in, n, 1);
	free(out);
	return len;
}

static int cases, failed_cases;

static size_t roundtrip(const char *what, const uint8_t *in, size_t n)
{
	struct region r = {0};
	size_t cap = deflate_bound(n);
	uint8_t *out = malloc(cap), *back = malloc(n + 1);
	size_t len = deflate_raw(&r, in, n, out, cap), got = 0;
	cases++;
	if (!len || len > cap || inflate_raw(out, len, back, n + 1, &got, -15) != 0 || got != n ||
	    memcmp(in, back, n) != 0) {
		fprintf(stderr, "%s: %zu bytes: deflate gave %zu (bound %zu), inflate gave %zu\n", what, n,
			len, cap, got);
		failed_cases++;
		unit_failures++;
	}
	/* The same through gzip, whose trailer zlib checks. */
	void *gz;
	size_t gzlen;
	if (gzip_compress(&r, in, n, &gz, &gzlen) != 0 ||
	    inflate_raw(gz, gzlen, back, n + 1, &got, 15 + 16) != 0 || got != n || memcmp(in, back, n) != 0) {
		fprintf(stderr, "%s: gzip of %zu bytes does not read back\n", what, n);
		unit_failures++;
	}
	/* With no room to spare the block writer takes its careful path:
	 * the same stream when it fits exactly, a failure when one byte is
	 * missing. */
	if (len) {
		uint8_t *tight = malloc(len);
		size_t again = deflate_raw(&r, in, n, tight, len);
		if (again != len || memcmp(tight, out, len) != 0 || deflate_raw(&r, in, n, tight, len - 1) != 0) {
			fprintf(stderr, "%s: %zu bytes into exactly %zu: gave %zu\n", what, n, len, again);
			unit_failures++;
		}
		free(tight);
	}
	region_reset(&r);
	free(out);
	free(back);
	return len;
}

/* Kinds of content, appended to buf at p (up to cap). */
static size_t fill_random(uint8_t *buf, size_t p, size_t k)
{
	for (size_t i = 0; i < k; i++)
		buf[p + i] = (uint8_t)next();
	return p + k;
}

static size_t fill_run(uint8_t *buf, size_t p, size_t k)
{
	memset(buf + p, (int)(next() & 0xff), k);
	return p + k;
}

/* A copy of earlier bytes from `back` bytes before. */
static size_t fill_copy(uint8_t *buf, size_t p, size_t k, size_t back)
{
	if (back > p)
		return fill_random(buf, p, k);
	for (size_t i = 0; i < k; i++)
		buf[p + i] = buf[p + i - back];
	return p + k;
}

static size_t put_varint(uint8_t *buf, size_t p, uint64_t v)
{
	while (v >= 0x80) {
		buf[p++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[p++] = (uint8_t)v;
	return p;
}

/* Records like a heap profile's samples: location ids from a few stacks,
 * four values, a size label. */
static size_t fill_samples(uint8_t *buf, size_t p, size_t cap)
{
	static const uint8_t stacks[6][8] = {{1, 2, 3, 4, 5}, {1, 2, 2, 2, 3, 4, 5}, {6, 2, 3, 4, 5},
					     {7, 8, 3, 4, 5}, {6, 2, 2, 3, 4, 5}, {9, 3, 4, 5}};
	while (p + 64 < cap) {
		const uint8_t *st = stacks[next() % 6];
		size_t depth = 0;
		while (depth < 8 && st[depth])
			depth++;
		uint64_t size = 16 + next() % 4000, n = 1 + next() % 3;
		size_t start = p;
		buf[p++] = 0x12; /* sample, length below */
		size_t lenpos = p++;
		buf[p++] = 0x0a;
		buf[p++] = (uint8_t)depth;
		memcpy(buf + p, st, depth);
		p += depth;
		buf[p++] = 0x12;
		size_t vpos = p++;
		p = put_varint(buf, p, n);
		p = put_varint(buf, p, n * size * 512);
		p = put_varint(buf, p, 0);
		p = put_varint(buf, p, 0);
		buf[vpos] = (uint8_t)(p - vpos - 1);
		buf[p++] = 0x1a;
		buf[p++] = 6;
		buf[p++] = 0x08;
		buf[p++] = 7;
		buf[p++] = 0x18;
		p = put_varint(buf, p, size);
		buf[p++] = 0x20;
		buf[p++] = 8;
		buf[lenpos] = (uint8_t)(p - start - 2);
	}
	return p;
}

int main(void)
{
	size_t cap = 4u << 20;
	uint8_t *buf = calloc(1, cap);

	/* Empty and tiny inputs. */
	roundtrip("empty", buf, 0);
	memcpy(buf, "abcabcabc", 9);
	for (size_t n = 1; n <= 9; n++)
		roundtrip("tiny", buf, n);

	/* A long run: matches of 258 at distance 1, then the tail. */
	memset(buf, 'x', 1 << 20);
	size_t len = roundtrip("run", buf, 1 << 20);
	CHECK(len < 3000);
	roundtrip("run + 1", buf, (1 << 20) + 1);

	/* Incompressible: stored blocks, within the bound. */
	fill_random(buf, 0, 300000);
	len = roundtrip("random", buf, 300000);
	CHECK(len <= 300000 + 300000 / 1000 + 64);

	/* Repeats just inside and just outside the 32 KiB window. */
	size_t p = fill_random(buf, 0, 40000);
	p = fill_copy(buf, p, 5000, 32768);
	p = fill_copy(buf, p, 5000, 32769);
	p = fill_copy(buf, p, 3, 100);
	roundtrip("window edges", buf, p);

	/* Skewed frequencies: symbol i about fib(i) times, in random order:
	 * optimal codes would be over 15 bits long. */
	uint64_t f0 = 1, f1 = 1;
	p = 0;
	for (int s = 0; s < 26 && p < cap / 2; s++) {
		for (uint64_t k = 0; k < f0 && p < cap / 2; k++)
			buf[p++] = (uint8_t)(s * 7);
		uint64_t t = f0 + f1;
		f0 = f1;
		f1 = t;
	}
	for (size_t i = p - 1; i > 0; i--) { /* shuffle */
		size_t j = next() % (i + 1);
		uint8_t t = buf[i];
		buf[i] = buf[j];
		buf[j] = t;
	}
	roundtrip("skewed", buf, p);

	/* Profile-shaped records: several blocks, and a size near zlib's. */
	p = fill_samples(buf, 0, cap);
	len = roundtrip("samples", buf, p);
	size_t z1 = zlib_level1(buf, p);
	fprintf(stderr, "samples: %zu bytes -> %zu (zlib level 1: %zu)\n", p, len, z1);
	CHECK(len <= z1 + z1 / 10);

	/* Random mixtures of all of the above, of random sizes. */
	for (int round = 0; round < 300; round++) {
		size_t n = next() % (round < 250 ? 4096 : 400000);
		p = 0;
		while (p < n) {
			size_t k = 1 + next() % (n - p < 3000 ? n - p : 3000);
			switch (next() % 4) {
			case 0: p = fill_random(buf, p, k); break;
			case 1: p = fill_run(buf, p, k); break;
			case 2: p = fill_copy(buf, p, k, 1 + next() % 40000); break;
			default: p = fill_copy(buf, p, k, 1 + next() % 64); break;
			}
		}
		roundtrip("mixture", buf, n);
	}
	fprintf(stderr, "%d streams, %d did not read back\n", cases, failed_cases);
	free(buf);
	UNIT_DONE();
}
