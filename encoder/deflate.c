/*
 * deflate.c - raw deflate (see deflate.h for why and the contexts).
 *
 * Matching: a 15-bit hash of the next four bytes indexes the last position
 * that had it; a candidate within the 32 KiB window whose four bytes are
 * equal is extended (eight bytes at a time) up to 258, and taken at once
 * (greedy, as zlib's level 1).  The hash of the match's last position is
 * recorded too, so a run of repeated records keeps finding its latest
 * copy.  Every read of the input stays inside [0, n).
 *
 * Blocks: up to BLOCK_TOKENS tokens (a literal, or a length and a
 * distance), counted as they are made.  At the end of a block its cost is
 * computed three ways, exactly from the counts: dynamic Huffman codes
 * (lengths limited to 15 bits, 7 for the code-length code), the fixed
 * codes, and stored bytes; the cheapest is written.  Stored is therefore
 * an upper bound for every block, which is what deflate_bound() counts on.
 *
 * Invariant of the bit writer: fewer than 32 bits pending between calls;
 * a write that would pass the end of the output sets `full` and writes
 * nothing more (the caller then reports failure).
 */
#include <string.h>

#include "deflate.h"

#define WINDOW 32768
#define HASH_BITS 15
#define BLOCK_TOKENS 65536
#define MIN_MATCH 4
#define MAX_MATCH 258
#define STORED_MAX 65535

#define NLIT 286
#define NDIST 30
#define NCL 19

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
				      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
				      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
				       33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
				       1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
				       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t cl_order[NCL] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

struct bits {
	uint8_t *p, *end;
	uint64_t acc;
	unsigned n;
	bool full;
};

static inline void put(struct bits *b, uint64_t v, unsigned n)
{
	b->acc |= v << b->n;
	b->n += n;
	if (b->n >= 32) {
		if (b->end - b->p >= 4) {
			uint32_t w = (uint32_t)b->acc;
			memcpy(b->p, &w, 4);
			b->p += 4;
		} else {
			b->full = true;
		}
		b->acc >>= 32;
		b->n -= 32;
	}
}

/* Pending bits out, padded to a byte. */
static void align(struct bits *b)
{
	while (b->n) {
		if (b->p < b->end)
			*b->p++ = (uint8_t)b->acc;
		else
			b->full = true;
		b->acc >>= 8;
		b->n = b->n > 8 ? b->n - 8 : 0;
	}
	b->acc = 0;
}

struct huff {
	uint16_t code[288];
	uint8_t len[288];
};

struct enc {
	struct bits b;
	const uint8_t *in;
	uint32_t *tok;
	size_t ntok;
	uint32_t lit[NLIT], dist[NDIST];
	uint64_t extra; /* extra bits of the block's lengths and distances */
	uint8_t len_code[256];
	uint8_t dist_code[512];
	struct huff fixed_lit, fixed_dist;
};

/* ---- Huffman codes ------------------------------------------------------------- */

/* Moffat and Katajainen's in-place minimum-redundancy code: a[0..n)
 * ascending weights in, code lengths out (a[0] the longest); n >= 2. */
static void min_redundancy(uint32_t *a, unsigned n)
{
	unsigned root = 0, leaf = 2;
	a[0] += a[1];
	for (unsigned next = 1; next < n - 1; next++) {
		if (leaf >= n || a[root] < a[leaf]) {
			a[next] = a[root];
			a[root++] = next;
		} else {
			a[next] = a[leaf++];
		}
		if (leaf >= n || (root < next && a[root] < a[leaf])) {
			a[next] += a[root];
			a[root++] = next;
		} else {
			a[next] += a[leaf++];
		}
	}
	a[n - 2] = 0;
	for (int k = (int)n - 3; k >= 0; k--)
		a[k] = a[a[k]] + 1;
	int avail = 1, used = 0, depth = 0, r = (int)n - 2, next = (int)n - 1;
	while (avail > 0) {
		while (r >= 0 && (int)a[r] == depth) {
			used++;
			r--;
		}
		while (avail > used) {
			a[next--] = (uint32_t)depth;
			avail--;
		}
		avail = 2 * used;
		depth++;
		used = 0;
	}
}

