/*
 * mappings.h - the objects loaded in the process, as pprof Mappings.
 *
 * DESIGN
 * At dump time (writer thread, normal context) mappings_collect() walks the
 * loaded objects with dl_iterate_phdr and makes one mapping per executable
 * PT_LOAD segment: exact page-granular start/limit/file offset (what
 * /proc/self/maps shows, from which pprof derives the load base), the
 * real path (the main program through /proc/self/exe) and the GNU build id
 * read from the PT_NOTE segments already in memory.  The main program comes
 * first, as pprof requires.
 *
 * Objects unloaded by dlclose would vanish before the next dump, leaving
 * their samples unattributable.  The dlclose hook therefore calls
 * mappings_note_before_close() and mappings_note_after_close() around the
 * real dlclose; objects that disappeared are kept in a "retired" list
 * (cprof's arena, never freed, deduplicated) and appended to every later
 * collection after the live ones, so a PC that no live object covers still
 * finds the file it came from (which is normally still on disk).
 */
#ifndef CPROF_MAPPINGS_H
#define CPROF_MAPPINGS_H

#include <link.h>
#include "arena.h"
#include "common.h"

#define BUILD_ID_HEX_MAX 129

struct mapping {
	uint64_t start, limit, offset;   /* executable segment, page-granular */
	uintptr_t bias;                  /* runtime address - file vaddr */
	const char *path;                /* absolute path, or "[vdso]" */
	char build_id[BUILD_ID_HEX_MAX]; /* lowercase hex, "" if none */
	const void *mem_image;           /* vDSO ELF header, else NULL */
	bool retired;                    /* unloaded by dlclose */
	bool main;                       /* the main program */
	uint64_t pb_id;                  /* profile mapping id (builder) */
};

struct mapping_set {
	struct mapping *v;   /* live ones sorted by start, then retired ones */
	size_t n, nlive;
};

int mappings_collect(struct mapping_set *ms, struct region *r);

/* Remember the main program's path (init, and the fork child). */
void mappings_remember_exe(void);

struct symbolizer;
/* Name of the function at pc in mapping m (main program: through
 * /proc/self/exe first, so a deleted or replaced binary still resolves). */
const char *mappings_symbol(struct symbolizer *sym, const struct mapping *m, uintptr_t pc,
			    uintptr_t *start);

/* The mapping containing pc: live objects win over retired ones. */
struct mapping *mappings_find(const struct mapping_set *ms, uintptr_t pc);

/* dlclose support (program thread, normal context, guard held). */
struct mappings_snapshot;
struct mappings_snapshot *mappings_note_before_close(struct region *r);
void mappings_note_after_close(struct mappings_snapshot *before);

/* Build id of the object mapped with `bias` from its in-memory notes. */
void mappings_build_id(const ElfW(Phdr) *phdr, int phnum, uintptr_t bias, char *out, size_t outlen);

#endif
