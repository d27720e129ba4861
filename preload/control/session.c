/*
 * session.c - reading the tables and encoding profiles (see session.h for
 * the design).
 *
 * Invariants:
 *  - A profile's phase goes 0 -> 1 (dump_lock held) -> 2 (symbols_lock
 *    held) -> 0 (neither); s->phase says which lock this thread holds.
 *  - symbols_lock guards everything rendering shares between sessions:
 *    the DWARF sessions of srclines.c and libdw itself.  It is only ever
 *    held by a thread rendering, never across a fork of that thread (the
 *    exit dump runs on a program thread, which does not fork meanwhile),
 *    as abandoned lock classes require (lock.h).
 */
#include <string.h>

#include "session.h"
#include "cpuprof.h"
#include "cpuwin.h"
#include "debugfile.h"
#include "dump.h"
#include "lock.h"
#include "runtime.h"
#include "srclines.h"

static cprof_mutex_t symbols_lock;

static void symbols_abandon(void)
{
	srclines_fork_abandon();
	symbols_fork_abandon();
	debugfile_fork_abandon();
}

CPROF_MUTEX_CLASS_ABANDONED(symbols, LOCK_RANK_SYMBOLS, symbols_lock, symbols_abandon);

void session_begin(struct session *s, struct region *r, bool name_only)
{
	memset(s, 0, sizeof(*s));
	s->r = r;
	s->name_only = name_only;
	if (mappings_collect(&s->ms, r) != 0)
		memset(&s->ms, 0, sizeof(s->ms));
	s->sym = symbolizer_new(r);
}

void session_end(struct session *s)
{
	if (s->sym)
		symbolizer_free(s->sym);
	s->sym = NULL;
}

static void to_render(struct dump_ctx *d)
{
	struct session *s = d->session;
	if (s->phase != 1)
		return;
	if (d->on_gathered)
		d->on_gathered(d, d->on_gathered_arg);
	cprof_mutex_unlock(&dump_lock);
	cprof_mutex_lock(&symbols_lock);
	s->phase = 2;
}

void session_open(struct session *s, struct dump_ctx *d)
{
	cprof_mutex_lock(&dump_lock);
	s->phase = 1;
	d->r = s->r;
	d->ms = &s->ms;
	d->sym = s->sym;
	d->name_only = s->name_only;
	d->session = s;
	d->tables_read = to_render;
	d->now_real_ns = cprof_realtime_ns();
	d->now_mono_ns = cprof_now_ns();
}

void session_close(struct session *s, struct dump_ctx *d)
{
	to_render(d); /* an encoder that failed before it got there */
	cprof_mutex_unlock(&symbols_lock);
	s->phase = 0;
}

int session_proto(struct session *s, const struct profile_kind *k, struct dump_ctx *d,
		  int64_t delta_start_mono, void **buf, size_t *len)
{
	int rc = -1;

	session_open(s, d);
	if (k->bit == PROF_CPU)
		cpuprof_drain();
	struct pb_builder *b = pb_new(s->r, &s->ms, s->sym);
	if (b && k->encode(d, b) == 0) {
		dump_tables_read(d);
		if (d->base && delta_start_mono) /* Go's time is the end, its duration the window */
			pb_set_time(b, d->now_real_ns, d->now_mono_ns - delta_start_mono);
		if (!(rt.profiles & k->bit) && k->bit != PROF_CPU && k->bit != PROF_THREADS)
			pb_add_comment(b, "cprof: this profile is off in this process (CPROF_PROFILES, "
					  "or libcprof.so not first in LD_PRELOAD)");
		rc = pb_finish(b, buf, len);
	}
	session_close(s, d);
	return rc;
}

void session_symbolize(struct session *s, void (*fn)(struct session *s, void *arg), void *arg)
{
	cprof_mutex_lock(&symbols_lock);
	fn(s, arg);
	cprof_mutex_unlock(&symbols_lock);
}

bool session_has_samples(unsigned bits)
{
	struct dump_ctx d = {.cpu_consumer = CPUWIN_FILES};
	cprof_mutex_lock(&dump_lock);
	cpuprof_drain();
	bool any = profiles_have_samples(bits, &d);
	cprof_mutex_unlock(&dump_lock);
	return any;
}

struct prof_snapshot *session_snapshot(unsigned bit, struct region *r)
{
	cprof_mutex_lock(&dump_lock);
	struct prof_snapshot *snap = profile_snapshot(bit, r);
	cprof_mutex_unlock(&dump_lock);
	return snap;
}