static unsigned reverse(unsigned code, unsigned len)
{
	unsigned r = 0;
	while (len--) {
		r = r << 1 | (code & 1);
		code >>= 1;
	}
	return r;
}

/* The canonical codes of h->len[0..n) (RFC 1951 3.2.2), bit-reversed:
 * deflate sends codes from their first bit. */
static void canonical_codes(struct huff *h, unsigned n)
{
	unsigned count[16] = {0}, next[16];
	for (unsigned s = 0; s < n; s++)
		count[h->len[s]]++;
	count[0] = 0;
	unsigned code = 0;
	for (unsigned l = 1; l < 16; l++) {
		code = (code + count[l - 1]) << 1;
		next[l] = code;
	}
	for (unsigned s = 0; s < n; s++)
		if (h->len[s])
			h->code[s] = (uint16_t)reverse(next[h->len[s]]++, h->len[s]);
}

/* Code lengths for freq[0..n) of at most maxbits, and the canonical codes
 * (bit-reversed: deflate sends codes from their first bit).  At least two
 * symbols get a code, so the code is always complete. */
static void huff_build(const uint32_t *freq, unsigned n, unsigned maxbits, struct huff *h)
{
	uint16_t sym[288];
	uint32_t a[288];
	unsigned m = 0;

	memset(h->len, 0, n);
	for (unsigned s = 0; s < n; s++)
		if (freq[s])
			sym[m++] = (uint16_t)s;
	if (m < 2) {
		/* Two codes of one bit: the symbol used (if any) and 0 or 1. */
		unsigned used = m ? sym[0] : 0;
		h->len[used] = 1;
		h->len[used == 0 ? 1 : 0] = 1;
	} else {
		for (unsigned i = 1; i < m; i++) { /* insertion sort, ascending, stable */
			uint16_t s = sym[i];
			unsigned j = i;
			for (; j > 0 && freq[sym[j - 1]] > freq[s]; j--)
				sym[j] = sym[j - 1];
			sym[j] = s;
		}
		for (unsigned i = 0; i < m; i++)
			a[i] = freq[sym[i]];
		min_redundancy(a, m);
		/* Lengths over maxbits: move codes down until the Kraft sum is
		 * exact again, then hand the lengths out shortest to the most
		 * frequent. */
		unsigned count[33] = {0};
		for (unsigned i = 0; i < m; i++)
			count[a[i] > 32 ? 32 : a[i]]++;
		for (unsigned l = maxbits + 1; l <= 32; l++) {
			count[maxbits] += count[l];
			count[l] = 0;
		}
		uint32_t total = 0;
		for (unsigned l = maxbits; l > 0; l--)
			total += count[l] << (maxbits - l);
		while (total != 1u << maxbits) {
			count[maxbits]--;
			for (unsigned l = maxbits - 1; l > 0; l--) {
				if (count[l]) {
					count[l]--;
					count[l + 1] += 2;
					break;
				}
			}
			total--;
		}
		unsigned i = 0;
		for (unsigned l = maxbits; l > 0; l--)
			for (unsigned k = count[l]; k; k--)
				h->len[sym[i++]] = (uint8_t)l;
	}
	canonical_codes(h, n);
}

static uint64_t cost(const uint32_t *freq, const uint8_t *len, unsigned n)
{
	uint64_t c = 0;
	for (unsigned s = 0; s < n; s++)
		c += (uint64_t)freq[s] * len[s];
	return c;
}

