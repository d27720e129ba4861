/*
 * profiles.c - the table of profile kinds and what every profile shares.
 */
#include <string.h>

#include "profiles.h"
#include "config.h"
#include "cpuwin.h"
#include "log.h"
#include "runtime.h"
#include "heapprof.h"
#include "labels.h"
#include "lockprof.h"
#include "threads.h"

#ifndef CPROF_VERSION
#error "CPROF_VERSION comes from the Makefile's VERSION"
#endif

const struct profile_kind profile_kinds[] = {
	{PROF_CPU, "cpu", encode_cpu, NULL},
	{PROF_HEAP, "heap", encode_heap, NULL},
	{PROF_HEAP, "heappeak", encode_heap_peak, heap_peak_recorded},
	{PROF_MUTEX, "mutex", encode_mutex, NULL},
	{PROF_BLOCK, "block", encode_block, NULL},
	{PROF_THREADS, "threads", encode_threads, NULL},
	{PROF_THREADCREATE, "threadcreate", encode_threadcreate, NULL},
};
const size_t profile_kinds_count = CPROF_ARRAY_LEN(profile_kinds);

const struct profile_kind *profile_kind_by_name(const char *name)
{
	for (size_t i = 0; i < profile_kinds_count; i++)
		if (strcmp(profile_kinds[i].name, name) == 0)
			return &profile_kinds[i];
	return NULL;
}

static void count_create(uint32_t id, uint32_t stack, uint64_t count, void *arg)
{
	(void)id;
	(void)stack;
	*(uint64_t *)arg += count;
}

static bool has_samples(unsigned bit, const struct dump_ctx *d)
{
	uint64_t created = 0;
	switch (bit) {
	case PROF_CPU: return cpuwin_has_samples(d->cpu_consumer);
	case PROF_HEAP: return heap_bucket_count() > 0;
	case PROF_MUTEX: return lockprof_count(0) > 0;
	case PROF_BLOCK: return lockprof_count(1) > 0;
	case PROF_THREADCREATE:
		threads_foreach_create(count_create, &created);
		return created > 0;
	/* The exiting thread's own stack is exit(): at exit, the profile says
	 * something only about the threads still running. */
	case PROF_THREADS: return threads_others_alive();
	default: return true;
	}
}

bool profiles_have_samples(unsigned bits, const struct dump_ctx *d)
{
	for (size_t i = 0; i < profile_kinds_count; i++)
		if ((bits & profile_kinds[i].bit) && has_samples(profile_kinds[i].bit, d))
			return true;
	return false;
}

struct snap_ctx {
	struct prof_snapshot *s;
};

static void snap_heap(const struct heap_bucket_view *v, void *arg)
{
	struct prof_snapshot *s = arg;
	uint32_t i = heap_census_index(&s->heap, v->id);
	if (i && i < s->n) {
		s->hv[i][0] = v->alloc;
		s->hv[i][1] = v->freed;
	}
}

static void snap_lock(const struct lock_bucket_view *v, void *arg)
{
	struct prof_snapshot *s = arg;
	if (v->id < s->n) {
		s->v[v->id][0] = v->count_fp;
		s->v[v->id][1] = v->delay_ns;
	}
}

static void snap_create(uint32_t id, uint32_t stack, uint64_t count, void *arg)
{
	struct prof_snapshot *s = arg;
	(void)stack;
	if (id < s->n)
		s->v[id][0] = count;
}

size_t profile_labels(uint32_t set, struct pb_label *labels, size_t n, size_t cap)
{
	unsigned np;
	const char *const *kv = labels_pairs(set, &np);
	for (unsigned i = 0; i < np && n < cap; i++, n++)
		labels[n] = (struct pb_label){.key = kv[2 * i], .str = kv[2 * i + 1]};
	return n;
}

struct snap_threads {
	struct prof_snapshot *s;
	struct region *r;
};

