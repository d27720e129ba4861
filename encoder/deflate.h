/*
 * deflate.h - a raw deflate stream (RFC 1951) of a buffer, in region
 * memory: greedy LZ77 with one candidate per hash, and per block the
 * cheapest of dynamic Huffman codes, the fixed codes and stored bytes.
 *
 * Why not zlib's deflate: on a heap profile of 23,000 samples (736 KB)
 * zlib at level 1 took half of the whole exit dump (5 to 7 ms); this
 * encoder does the same job several times faster for a file of about the
 * same size (docs/architecture.md, "What cprof writes itself").  zlib
 * still provides the CRC-32 of the gzip trailer, and the tests' inflate.
 *
 * Context: the dump thread (single-threaded, region memory only, no
 * allocation).  Inputs up to 4 GiB.
 */
#ifndef CPROF_DEFLATE_H
#define CPROF_DEFLATE_H

#include "arena.h"

/* Bytes a stream of n input bytes may take at most. */
size_t deflate_bound(size_t n);

/* Writes the stream of in[0..n) into out (cap bytes, at least
 * deflate_bound(n)); returns its length, or 0 when memory ran out. */
size_t deflate_raw(struct region *r, const uint8_t *in, size_t n, uint8_t *out, size_t cap);

#endif