/* Run-length coding of the code lengths (symbols 16, 17, 18). */
static size_t rle_lengths(const uint8_t *lens, size_t n, uint8_t *sym, uint8_t *extra)
{
	size_t k = 0;
	for (size_t i = 0; i < n;) {
		uint8_t l = lens[i];
		size_t run = 1;
		while (i + run < n && lens[i + run] == l)
			run++;
		i += run;
		if (l == 0) {
			while (run >= 11) {
				size_t r = run > 138 ? 138 : run;
				sym[k] = 18;
				extra[k++] = (uint8_t)(r - 11);
				run -= r;
			}
			if (run >= 3) {
				sym[k] = 17;
				extra[k++] = (uint8_t)(run - 3);
				run = 0;
			}
		} else {
			sym[k] = l;
			extra[k++] = 0;
			run--;
			while (run >= 3) {
				size_t r = run > 6 ? 6 : run;
				sym[k] = 16;
				extra[k++] = (uint8_t)(r - 3);
				run -= r;
			}
		}
		while (run--) {
			sym[k] = l;
			extra[k++] = 0;
		}
	}
	return k;
}

/* ---- blocks ------------------------------------------------------------------------ */

/* The fixed codes: lengths 8, 9, 7, 8 as RFC 1951 3.2.6 gives them, and
 * 5 bits for every distance, numbered canonically. */