static void snap_thread(const struct thread_stack *ts, void *arg)
{
	struct snap_threads *c = arg;
	struct prof_snapshot *s = c->s;
	struct thread_stack *e = region_array_push(c->r, (void **)&s->threads, &s->nthreads, &s->cap,
						   sizeof(*e), 64);
	if (e)
		*e = *ts;
}

struct prof_snapshot *profile_snapshot(unsigned bit, struct region *r)
{
	uint32_t n;
	if (bit == PROF_THREADS) {
		struct prof_snapshot *s = region_alloc(r, sizeof(*s));
		if (!s)
			return NULL;
		memset(s, 0, sizeof(*s));
		s->bit = bit;
		struct snap_threads c = {.s = s, .r = r};
		threadstacks_collect(r, snap_thread, &c);
		return s;
	}
	struct heap_census census = {0};
	switch (bit) {
	case PROF_HEAP:
		heap_census_take(&census);
		n = census.total;
		break;
	case PROF_MUTEX: n = lockprof_count(0); break;
	case PROF_BLOCK: n = lockprof_count(1); break;
	case PROF_THREADCREATE: n = 65536; break;
	default: return NULL;
	}
	struct prof_snapshot *s = region_alloc(r, sizeof(*s));
	if (!s)
		return NULL;
	s->bit = bit;
	s->heap = census;
	s->n = n + 1;
	/* Region memory comes zeroed: buckets without samples stay 0. */
	if (bit == PROF_HEAP)
		s->hv = region_alloc(r, (size_t)s->n * sizeof(s->hv[0]));
	else
		s->v = region_alloc(r, (size_t)s->n * sizeof(s->v[0]));
	if (!s->hv && !s->v)
		return NULL;
	switch (bit) {
	case PROF_HEAP: heap_foreach_bucket(snap_heap, s); break;
	case PROF_MUTEX: lockprof_foreach(0, snap_lock, s); break;
	case PROF_BLOCK: lockprof_foreach(1, snap_lock, s); break;
	case PROF_THREADCREATE: threads_foreach_create(snap_create, s); break;
	default: break;
	}
	return s;
}

/* The base values of bucket `id` (zero if it did not exist then). */
void profile_base(const struct dump_ctx *d, uint32_t id, uint64_t out[2])
{
	out[0] = out[1] = 0;
	if (d->base && d->base->v && id && id < d->base->n) {
		out[0] = d->base->v[id][0];
		out[1] = d->base->v[id][1];
	}
}

void profile_heap_base(const struct dump_ctx *d, uint32_t id, struct heap_counts out[2])
{
	uint32_t i = d->base && d->base->hv ? heap_census_index(&d->base->heap, id) : 0;
	if (i && i < d->base->n) {
		out[0] = d->base->hv[i][0];
		out[1] = d->base->hv[i][1];
	} else {
		memset(out, 0, 2 * sizeof(out[0]));
	}
}

void encode_common(struct dump_ctx *d, struct pb_builder *b)
{
	char buf[4200];
	cprof_fmt(buf, sizeof(buf), "cprof %s, pid %ld", CPROF_VERSION, (long)rt.pid);
	pb_add_comment(b, buf);
	/* Profiles served over HTTP travel on to scrapers' backends, and
	 * command lines carry secrets (Go's profiles carry none): those name
	 * the program only.  Files, written where the user asked, keep the
	 * whole command line to tell runs apart. */
	if (d->name_only && rt.exe_name[0]) {
		cprof_fmt(buf, sizeof(buf), "command: %s", rt.exe_name);
		pb_add_comment(b, buf);
	} else if (!d->name_only && rt.cmdline[0]) {
		cprof_fmt(buf, sizeof(buf), "command: %s", rt.cmdline);
		pb_add_comment(b, buf);
	}
	/* The exit dump runs after every destructor (init.c): in its heap
	 * profile, what is in use is what the program never freed.  `cprof
	 * leaks` looks for this line. */
	if (d->at_exit)
		pb_add_comment(b, "cprof: written at exit, after the program's and its libraries' destructors");
}
