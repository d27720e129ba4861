/*
 * labels.c - label sets and the public label API (see labels.h for the
 * design, preload/base/cprof.h for the API's contract).
 *
 * Invariants:
 *  - A record's pairs are sorted by key (strcmp), keys distinct, and never
 *    change once its id is published; the pair array and the strings live
 *    in one arena block that is never freed.
 *  - Only inserts take `lock`; records are read without it (intern.h).
 *  - `bytes` (the arena bytes of all sets) is read and written under `lock`.
 *  - The exported functions never touch the program's allocator, never
 *    block except on `lock` (held for one probe and a copy), preserve
 *    errno, and cprof_labels_set/get are one TLS store/load.
 */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define CPROF_BUILDING_LIBRARY 1
#include "cprof.h"
#include "labels.h"
#include "arena.h"
#include "intern.h"
#include "lock.h"
#include "log.h"
#include "tstate.h"

_Static_assert(LABELS_MAX_PAIRS == CPROF_LABELS_MAX, "cprof.h and labels.h agree");

struct lset {
	uint32_t n;                /* pairs */
	uint32_t pad;
	uint64_t hash;
	const char *const *kv;     /* 2n strings: key, value, ... */
};

/* A set being looked up: its pairs, sorted, as pointers into the caller's
 * strings. */
struct lkey {
	uint32_t n;
	uint64_t hash;
	const char *kv[2 * LABELS_MAX_PAIRS];
};

static spinlock_t lock;
CPROF_LOCK_CLASS(labels, LOCK_RANK_LABELS, lock);
static struct intern sets;     /* records: struct lset */
static size_t bytes;
static uint32_t trace_sets;    /* sets made by labels_with_trace, under lock */
static atomic_int full_said, trace_said;

static bool set_eq(const void *rec, const void *key)
{
	const struct lset *s = rec;
	const struct lkey *k = key;
	if (s->hash != k->hash || s->n != k->n)
		return false;
	for (uint32_t i = 0; i < 2 * s->n; i++)
		if (strcmp(s->kv[i], k->kv[i]) != 0)
			return false;
	return true;
}

static uint64_t set_rehash(const void *rec)
{
	return ((const struct lset *)rec)->hash;
}

static bool set_fill(void *rec, const void *key)
{
	struct lset *s = rec;
	const struct lkey *k = key;
	size_t len[2 * LABELS_MAX_PAIRS], need = 2 * k->n * sizeof(char *);
	for (uint32_t i = 0; i < 2 * k->n; i++) {
		len[i] = strlen(k->kv[i]) + 1;
		need += len[i];
	}
	if (bytes + need > LABELS_MAX_BYTES)
		return false;
	char **kv = arena_alloc(need);
	if (!kv)
		return false;
	char *p = (char *)(kv + 2 * k->n);
	for (uint32_t i = 0; i < 2 * k->n; i++) {
		memcpy(p, k->kv[i], len[i]);
		kv[i] = p;
		p += len[i];
	}
	bytes += need;
	s->n = k->n;
	s->hash = k->hash;
	s->kv = (const char *const *)kv;
	return true;
}

static bool reserved(const char *key)
{
	/* Labels cprof puts on samples itself (encoder/prof_*.c). */
	return !strcmp(key, "thread") || !strcmp(key, "tid") || !strcmp(key, "bytes") ||
	       !strcmp(key, "cprof_lost");
}

/* Put key=value into k, sorted by key, replacing the value of an equal
 * key.  False when there is no room. */
static bool put(struct lkey *k, const char *key, const char *value)
{
	uint32_t i = 0;
	int c = 1;
	while (i < k->n && (c = strcmp(k->kv[2 * i], key)) < 0)
		i++;
	if (i < k->n && c == 0) {
		k->kv[2 * i + 1] = value;
		return true;
	}
	if (k->n == LABELS_MAX_PAIRS)
		return false;
	memmove(&k->kv[2 * i + 2], &k->kv[2 * i], (k->n - i) * 2 * sizeof(char *));
	k->kv[2 * i] = key;
	k->kv[2 * i + 1] = value;
	k->n++;
	return true;
}

