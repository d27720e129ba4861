/*
 * gzip.h - gzip-compress a buffer into region memory (deflate.h, no malloc).
 * Context: the dump thread.  Inputs up to 4 GiB.
 */
#ifndef CPROF_GZIP_H
#define CPROF_GZIP_H

#include "arena.h"

int gzip_compress(struct region *r, const void *in, size_t n, void **out, size_t *outlen);

#endif
