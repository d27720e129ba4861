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
 * the message with protobuf-c and gzips it, into region memory.
 *
 * Names are resolved in-process (symbols.c) and written as both name and
 * system_name, raw (mangled): pprof demangles.  has_functions stays false so
 * pprof still refines names to file:line when it finds the binary, and keeps
 * ours when it does not.  A PC with no symbol reads "libfoo.so+0x1234".
 *
 * Context: the thread holding the dump lock; not thread-safe; no malloc.
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

int pb_add_sample(struct pb_builder *b, const struct stack *st, const int64_t *values,
		  const struct pb_label *labels, size_t nlabels);

/* Pack and gzip.  *out lives in the builder's region. */
int pb_finish(struct pb_builder *b, void **out, size_t *outlen);

/* Function name for a pc (used by the symbol endpoint and text dumps). */
const char *pb_pc_name(struct pb_builder *b, uintptr_t pc);

#endif
