/*
 * profiles.h - the profile types cprof writes, and how each is encoded.
 *
 * Each kind turns the runtime's tables into samples of one pprof Profile
 * (docs/profiles.md gives the sample types), on the thread holding
 * dump_lock.  The table below drives files, the HTTP endpoints and the
 * index page alike.
 */
#ifndef CPROF_PROFILES_H
#define CPROF_PROFILES_H

#include "arena.h"
#include "builder.h"
#include "heapprof.h"
#include "mappings.h"
#include "symbols.h"
#include "threadstacks.h"

/*
 * A snapshot of a profile, taken at the start of a ?seconds=N window.
 * Cumulative profiles: counters indexed by bucket id (heap: raw allocs and
 * frees; mutex/block: fixed-point count and delay; threadcreate: count).
 * threads: the stack of every thread then.  Encoding with d->base set
 * subtracts it, giving Go's delta profiles.  Lives in the caller's region
 * (so do the thread names it points to).
 */
struct prof_snapshot {
	unsigned bit;
	uint32_t n;             /* ids 1..n-1 are valid (heap: census indexes) */
	uint64_t (*v)[2];       /* by id; NULL for PROF_HEAP */
	struct heap_counts (*hv)[2]; /* PROF_HEAP: {allocated, freed} by census index */
	struct heap_census heap; /* PROF_HEAP: the buckets hv holds (heapprof.h) */
	struct thread_stack *threads;   /* PROF_THREADS */
	size_t nthreads, cap;
};

struct prof_snapshot *profile_snapshot(unsigned bit, struct region *r);

struct dump_ctx {
	struct region *r;
	struct mapping_set *ms;
	struct symbolizer *sym;
	int64_t now_real_ns;   /* CLOCK_REALTIME at the dump */
	int64_t now_mono_ns;   /* CLOCK_MONOTONIC at the dump */
	/* For cumulative profiles served over a window (?seconds=N): when
	 * non-NULL the kind subtracts this earlier snapshot. */
	const struct prof_snapshot *base;
	bool reset;            /* cpu: start a new window after encoding */
	int cpu_consumer;      /* CPUWIN_FILES or CPUWIN_HTTP */
	bool allocs;           /* heap as the allocs profile: default sample type alloc_space */
	bool inuse_absolute;   /* heap delta as godeltaprof's: allocations since base, in use now */
	bool peak;             /* heap: as it was at the peak of the in-use heap (heap_foreach_peak) */
	bool at_exit;          /* the exit dump's: says so in a comment */
	bool name_only;        /* the command comment names the program, without its arguments */
	/* The session's (session.h): when the tables have all been read, the
	 * encoder calls dump_tables_read(), which runs on_gathered (still
	 * under the tables' lock) and moves on to rendering. */
	void (*tables_read)(struct dump_ctx *d);
	void (*on_gathered)(struct dump_ctx *d, void *arg);
	void *on_gathered_arg;
	void *session;
};

/* Every table this profile needs has been read: what follows only
 * symbolizes and writes (see session.h). */
static inline void dump_tables_read(struct dump_ctx *d)
{
	if (d->tables_read)
		d->tables_read(d);
}

struct profile_kind {
	unsigned bit;          /* PROF_* */
	const char *name;      /* file type and endpoint name */
	int (*encode)(struct dump_ctx *d, struct pb_builder *b);
	/* Files: when set, a dump writes this kind only if it returns true
	 * (heappeak: once a peak was recorded). */
	bool (*wanted)(void);
};

extern const struct profile_kind profile_kinds[];
extern const size_t profile_kinds_count;

const struct profile_kind *profile_kind_by_name(const char *name);

/* Has the process recorded anything the exit dump should keep, in one of
 * the profiles `bits` (dump_lock held, CPU ring drained)?  cpu: a sample,
 * or a lost one, since the files' previous window; heap: an allocation
 * ever sampled; mutex, block: a contention recorded; threadcreate: a
 * thread created; threads: a thread running besides the exiting one (the
 * exiting thread's own stack is only exit()).  The exit dump of a process
 * that recorded nothing (and wrote no set before) writes no file unless
 * CPROF_EMPTY_FILES=1; one
 * that recorded anything writes every profile, so a dump is always a
 * complete set (docs/configuration.md). */
bool profiles_have_samples(unsigned bits, const struct dump_ctx *d);

/* The values of bucket `id` in the base snapshot of a delta profile
 * (zero without one, or if the bucket did not exist then); the heap's
 * are its sums, allocated and freed. */
void profile_base(const struct dump_ctx *d, uint32_t id, uint64_t out[2]);
void profile_heap_base(const struct dump_ctx *d, uint32_t id, struct heap_counts out[2]);

/* Append label set `set`'s pairs (labels.h) to labels[n..cap) as string
 * labels; returns the new count.  The strings are the set's own, which
 * live as long as the process. */
size_t profile_labels(uint32_t set, struct pb_label *labels, size_t n, size_t cap);

/* Comments every profile carries: cprof version, pid, command line. */
void encode_common(struct dump_ctx *d, struct pb_builder *b);

int encode_heap(struct dump_ctx *d, struct pb_builder *b);
/* The heap profile as it was at the peak of the sampled in-use heap
 * (heapprof.h, "Peak"): the file type heappeak, heap?peak=1 over HTTP. */
int encode_heap_peak(struct dump_ctx *d, struct pb_builder *b);
int encode_cpu(struct dump_ctx *d, struct pb_builder *b);
int encode_mutex(struct dump_ctx *d, struct pb_builder *b);
int encode_block(struct dump_ctx *d, struct pb_builder *b);
int encode_threads(struct dump_ctx *d, struct pb_builder *b);
int encode_threadcreate(struct dump_ctx *d, struct pb_builder *b);

#endif