static uint64_t key_hash(const struct lkey *k)
{
	uint64_t h = 1469598103934665603ULL;
	for (uint32_t i = 0; i < 2 * k->n; i++) {
		for (const unsigned char *s = (const unsigned char *)k->kv[i]; *s; s++)
			h = (h ^ *s) * 1099511628211ULL;
		h = (h ^ 0xff) * 1099511628211ULL; /* separator: a\0bc differs from ab\0c */
	}
	return cprof_hash64(h);
}

static bool valid(const char *s, bool key)
{
	if (!s || (key && !s[0]))
		return false;
	return strnlen(s, LABELS_MAX_LEN + 1) <= LABELS_MAX_LEN;
}

static uint32_t intern_set(uint32_t base, const char *const *kv, int n, bool trace);

uint32_t labels_intern(uint32_t base, const char *const *kv, int n)
{
	return intern_set(base, kv, n, false);
}

/* trace: a set made from trace ids, counted against LABELS_MAX_TRACE_SETS
 * (when none is left, base is returned). */
static uint32_t intern_set(uint32_t base, const char *const *kv, int n, bool trace)
{
	struct lkey k;
	unsigned bn = 0;
	const char *const *bkv = labels_pairs(base, &bn);

	if (n < 0 || n > LABELS_MAX_PAIRS || (n && !kv) || (base && !bkv))
		return 0;
	k.n = 0;
	for (unsigned i = 0; i < bn; i++)
		put(&k, bkv[2 * i], bkv[2 * i + 1]); /* sorted and distinct already */
	for (int i = 0; i < n; i++) {
		const char *key = kv[2 * i], *value = kv[2 * i + 1];
		if (!valid(key, true) || !valid(value, false))
			return 0;
		if (!reserved(key) && !put(&k, key, value))
			return 0;
	}
	if (!k.n)
		return 0;
	k.hash = key_hash(&k);
	uint32_t id = intern_find(&sets, k.hash, set_eq, &k);
	if (id)
		return id;
	guard_enter();
	spin_lock(&lock);
	if (!sets.rec_size)
		intern_setup(&sets, sizeof(struct lset), LABELS_MAX_SETS, 256, set_rehash);
	bool over = trace && trace_sets >= LABELS_MAX_TRACE_SETS;
	if (over) {
		id = intern_find(&sets, k.hash, set_eq, &k); /* inserted meanwhile? */
	} else {
		uint32_t before = intern_count(&sets);
		id = intern_insert(&sets, k.hash, set_eq, &k, set_fill);
		if (trace && intern_count(&sets) != before)
			trace_sets++;
	}
	spin_unlock(&lock);
	guard_leave();
	if (over && !id) {
		cprof_warn_once(&trace_said, "%u label sets made of OpenTelemetry trace and span ids so far: "
					     "later samples carry their labels without the ids",
				LABELS_MAX_TRACE_SETS);
		return base;
	}
	if (!id)
		cprof_warn_once(&full_said, "the label set table is full (%u sets, %u MiB); further "
					    "label sets are not recorded",
				LABELS_MAX_SETS, LABELS_MAX_BYTES >> 20);
	return id;
}

const char *const *labels_pairs(uint32_t id, unsigned *npairs)
{
	*npairs = 0;
	if (!id || !sets.rec_size || id > intern_count(&sets))
		return NULL;
	const struct lset *s = intern_rec(&sets, id);
	*npairs = s->n;
	return s->kv;
}

/* ---- OpenTelemetry thread context (labels.h) ------------------------------------ */

#define OTEL_SYMBOL "otel_thread_ctx_v1"
#define OTEL_HEAD 25            /* trace id, span id, valid */