static void fixed_codes(struct huff *lit, struct huff *dist)
{
	for (unsigned s = 0; s < 288; s++)
		lit->len[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
	for (unsigned s = 0; s < NDIST; s++)
		dist->len[s] = 5;
	canonical_codes(lit, 288);
	canonical_codes(dist, NDIST);
}

/* A token's codes as one bit string (returned, *k bits: at most
 * 15 + 5 + 15 + 13 = 48): a literal's code, or a length's code and extra
 * bits (from the per-block tables lbits/lnbits) then the distance's. */
static inline uint64_t token_code(const struct enc *e, const struct huff *lit, const struct huff *dist,
				  const uint32_t *lbits, const uint8_t *lnbits, uint32_t t, unsigned *k)
{
	if (t < 256) {
		*k = lit->len[t];
		return lit->code[t];
	}
	unsigned l = (t >> 16) & 0xff, d = t & 0x7fff;
	unsigned dc = d < 256 ? e->dist_code[d] : e->dist_code[256 + (d >> 7)];
	*k = lnbits[l] + dist->len[dc] + dist_extra[dc];
	return lbits[l] | (dist->code[dc] | (uint64_t)(d + 1 - dist_base[dc]) << dist->len[dc]) << lnbits[l];
}

/* The block's tokens and its end code; room: bytes the block takes at
 * most, 8 to spare included (the fast loop below needs that room). */
static void write_tokens(struct enc *e, const struct huff *lit, const struct huff *dist,
			 size_t room)
{
	struct bits *b = &e->b;
	/* Each length's code and extra bits as one write (at most 20 bits). */
	uint32_t lbits[256];
	uint8_t lnbits[256];
	for (unsigned l = 0; l < 256; l++) {
		unsigned lc = e->len_code[l];
		lbits[l] = lit->code[257 + lc] | (uint32_t)(l + 3 - len_base[lc]) << lit->len[257 + lc];
		lnbits[l] = (uint8_t)(lit->len[257 + lc] + len_extra[lc]);
	}
	size_t i = 0;
	unsigned k;
	if ((size_t)(b->end - b->p) >= room) {
		/* The block fits with 8 bytes to spare: a token is shifted
		 * into a 64-bit word stored whole, the pointer moved by the
		 * whole bytes in it (at most 7 bits stay pending, and a token
		 * adds at most 48). */
		uint8_t *p = b->p;
		uint64_t acc = b->acc;
		unsigned n = b->n;
		for (; n >= 8; n -= 8, acc >>= 8)
			*p++ = (uint8_t)acc;
		for (; i < e->ntok; i++) {
			acc |= token_code(e, lit, dist, lbits, lnbits, e->tok[i], &k) << n;
			n += k;
			memcpy(p, &acc, 8);
			p += n >> 3;
			acc >>= n & ~7u;
			n &= 7;
		}
		b->p = p;
		b->acc = acc;
		b->n = n;
	}
	/* Without that room: through put(), which stops at the end (at most
	 * 32 bits a call). */
	for (; i < e->ntok && !b->full; i++) {
		uint64_t v = token_code(e, lit, dist, lbits, lnbits, e->tok[i], &k);
		if (k > 32) {
			put(b, v & 0xffffffffu, 32);
			v >>= 32;
			k -= 32;
		}
		put(b, v, k);
	}
	put(b, lit->code[256], lit->len[256]);
}

static void write_stored(struct enc *e, const uint8_t *raw, size_t n, bool last)
{
	struct bits *b = &e->b;
	do {
		size_t k = n > STORED_MAX ? STORED_MAX : n;
		put(b, last && k == n, 1);
		put(b, 0, 2);
		align(b);
		put(b, k, 16);
		put(b, k ^ 0xffff, 16);
		align(b);
		if ((size_t)(b->end - b->p) < k) {
			b->full = true;
			return;
		}
		memcpy(b->p, raw, k);
		b->p += k;
		raw += k;
		n -= k;
	} while (n);
}

static void end_block(struct enc *e, const uint8_t *raw, size_t rawlen, bool last)
{
	struct huff lit, dist, cl;
	const struct huff *flit = &e->fixed_lit, *fdist = &e->fixed_dist;
	uint8_t lens[NLIT + NDIST], sym[NLIT + NDIST], extra[NLIT + NDIST];
	uint32_t clf[NCL] = {0};

	e->lit[256] = 1;
	huff_build(e->lit, NLIT, 15, &lit);
	huff_build(e->dist, NDIST, 15, &dist);
	unsigned hlit = NLIT, hdist = NDIST, hclen = NCL;
	while (hlit > 257 && !lit.len[hlit - 1])
		hlit--;
	while (hdist > 1 && !dist.len[hdist - 1])
		hdist--;
	memcpy(lens, lit.len, hlit);
	memcpy(lens + hlit, dist.len, hdist);
	size_t nsym = rle_lengths(lens, hlit + hdist, sym, extra);
	for (size_t i = 0; i < nsym; i++)
		clf[sym[i]]++;
	huff_build(clf, NCL, 7, &cl);
	while (hclen > 4 && !cl.len[cl_order[hclen - 1]])
		hclen--;

	uint64_t dyn = 3 + 14 + 3 * (uint64_t)hclen + cost(clf, cl.len, NCL) + 2 * clf[16] +
		       3 * clf[17] + 7 * clf[18] + cost(e->lit, lit.len, NLIT) +
		       cost(e->dist, dist.len, NDIST) + e->extra;
	uint64_t fix = 3 + cost(e->lit, flit->len, NLIT) + cost(e->dist, fdist->len, NDIST) + e->extra;
	uint64_t stored = ((uint64_t)rawlen + 5 * (rawlen / STORED_MAX + 1)) * 8 + 7;

	struct bits *b = &e->b;
	if (stored <= dyn && stored <= fix) {
		write_stored(e, raw, rawlen, last);
	} else if (fix <= dyn) {
		put(b, last, 1);
		put(b, 1, 2);
		write_tokens(e, flit, fdist, (size_t)(fix / 8) + 16);
	} else {
		put(b, last, 1);
		put(b, 2, 2);
		put(b, hlit - 257, 5);
		put(b, hdist - 1, 5);
		put(b, hclen - 4, 4);
		for (unsigned i = 0; i < hclen; i++)
			put(b, cl.len[cl_order[i]], 3);
		for (size_t i = 0; i < nsym; i++) {
			put(b, cl.code[sym[i]], cl.len[sym[i]]);
			if (sym[i] >= 16)
				put(b, extra[i], sym[i] == 16 ? 2 : sym[i] == 17 ? 3 : 7);
		}
		write_tokens(e, &lit, &dist, (size_t)(dyn / 8) + 16);
	}
	e->ntok = 0;
	e->extra = 0;
	memset(e->lit, 0, sizeof(e->lit));
	memset(e->dist, 0, sizeof(e->dist));
}

/* ---- matching ---------------------------------------------------------------------- */

static void tables(struct enc *e)
{
	for (unsigned c = 0; c < 29; c++)
		for (unsigned l = len_base[c] - 3u; l < len_base[c] - 3u + (1u << len_extra[c]) && l < 256; l++)
			e->len_code[l] = (uint8_t)c;
	e->len_code[255] = 28; /* 258 has a code of its own */
	for (unsigned c = 0; c < NDIST; c++) {
		unsigned lo = dist_base[c] - 1u, hi = lo + (1u << dist_extra[c]);
		for (unsigned d = lo; d < hi; d += d < 256 ? 1 : 128)
			e->dist_code[d < 256 ? d : 256 + (d >> 7)] = (uint8_t)c;
	}
}

static inline uint32_t load32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t hash4(uint32_t v)
{
	return (v * 2654435761u) >> (32 - HASH_BITS);
}

static inline void literal(struct enc *e, uint8_t c)
{
	e->tok[e->ntok++] = c;
	e->lit[c]++;
}

/* Ends the block [*start, pos) once it holds BLOCK_TOKENS tokens. */
static inline void block_boundary(struct enc *e, const uint8_t *in, size_t *start, size_t pos)
{
	if (e->ntok == BLOCK_TOKENS) {
		end_block(e, in + *start, pos - *start, false);
		*start = pos;
	}
}

size_t deflate_bound(size_t n)
{
	return n + (n >> 10) + 128;
}

size_t deflate_raw(struct region *r, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	if (n > UINT32_MAX)
		return 0;
	struct enc *e = region_alloc(r, sizeof(*e));
	uint32_t *table = region_alloc(r, sizeof(uint32_t) << HASH_BITS);
	uint32_t *tok = region_alloc(r, sizeof(uint32_t) * BLOCK_TOKENS);
	if (!e || !table || !tok)
		return 0;
	memset(e, 0, sizeof(*e));
	memset(table, 0, sizeof(uint32_t) << HASH_BITS);
	e->b = (struct bits){.p = out, .end = out + cap};
	e->in = in;
	e->tok = tok;
	tables(e);
	fixed_codes(&e->fixed_lit, &e->fixed_dist);

	size_t pos = 0, start = 0;
	while (pos + MIN_MATCH <= n) {
		uint32_t cur = load32(in + pos);
		uint32_t h = hash4(cur);
		size_t cand = table[h];
		table[h] = (uint32_t)pos;
		size_t dist = pos - cand;
		if (dist - 1 < WINDOW && load32(in + cand) == cur) {
			size_t max = n - pos < MAX_MATCH ? n - pos : MAX_MATCH;
			size_t len = MIN_MATCH;
			while (len + 8 <= max) {
				uint64_t x = load64(in + cand + len) ^ load64(in + pos + len);
				if (x) {
					len += (size_t)__builtin_ctzll(x) / 8;
					goto found;
				}
				len += 8;
			}
			while (len < max && in[cand + len] == in[pos + len])
				len++;
found:;
			unsigned lc = e->len_code[len - 3], d = (unsigned)dist - 1;
			unsigned dc = d < 256 ? e->dist_code[d] : e->dist_code[256 + (d >> 7)];
			tok[e->ntok++] = 1u << 31 | (unsigned)(len - 3) << 16 | d;
			e->lit[257 + lc]++;
			e->dist[dc]++;
			e->extra += len_extra[lc] + dist_extra[dc];
			pos += len;
			if (pos - 1 + MIN_MATCH <= n)
				table[hash4(load32(in + pos - 1))] = (uint32_t)(pos - 1);
		} else {
			literal(e, in[pos++]);
		}
		block_boundary(e, in, &start, pos);
	}
	while (pos < n) { /* the last bytes, too few to hash */
		literal(e, in[pos++]);
		block_boundary(e, in, &start, pos);
	}
	end_block(e, in + start, pos - start, true);
	align(&e->b);
	return e->b.full ? 0 : (size_t)(e->b.p - out);
}
