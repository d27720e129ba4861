/*
 * srclines.h - source files, lines and inlined calls for program counters,
 * read from DWARF with elfutils' libdw.
 *
 * DESIGN
 * For each object the program has loaded, a libdw session (Dwfl) is opened
 * the first time a dump asks about one of its addresses and kept for the
 * life of the process, so later dumps pay only for addresses they have not
 * seen: libdw parses compilation units and line tables lazily and keeps
 * them.  The object's DWARF comes from the file itself or its separate
 * debug file (by build id under /usr/lib/debug/.build-id, or
 * .gnu_debuglink), found by debugfile.c where libdw's standard search
 * would look on disk, never through debuginfod.  An object whose file
 * on disk no longer carries the build id it was loaded with is not read
 * (except the main program, read through /proc/self/exe).
 *
 * An address answers with its inline chain, innermost first, as pprof's
 * Location.line wants it: the function the address is in (an inlined
 * function's own name), the file and line of the address; then each caller
 * the inlined code was expanded into, with the file and line of the call,
 * up to the function that was really called.
 *
 * libdw is dlopen'ed (RTLD_LOCAL) on first use, never linked: a program
 * that links its own elfutils keeps its own, and a machine without libdw
 * simply gets no lines.  libdw allocates with malloc; every call is made
 * with the reentrancy guard held (the dump writer's, or the thread holding
 * the dump lock), so those allocations pass straight through the hooks,
 * unprofiled, as libunwind's do.
 *
 * The same sessions give function bounds from the unwind tables
 * (.eh_frame): in an object with no symbol for an address, every address
 * of one function gets one name.
 *
 * Context: only the holder of the symbols lock (session.h; symbolization
 * happens at dump time, never in a signal handler).  Not thread-safe
 * otherwise.  Fork does not wait for that lock: a child forked while
 * another thread was in here calls srclines_fork_abandon() and starts
 * afresh; otherwise it keeps the sessions.
 */
#ifndef CPROF_SRCLINES_H
#define CPROF_SRCLINES_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"

#define SRCLINES_MAX_FRAMES 16

/* The fork child, when the symbols lock was held at fork: forget every
 * session (another thread may have been updating one) and close the
 * descriptors it had open. */
void srclines_fork_abandon(void);

struct src_frame {
	const char *function;   /* linkage (mangled) name, else DW_AT_name; may be NULL */
	const char *file;       /* source file, or NULL */
	int64_t line;           /* 0 if unknown */
	int64_t start_line;     /* declaration line of the function, 0 if unknown */
};

/*
 * The inline chain of runtime address `pc` in the object loaded from
 * `path` with load bias `bias` and build id `build_id` (hex, may be ""),
 * innermost first, into out[0..max).  Strings are copied into r.  Returns
 * the number of frames, 0 when the object has no DWARF for pc (or libdw is
 * not available), -1 on error.  *has_dwarf (may be NULL) tells whether the
 * object has DWARF at all.
 */
int srclines_lookup(struct region *r, const char *path, uintptr_t bias, const char *build_id,
		    uintptr_t pc, struct src_frame *out, int max, bool *has_dwarf);

/*
 * The runtime start address of the function containing pc according to
 * the object's unwind tables (.eh_frame, else .debug_frame), or 0.
 */
uintptr_t srclines_function_start(const char *path, uintptr_t bias, const char *build_id, uintptr_t pc);

/* Whether libdw could be loaded (loads it on first call). */
bool srclines_available(void);

#endif
