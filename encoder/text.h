/*
 * text.h - the legacy text forms of the profiles (Go's ?debug=1 and
 * goroutine?debug=2), and a growable text buffer in region memory.
 *
 * DESIGN
 * Go's net/http/pprof answers ?debug=1 with the text formats runtime/pprof
 * has always written, which pprof still parses (google/pprof
 * profile/legacy_profile.go) and which people read directly:
 *
 *   heap, allocs    "heap profile: I: IB [A: AB] @ heap/2R", then one
 *                   "i: ib [a: ab] @ 0xPC 0xPC..." line per (stack, size
 *                   class) bucket with raw (unscaled) sample counts and
 *                   sampled bytes; pprof scales them with the rate from
 *                   the header and each line's mean size, as it does Go's.
 *   mutex, block    "--- mutex:" / "--- contention:", cycles/second and
 *                   sampling period, then "delay count @ 0xPC..." lines.
 *                   cprof's delays are nanoseconds already unsampled, so
 *                   cycles/second=1000000000 and sampling period=1 make
 *                   pprof read them unchanged.
 *   goroutine,      "NAME profile: total N", then "count @ 0xPC..." per
 *   threadcreate    distinct stack.
 *
 * Every record is followed by "#\t0xADDR\tfunction+0xoff\tobject" lines,
 * one per frame, and a blank line, like Go's printStackRecord.  Addresses
 * on the "@" lines are return addresses (pprof subtracts one); a leaf that
 * is an exact interrupted PC is written plus one so pprof lands on it.  The
 * text ends with "--- Memory map: ---" and /proc/self/maps, which pprof
 * reads as the mappings: with them it symbolizes the text from the
 * binaries on disk, or through /debug/pprof/symbol when it fetched the
 * text from a URL and cannot find a binary.
 *
 * goroutine?debug=2 is the human form of the threads profile: one block
 * per thread, "thread TID [NAME]:" then "function(...)" and
 * "\t/path/of/object+0xOFF" per frame (OFF is the address in the object's
 * own address space, what addr2line -e OBJECT wants).  A thread that
 * could not be asked for its stack shows why in the brackets.
 *
 * Context: the thread holding dump_lock (the tables are read as the
 * binary encoders read them); single-threaded; memory from d->r, never
 * the program's heap.
 */
#ifndef CPROF_TEXT_H
#define CPROF_TEXT_H

#include "profiles.h"

struct text_out {
	struct region *r;
	char *buf;      /* NUL-terminated when len > 0 */
	size_t len, cap;
	bool failed;    /* out of memory: buf holds a prefix */
};

void text_init(struct text_out *o, struct region *r);
void text_putn(struct text_out *o, const char *s, size_t n);
void text_puts(struct text_out *o, const char *s);
/* cprof_fmt's subset; one call formats at most 1 KiB (use text_puts for
 * names, which can be longer). */
void text_printf(struct text_out *o, const char *fmt, ...) CPROF_PRINTF(2, 3);
/* HTML-escape s (&, <, >, ", '). */
void text_put_html(struct text_out *o, const char *s);

/* The legacy forms.  Each returns 0, or -1 when memory ran out. */
int text_heap(struct dump_ctx *d, struct text_out *o);
int text_lock(struct dump_ctx *d, unsigned bit, struct text_out *o);  /* PROF_MUTEX or PROF_BLOCK */
int text_threadcreate(struct dump_ctx *d, struct text_out *o);
int text_threads(struct dump_ctx *d, const char *name, struct text_out *o);
int text_threads_full(struct dump_ctx *d, struct text_out *o);

#endif
