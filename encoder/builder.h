/*
 * builder.h - assembling one pprof Profile message.
 *
 * DESIGN
 * A builder lives for one profile of one dump, in the dump's region.  The
 * caller declares the sample types, then adds samples (a stack from the
 * stack table, one value per sample type, optional labels); the builder
 * interns strings, turns each distinct PC into a Location (exact address for
 * an interrupted leaf, return address - 1 for callers, docs/profiles.md),
 * resolves its mapping and function name, and emits only the mappings that
 * samples reference (the main program's always, first).  pb_finish() packs
 * the message, with protobuf-c except for the samples, which it writes in
 * the wire format itself (builder.c, "Samples"), and gzips it, into
 * region memory.
 *
 * Every location is symbolized in-process, at dump time, so that a profile
 * reads the same with or without the binaries, here or elsewhere, as a Go
 * profile does: the function (name: readable, as `go tool pprof` shows it
 * by default, demangle.c; system_name: the raw symbol), and, where the
 * object or its debug file has DWARF (srclines.c), the source file and
 * line and every inlined call as its own Line, innermost first.  Mappings
 * say what they hold (has_functions, has_filenames, has_line_numbers,
 * has_inline_frames), so pprof keeps these names instead of re-deriving
 * them; a mapping where nothing was found says nothing, so pprof may still
 * try.  Without a symbol, a PC reads "libfoo.so+0x1230", the start of its
 * function from the unwind tables when known.  Addresses are the objects'
 * own (file) addresses: see addr_shift in builder.c.
 *
 * Context: one thread; not thread-safe.  Samples are added while the
 * caller reads its tables (dump_lock held): pb_add_sample records the
 * stack table node and values, no more.  Locations, and every symbol and
 * line lookup, are made by pb_finish(), which needs the symbols lock
 * (session.h) but no table's.  cprof's own
 * memory comes from the region; libdw and the demangler allocate with
 * malloc under the guard (unprofiled).
 */
#ifndef CPROF_BUILDER_H
#define CPROF_BUILDER_H

#include "arena.h"
#include "mappings.h"
#include "stacktab.h"
#include "symbols.h"

struct pb_value_type {
	const char *type;
	const char *unit;
};

struct pb_label {
	const char *key;
	const char *str;      /* string label, or NULL for a numeric one */
	int64_t num;
	const char *num_unit; /* may be NULL */
};

struct pb_builder;

struct pb_builder *pb_new(struct region *r, struct mapping_set *ms, struct symbolizer *sym);
void pb_set_types(struct pb_builder *b, const struct pb_value_type *types, size_t n,
		  struct pb_value_type period_type, int64_t period, const char *default_type);
void pb_set_time(struct pb_builder *b, int64_t time_nanos, int64_t duration_nanos);
void pb_add_comment(struct pb_builder *b, const char *text);
void pb_set_drop_frames(struct pb_builder *b, const char *regex);

/* Leading frames whose function name matches one of these prefixes are
 * trimmed from every sample (allocator entry points in heap stacks). */
void pb_set_trim_prefixes(struct pb_builder *b, const char *const *prefixes);

/* A sample of stack st.  Samples are written grouped by stack and, within
 * a stack, by `order` (then as added): give close orders to samples whose
 * values are alike, and the profile compresses better (builder.c,
 * "Order"); 0 when there is nothing better. */
int pb_add_sample(struct pb_builder *b, const struct stack *st, uint64_t order, const int64_t *values,
		  const struct pb_label *labels, size_t nlabels);

/* About n samples will be added, each with at most nlabels labels: room
 * for them is taken at once instead of by doubling (a hint; no effect on
 * the result). */
void pb_expect_samples(struct pb_builder *b, size_t n, size_t nlabels);

/* Pack and gzip.  *out lives in the builder's region. */
int pb_finish(struct pb_builder *b, void **out, size_t *outlen);

/* Function name for a pc (used by the symbol endpoint and text dumps). */
const char *pb_pc_name(struct pb_builder *b, uintptr_t pc);

#endif