static atomic_int otel_state;   /* 0 not looked up, 1 the program has it, -1 not */

void labels_thread_start(struct tstate *t)
{
	int state = atomic_load_explicit(&otel_state, memory_order_acquire);
	if (state < 0 || t->otel_slot)
		return;
	int saved = errno;
	/* dlsym of a TLS symbol: the calling thread's instance, allocated
	 * now if its module's TLS is dynamic (through malloc, which the
	 * guard passes straight through). */
	void *slot = dlsym(RTLD_DEFAULT, OTEL_SYMBOL);
	if (state == 0)
		atomic_store_explicit(&otel_state, slot ? 1 : -1, memory_order_release);
	__atomic_store_n(&t->otel_slot, slot, __ATOMIC_RELEASE);
	errno = saved;
}

bool labels_otel_read(const struct tstate *t, uint8_t ids[LABELS_OTEL_IDS])
{
	void **slot = __atomic_load_n(&((struct tstate *)t)->otel_slot, __ATOMIC_ACQUIRE);
	if (!slot)
		return false;
	void *rec = __atomic_load_n(slot, __ATOMIC_RELAXED);
	if (!rec)
		return false;
	unsigned char head[OTEL_HEAD];
	struct iovec local = {head, sizeof(head)}, remote = {rec, sizeof(head)};
	int saved = errno;
	long got = syscall(SYS_process_vm_readv, (long)syscall(SYS_getpid), &local, 1L, &remote, 1L, 0L);
	errno = saved;
	if (got != (long)sizeof(head) || head[LABELS_OTEL_IDS] != 1)
		return false;
	bool any = false;
	for (int i = 0; i < 16; i++)
		any |= head[i] != 0;
	if (!any)
		return false; /* no trace active */
	memcpy(ids, head, LABELS_OTEL_IDS);
	return true;
}

uint32_t labels_with_trace(uint32_t base, const uint8_t ids[LABELS_OTEL_IDS])
{
	static const char hex[] = "0123456789abcdef";
	char trace[33], span[17];
	for (int i = 0; i < 16; i++) {
		trace[2 * i] = hex[ids[i] >> 4];
		trace[2 * i + 1] = hex[ids[i] & 15];
	}
	trace[32] = '\0';
	for (int i = 0; i < 8; i++) {
		span[2 * i] = hex[ids[16 + i] >> 4];
		span[2 * i + 1] = hex[ids[16 + i] & 15];
	}
	span[16] = '\0';
	const char *kv[] = {"trace_id", trace, "span_id", span};
	uint32_t id = intern_set(base, kv, 2, true);
	return id ? id : base;
}

uint32_t labels_for_sample(void)
{
	uint32_t set = labels_current();
	uint8_t ids[LABELS_OTEL_IDS];
	if (likely(!cprof_tls.otel_slot) || !labels_otel_read(&cprof_tls, ids))
		return set;
	return labels_with_trace(set, ids);
}

/* ---- the public API (cprof.h) ----------------------------------------------- */

CPROF_EXPORT cprof_labels_t cprof_labels_intern(const char *const *kv, int n)
{
	int saved = errno;
	uint32_t id = labels_intern(0, kv, n);
	errno = saved;
	return id;
}

CPROF_EXPORT cprof_labels_t cprof_labels_with(cprof_labels_t base, const char *const *kv, int n)
{
	int saved = errno;
	uint32_t id = labels_intern(base, kv, n);
	errno = saved;
	return id;
}

CPROF_EXPORT cprof_labels_t cprof_labels_set(cprof_labels_t set)
{
	uint32_t prev = cprof_tls.labels;
	__atomic_store_n(&cprof_tls.labels, set, __ATOMIC_RELAXED);
	return prev;
}

CPROF_EXPORT cprof_labels_t cprof_labels_get(void)
{
	return cprof_tls.labels;
}
