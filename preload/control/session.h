/*
 * session.h - reading the profile tables and encoding profiles from them:
 * the one way every dump does it (profile files, dump.c; HTTP answers,
 * endpoints.c).
 *
 * DESIGN
 * A session is one use of the tables: a region (the caller's), the objects
 * loaded in the process (mappings) and a symbolizer.  Each profile made in
 * a session goes through two phases:
 *  - gather, under dump_lock: the kind's encoder reads the tables (the CPU
 *    sample ring drained first) into a builder whose samples hold stack
 *    ids only (builder.h), or into the text writer's records;
 *  - render, under symbols_lock, dump_lock released: every location is
 *    symbolized (ELF symbols, DWARF lines, demangling), the message packed
 *    and gzipped, or the text printed.
 * Rendering is most of a dump's time.  fork's prepare handler takes
 * dump_lock and the table locks but not symbols_lock, an abandoned lock
 * class (lock.h), so a fork waits at most for one gather, never for a
 * render, and a flood of requests cannot stall the program's fork().  A
 * child forked while another thread renders forgets the symbol caches that
 * thread was updating (srclines_fork_abandon, symbols_fork_abandon) and
 * closes the descriptor it held (debugfile_fork_abandon); that session's
 * region is left unused there.
 *
 * Contexts: normal context, reentrancy guard held (cprof's own threads and
 * the exiting thread).  A session belongs to one thread.  No session call
 * may be made with dump_lock or symbols_lock held: they are taken inside.
 */
#ifndef CPROF_SESSION_H
#define CPROF_SESSION_H

#include "arena.h"
#include "mappings.h"
#include "profiles.h"
#include "symbols.h"

struct session {
	struct region *r;
	struct mapping_set ms;
	struct symbolizer *sym;
	bool name_only;     /* served profiles: the command comment without arguments */
	int phase;          /* inside a profile: 0 none, 1 gathering, 2 rendering */
};

/* Begin a session whose memory comes from r. */
void session_begin(struct session *s, struct region *r, bool name_only);
void session_end(struct session *s);

/* Profile kind k, as the gzipped protobuf, into *buf and *len (in the region).
 * d carries the request (base, window, allocs...); its other fields are
 * set here.  With delta_start_mono, a delta profile's time is its end and
 * its duration the window.  d->on_gathered, when set, runs under dump_lock
 * once the tables have been read.  Returns 0, or -1 out of memory. */
int session_proto(struct session *s, const struct profile_kind *k, struct dump_ctx *d,
		  int64_t delta_start_mono, void **buf, size_t *len);

/* Any other encoder (the text forms, text.h): between session_open() and
 * session_close(), d is ready and dump_lock held; the encoder reads the
 * tables, calls dump_tables_read(d) (profiles.h), which lets go of
 * dump_lock and takes symbols_lock, and renders. */
void session_open(struct session *s, struct dump_ctx *d);
void session_close(struct session *s, struct dump_ctx *d);

/* Symbols only (pprof's /symbol): fn runs under symbols_lock. */
void session_symbolize(struct session *s, void (*fn)(struct session *s, void *arg), void *arg);

/* Has anything been recorded for the profiles `bits` (profiles.h,
 * profiles_have_samples; the CPU ring drained first, the files' window)? */
bool session_has_samples(unsigned bits);

/* A snapshot of a cumulative profile (the start of a ?seconds=N window),
 * in r; NULL out of memory. */
struct prof_snapshot *session_snapshot(unsigned bit, struct region *r);

#endif
