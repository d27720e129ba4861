/*
 * symbols.h - function names for program counters, read from ELF symbol
 * tables.
 *
 * The pprof encoder asks, for each distinct program counter of a dump,
 * which function contains it.  A symbolizer answers from the symbol tables
 * of the objects the program has loaded: the object's own .symtab, else a
 * separate debug file (found by debugfile.c: by build id under
 * /usr/lib/debug/.build-id, then by .gnu_debuglink), else the object's
 * .dynsym.  The vDSO, which has
 * no file, is read from memory.
 *
 * Context: the thread holding the symbols lock (session.h; normal context,
 * never a signal handler), one thread at a time per symbolizer.  The
 * program's heap is never used: memory comes from the caller's region and
 * files are read through mmap.
 *
 * Lifetime: create with symbolizer_new(r), look up any number of pcs, call
 * symbolizer_free() to unmap the files it mapped, then region_reset(r).
 * Names returned stay valid until region_reset(r).
 */
#ifndef CPROF_SYMBOLS_H
#define CPROF_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* Longest build id accepted (bytes); its hex form needs twice that plus a
 * NUL. */
#define SYMBOLS_BUILD_ID_MAX 64
#define SYMBOLS_BUILD_ID_HEX_MAX (2 * SYMBOLS_BUILD_ID_MAX + 1)

struct symbolizer;

/* The fork child, when the symbols lock was held at fork: close the file
 * the other thread was mapping (its symbolizer is never used again). */
void symbols_fork_abandon(void);

/*
 * A symbolizer whose memory all comes from r; it caches one parsed symbol
 * table per object, keyed by path and build id.  NULL when r is out of
 * memory.
 */
struct symbolizer *symbolizer_new(struct region *r);

/*
 * The name of the function containing runtime address `pc` in the object
 * loaded from `path`, whose runtime addresses are its file virtual
 * addresses plus `bias` (dl_iterate_phdr's dlpi_addr).
 *
 * build_id: lowercase hex of the object's NT_GNU_BUILD_ID, or "" (or NULL)
 *   if unknown.  When given and the file on disk carries a different id
 *   (the file was replaced after it was loaded), the file's own tables are
 *   not trusted and only a debug file found by build id is used.
 * mem_image: non-NULL when the object's ELF image is readable in memory and
 *   has no file (the vDSO, path "[vdso]"); it is then parsed from memory.
 *
 * Returns the raw (mangled) symbol name, NUL-terminated, valid until
 * region_reset; NULL if not found.  *sym_start (sym_start may be NULL)
 * receives the symbol's runtime start address, or 0 when not found.
 */
const char *symbolizer_lookup(struct symbolizer *s, const char *path, uintptr_t bias,
			      const char *build_id, const void *mem_image,
			      uintptr_t pc, uintptr_t *sym_start);

/* Unmaps every file the symbolizer mapped.  Call before region_reset();
 * later lookups return NULL. */
void symbolizer_free(struct symbolizer *s);

/*
 * Reads the NT_GNU_BUILD_ID note of the ELF file at `path` as lowercase hex
 * into out (outlen >= 2 * id length + 1; SYMBOLS_BUILD_ID_HEX_MAX always
 * suffices).  Returns 0, or -1 when the file cannot be read, is not a valid
 * 64-bit little-endian ELF file, has no build id, or out is too small.
 */
int symbols_file_build_id(const char *path, char *out, size_t outlen);

#endif
