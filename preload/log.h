/*
 * log.h - cprof's messages on stderr and its allocation-free formatter.
 *
 * Every line starts with "cprof: " and is written with one write(2) from a
 * stack buffer: no stdio, no allocation, errno preserved.  Safe from any
 * context except a signal handler that interrupted another log call (lines
 * could interleave, nothing worse).
 *
 * CPROF_QUIET=1 silences every line: cprof_info() (one per file written,
 * where output goes) and cprof_warn() (something cprof could not do) alike,
 * so a quiet program's output is byte for byte what it writes without
 * cprof.  cprof_warn_once() writes a given message at most once per
 * process, keyed by the caller's flag.
 */
#ifndef CPROF_LOG_H
#define CPROF_LOG_H

#include <stdarg.h>
#include <stdatomic.h>
#include "common.h"

/* snprintf subset: %s %c %d %i %u %x %p %% with l/ll/z modifiers, an
 * optional zero-padded width and a precision for strings (%.*s).  Always NUL-terminates; returns the length
 * written (truncated to n - 1). */
size_t cprof_vfmt(char *buf, size_t n, const char *fmt, va_list ap);
size_t cprof_fmt(char *buf, size_t n, const char *fmt, ...) CPROF_PRINTF(3, 4);

void cprof_info(const char *fmt, ...) CPROF_PRINTF(1, 2);
void cprof_warn(const char *fmt, ...) CPROF_PRINTF(1, 2);
void cprof_warn_once(atomic_int *flag, const char *fmt, ...) CPROF_PRINTF(2, 3);

void log_set_quiet(bool quiet);

/* Write all of buf to fd, retrying on EINTR and short writes. */
int cprof_write_all(int fd, const void *buf, size_t len);

/* Read a small file (a /proc entry) into buf, NUL-terminated; returns the
 * bytes read (at most len - 1), or -1.  One open/read/close, no stdio. */
long cprof_read_file(const char *path, char *buf, size_t len);

#endif
