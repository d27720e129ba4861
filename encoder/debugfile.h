/*
 * debugfile.h - finding the separate debug file of a loaded object.
 *
 * Distributions strip their objects and ship the symbol tables and DWARF
 * in separate debug files (Debian's -dbgsym packages, libc6-dbg).  Both
 * readers of those files look for them here, in one order:
 *
 *   1. by build id: <root>/.build-id/<first 2 hex>/<rest>.debug;
 *   2. by the object's .gnu_debuglink name, whose CRC32 must match the
 *      file's: <dir>/<link>, <dir>/.debug/<link>, and, for an object named
 *      by an absolute path, <root><dir>/<link>;
 *
 * where <root> is /usr/lib/debug and <dir> the object's directory.  Only
 * those files on disk are looked at: never debuginfod, which libdw's own
 * search (dwfl_standard_find_debuginfo) ends with, loading libdebuginfod,
 * libcurl and some thirty libraries into the program and connecting to
 * the servers named by DEBUGINFOD_URLS from inside it.
 *
 * Callers: symbols.c (the debug file's .symtab) and srclines.c (its DWARF,
 * handed to libdw as a descriptor).  A caller may reject a candidate that
 * passed the checks here (symbols.c wants one with a .symtab) and ask for
 * the next one.
 *
 * Context: the thread holding the symbols lock (session.h), normal
 * context.  No allocation: the candidate's path lives in the caller's
 * struct debugfile, the file is read through mmap.
 */
#ifndef CPROF_DEBUGFILE_H
#define CPROF_DEBUGFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest build id accepted (bytes). */
#define DEBUGFILE_BUILD_ID_MAX 64

/* What is known of the object whose debug file is wanted. */
struct debugfile_query {
	/* The object's file name as loaded; NULL or "": no .gnu_debuglink
	 * search. */
	const char *obj_path;
	/* Lowercase hex of its NT_GNU_BUILD_ID; NULL or not a valid id
	 * (debugfile_valid_build_id): no search by build id. */
	const char *build_id;
	/* Its .gnu_debuglink file name (NULL, "" or a name with a '/': no
	 * search by link) and the CRC32 that link records. */
	const char *link;
	uint32_t link_crc;
	/* The object's own file, when known: a link candidate that is that
	 * file is passed over (as is one whose path is obj_path). */
	bool have_self;
	dev_t self_dev;
	ino_t self_ino;
	/* Keep the candidate's descriptor open for the caller (srclines.c);
	 * otherwise it is closed once the file is mapped. */
	bool keep_fd;
};

/* One candidate found by debugfile_next(). */
struct debugfile {
	char path[PATH_MAX];
	/* The whole file, mapped read-only (size >= an ELF header).  A
	 * caller keeping the mapping sets addr to NULL; debugfile_next and
	 * debugfile_end otherwise unmap it. */
	const void *addr;
	size_t size;
	dev_t dev;
	ino_t ino;
	/* With keep_fd: the open descriptor (O_CLOEXEC), until taken with
	 * debugfile_take_fd(); -1 otherwise. */
	int fd;
	unsigned next;   /* the next candidate to try (private) */
};

/* Starts a search. */
void debugfile_begin(struct debugfile *f);

/*
 * Releases the previous candidate (what the caller did not keep) and
 * finds the next debug file of q's object, in the order above: a regular
 * file at least an ELF header long, that can be opened and mapped, with
 * the matching CRC32 when found by link.  Returns false when there is
 * none left.  errno is left as the system calls made set it.
 */
bool debugfile_next(struct debugfile *f, const struct debugfile_query *q);

/* The candidate's descriptor, now the caller's to close (-1 without
 * keep_fd). */
int debugfile_take_fd(struct debugfile *f);

/* Ends a search: unmaps and closes what the caller did not keep.  f->path
 * stays readable. */
void debugfile_end(struct debugfile *f);

/* Whether id names a debug file: lowercase hex, whole bytes, from 2 to
 * DEBUGFILE_BUILD_ID_MAX bytes. */
bool debugfile_valid_build_id(const char *id);

/* The fork child, when the symbols lock was held at fork: close the
 * descriptor the other thread held in here. */
void debugfile_fork_abandon(void);

#endif
