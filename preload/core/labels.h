/*
 * labels.h - profiler labels: interned key=value sets and each thread's
 * current one (the public API is preload/base/cprof.h).
 *
 * DESIGN
 * A label set is interned once (intern.h) into a dense id from 1; id 0 is
 * the empty set.  The record holds the pairs sorted by key, one value per
 * key, in cprof's own memory (arena.c), never freed, so an id names the
 * same pairs for the life of the process and a record read by id needs no
 * lock.  Making a set current is one relaxed store of the id into the
 * thread's tstate (`labels`, initial-exec TLS): nothing shared, no lock,
 * nothing to undo when a thread ends or forks.
 *
 * Each profile carries the id in its key, so samples under different sets
 * are different samples:
 *  - cpu: the signal handler copies the interrupted thread's id into the
 *    ring cell (a plain load of its own TLS: async-signal-safe); the
 *    table is keyed by (stack, thread name, labels).
 *  - heap: the bucket is (stack, size class, labels) of the allocating thread,
 *    so inuse keeps the labels of the allocation whoever frees it.
 *  - mutex: the labels of the unlocking thread, whose stack is recorded;
 *    block: the waiter's.
 *  - threads: the set current on each thread when the collector looks.
 * The encoder turns an id into one string Label per pair.
 *
 * Limits: LABELS_MAX_SETS sets, LABELS_MAX_BYTES of pairs in all; past
 * either, intern returns 0 and says so once.  Keys cprof puts on samples
 * itself (thread, tid, bytes, cprof_lost) are dropped from a set, so a
 * sample never has two values for them.
 *
 * OpenTelemetry thread context (OTEP 4947).  An OpenTelemetry SDK may
 * publish the active span in the thread-local pointer otel_thread_ctx_v1,
 * exported by the program or one of its libraries: it points to a record
 * that starts with the trace id (16 bytes), the span id (8) and a `valid`
 * byte (1 when the record may be read).  The address of a TLS variable
 * differs per thread: at start, dlsym gives the starting thread's, and
 * dl_iterate_phdr the module and the offset in its TLS block; each thread
 * cprof registers then takes its own from its module's block as
 * dl_iterate_phdr reports it, which allocates nothing (a thread whose
 * block does not exist yet, for a module with dynamic TLS, gets none),
 * into tstate.otel_slot.  A
 * sample then reads the record with process_vm_readv on its own process,
 * a system call that fails with EFAULT on a bad address instead of
 * faulting, so a stale record pointer can never crash the program, and
 * that is async-signal-safe (the CPU handler copies the ids into its ring
 * cell).  The ids become the labels trace_id and span_id (lower-case
 * hex, as Pyroscope and Grafana link profiles to traces), added to the
 * thread's own set.  Every span is a new set, and sets are never freed,
 * so at most LABELS_MAX_TRACE_SETS sets come from trace ids (or custom
 * labels, below); past that, samples keep their own labels without them,
 * and one line says so.
 *
 * Polar Signals' custom-labels ABI (v1) is read the same way: when the
 * program exports custom_labels_abi_version == 1 and the thread-local
 * pointer custom_labels_current_set, a sample copies the set it points to
 * (its array of labels, then every key and value, each in one
 * process_vm_readv) into a buffer (the CPU handler: a side array of the
 * ring, indexed like its cells), and the pairs join the thread's set; the
 * first of a key wins, as the ABI says.  At most LABELS_MAX_PAIRS labels,
 * LABELS_CUSTOM_BYTES bytes in all, keys and values of at most
 * LABELS_MAX_LEN bytes each (longer ones are left out), read up to a NUL
 * byte.  These sets count against LABELS_MAX_TRACE_SETS too.
 *
 * Both conventions are meant to be read while the thread is stopped, as a
 * signal handler on it does.  Heap and lock samples read them on the
 * thread itself, between its own statements; only the threads profile's
 * collector reads another thread's while that thread may be changing
 * them (a thread parked in a blocking call is not): such a copy can mix
 * two sets, never fault.
 *
 * Contexts: labels_intern runs in normal context on any thread, under
 * `lock` (a spinlock, taken around fork) for inserts only; a set seen
 * before is found without it.  labels_pairs and labels_current only load
 * memory and are safe anywhere.
 */
#ifndef CPROF_LABELS_H
#define CPROF_LABELS_H

#include "common.h"
#include "tstate.h"

#define LABELS_MAX_PAIRS 16     /* CPROF_LABELS_MAX in cprof.h */
#define LABELS_MAX_LEN 255      /* bytes of a key or a value */
#define LABELS_MAX_SETS (1u << 16)
#define LABELS_MAX_BYTES (16u << 20)
#define LABELS_MAX_TRACE_SETS (1u << 15)
#define LABELS_OTEL_IDS 24      /* trace id (16) and span id (8) */

/* The set `base` with the n pairs of kv (key, value, key, value...)
 * added, later pairs replacing earlier ones of the same key; 0 for the
 * empty set, for invalid input (n < 0, n > LABELS_MAX_PAIRS, a NULL or
 * empty key, a NULL value, a string longer than LABELS_MAX_LEN) or when
 * the table is full. */
uint32_t labels_intern(uint32_t base, const char *const *kv, int n);

/* The pairs of set id (key, value, key, value..., sorted by key) and their
 * number, or NULL and 0 for 0 or an id that was never handed out. */
const char *const *labels_pairs(uint32_t id, unsigned *npairs);

/* The calling thread registers (threads.c; normal context, guard held):
 * find its instances of otel_thread_ctx_v1 and custom_labels_current_set,
 * if the program has them. */
void labels_thread_start(struct tstate *t);

/* What a sample captured of the labels other libraries publish on its
 * thread: the OpenTelemetry ids, and the custom labels as records (key
 * length byte, key, value length byte, value) in a buffer of
 * LABELS_CUSTOM_BYTES the caller provides. */
#define LABELS_CUSTOM_BYTES 256
struct labels_capture {
	uint8_t has_otel;
	uint16_t custom_len;
	uint8_t otel[LABELS_OTEL_IDS];
};

/* Capture thread t's published labels (async-signal-safe, errno kept; t
 * is the caller's own tstate, or one whose thread's TLS the caller keeps
 * alive).  custom may be NULL: no custom labels then. */
void labels_capture(const struct tstate *t, struct labels_capture *cap, unsigned char *custom,
		    size_t custom_cap);

/* `base` plus the captured labels (normal context): the custom labels,
 * then trace_id and span_id. */
uint32_t labels_resolve(uint32_t base, const struct labels_capture *cap, const unsigned char *custom);

/* Does thread t publish labels of another library?  (a plain load) */
CPROF_INLINE bool labels_foreign(const struct tstate *t)
{
	return t->otel_slot || t->cl_slot;
}

/* The set a sample taken now on the calling thread carries: its current
 * set, plus the published trace and span ids (normal context). */
uint32_t labels_for_sample(void);

/* The calling thread's current set (any context). */
CPROF_INLINE uint32_t labels_current(void)
{
	return __atomic_load_n(&cprof_tls.labels, __ATOMIC_RELAXED);
}

/* Another thread's, through its tstate (the caller keeps that thread's
 * TLS alive: threads.h). */
CPROF_INLINE uint32_t labels_of(const struct tstate *t)
{
	return __atomic_load_n(&t->labels, __ATOMIC_RELAXED);
}

#endif
