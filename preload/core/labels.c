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
#include <link.h>
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
#include "real.h"
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
		intern_setup(&sets, sizeof(struct lset), LABELS_MAX_SETS, 256);
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
		cprof_warn_once(&trace_said, "%u label sets made of OpenTelemetry trace and span ids or "
					     "custom labels so far: later samples carry their own labels without them",
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

/* ---- labels other libraries publish (labels.h) -------------------------------- */

#define OTEL_SYMBOL "otel_thread_ctx_v1"
#define OTEL_HEAD 25            /* trace id, span id, valid */
#define CL_SYMBOL "custom_labels_current_set"
#define CL_VERSION_SYMBOL "custom_labels_abi_version"

/* The custom-labels ABI, version 1. */
struct cl_string {
	size_t len;
	const unsigned char *buf;
};
struct cl_label {
	struct cl_string key, value;
};
struct cl_set {
	struct cl_label *storage;
	size_t count;
	size_t capacity;
};

/* Where each thread's instance of a published variable lives: its
 * module's TLS block (dl_iterate_phdr's dlpi_tls_data, per thread) plus
 * the variable's offset in it.  Found once, at start, from the address
 * dlsym gives the starting thread. */
struct tls_var {
	const char *name;
	size_t modid;          /* 0: the program has no such variable */
	size_t off;
};

static struct tls_var otel_var = {OTEL_SYMBOL, 0, 0}, cl_var = {CL_SYMBOL, 0, 0};
static atomic_int looked;      /* the variables were looked for */

struct tls_find {
	uintptr_t addr;        /* find: the variable's address in this thread */
	struct tls_var *v;
	void *out;             /* thread: the variable's address, or NULL */
};

static int find_module(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct tls_find *f = arg;
	if (size < offsetof(struct dl_phdr_info, dlpi_tls_data) + sizeof(void *) || !info->dlpi_tls_modid ||
	    !info->dlpi_tls_data)
		return 0;
	uintptr_t base = (uintptr_t)info->dlpi_tls_data;
	if (f->addr) {
		for (int i = 0; i < info->dlpi_phnum; i++) {
			const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
			if (ph->p_type == PT_TLS && f->addr >= base && f->addr < base + ph->p_memsz) {
				f->v->modid = info->dlpi_tls_modid;
				f->v->off = f->addr - base;
				return 1;
			}
		}
		return 0;
	}
	if (info->dlpi_tls_modid != f->v->modid)
		return 0;
	f->out = (void *)(base + f->v->off);
	return 1;
}

/* Once: does the program have the variable, and where in its module? */
static void *tls_var_find(struct tls_var *v)
{
	void *addr = dlsym(RTLD_DEFAULT, v->name);
	if (!addr)
		return NULL;
	struct tls_find f = {.addr = (uintptr_t)addr, .v = v};
	REAL(dl_iterate_phdr)(find_module, &f);
	return v->modid ? addr : NULL;
}

/* The calling thread's instance, without allocating: NULL while its
 * module's TLS block for this thread does not exist yet (a library
 * loaded later, whose blocks glibc allocates at first use). */
static void *tls_var_here(struct tls_var *v)
{
	struct tls_find f = {.v = v};
	if (v->modid)
		REAL(dl_iterate_phdr)(find_module, &f);
	return f.out;
}

void labels_thread_start(struct tstate *t)
{
	if (atomic_load_explicit(&looked, memory_order_acquire) && !otel_var.modid && !cl_var.modid)
		return;
	int saved = errno;
	if (!atomic_load_explicit(&looked, memory_order_acquire)) {
		/* Once, at start (only objects loaded with the program count),
		 * on the starting thread: dlsym may allocate (an error string,
		 * the thread's TLS block of a module): from the boot pool, not
		 * the program's heap. */
		int64_t left = own_alloc_begin();
		const uint32_t *version = dlsym(RTLD_DEFAULT, CL_VERSION_SYMBOL);
		void *otel = tls_var_find(&otel_var);
		void *cl = version && *version == 1 ? tls_var_find(&cl_var) : NULL;
		/* A symbol not found leaves an error for dlerror() (per
		 * thread): clear it, as a successful dlsym would have. */
		if (!version || !otel || !cl)
			dlerror();
		own_alloc_end(left);
		__atomic_store_n(&t->otel_slot, otel, __ATOMIC_RELEASE);
		__atomic_store_n(&t->cl_slot, cl, __ATOMIC_RELEASE);
		t->label_slots = otel || cl;
		atomic_store_explicit(&looked, 1, memory_order_release);
		errno = saved;
		return;
	}
	/* Another thread: its instances from its TLS blocks, read by
	 * dl_iterate_phdr without allocating any (a block allocated at every
	 * thread start would be freed by glibc outside its stack-cache lock,
	 * which a fork can catch half done). */
	if (otel_var.modid && !t->otel_slot)
		__atomic_store_n(&t->otel_slot, tls_var_here(&otel_var), __ATOMIC_RELEASE);
	if (cl_var.modid && !t->cl_slot)
		__atomic_store_n(&t->cl_slot, tls_var_here(&cl_var), __ATOMIC_RELEASE);
	t->label_slots = t->otel_slot || t->cl_slot;
	errno = saved;
}

/* Copy the remote iovecs into the local ones: all or nothing. */
static bool copy_in(const struct iovec *local, const struct iovec *remote, unsigned long n, size_t total)
{
	long got = syscall(SYS_process_vm_readv, (long)syscall(SYS_getpid), local, n, remote, n, 0L);
	return got == (long)total;
}

static bool otel_read(void *const *slot, uint8_t ids[LABELS_OTEL_IDS])
{
	void *rec = __atomic_load_n((void **)slot, __ATOMIC_RELAXED);
	if (!rec)
		return false;
	unsigned char head[OTEL_HEAD];
	struct iovec local = {head, sizeof(head)}, remote = {rec, sizeof(head)};
	if (!copy_in(&local, &remote, 1, sizeof(head)) || head[LABELS_OTEL_IDS] != 1)
		return false;
	bool any = false;
	for (int i = 0; i < 16; i++)
		any |= head[i] != 0;
	if (!any)
		return false; /* no trace active */
	memcpy(ids, head, LABELS_OTEL_IDS);
	return true;
}

/* The labels of the current custom-labels set, as records (key length,
 * key, value length, value) in out; their bytes, 0 for none. */
static size_t cl_read(void *const *slot, unsigned char *out, size_t cap)
{
	const struct cl_set *setp = __atomic_load_n((void **)slot, __ATOMIC_RELAXED);
	struct cl_set set;
	struct cl_label lab[LABELS_MAX_PAIRS];
	struct iovec local[2 * LABELS_MAX_PAIRS], remote[2 * LABELS_MAX_PAIRS];
	if (!setp)
		return 0;
	local[0] = (struct iovec){&set, sizeof(set)};
	remote[0] = (struct iovec){(void *)setp, sizeof(set)};
	if (!copy_in(local, remote, 1, sizeof(set)) || !set.count || !set.storage)
		return 0;
	size_t n = set.count < LABELS_MAX_PAIRS ? set.count : LABELS_MAX_PAIRS;
	local[0] = (struct iovec){lab, n * sizeof(lab[0])};
	remote[0] = (struct iovec){set.storage, n * sizeof(lab[0])};
	if (!copy_in(local, remote, 1, n * sizeof(lab[0])))
		return 0;
	/* One read for every string that fits, each after its length byte. */
	size_t used = 0, total = 0;
	unsigned long k = 0;
	for (size_t i = 0; i < n; i++) {
		struct cl_string *ks = &lab[i].key, *vs = &lab[i].value;
		if (!ks->buf || !vs->buf || !ks->len || ks->len > LABELS_MAX_LEN || vs->len > LABELS_MAX_LEN)
			continue; /* absent (ignored by the ABI), or too long for cprof */
		if (used + 2 + ks->len + vs->len > cap)
			break;
		out[used++] = (unsigned char)ks->len;
		local[k] = (struct iovec){out + used, ks->len};
		remote[k++] = (struct iovec){(void *)ks->buf, ks->len};
		used += ks->len;
		out[used++] = (unsigned char)vs->len;
		if (vs->len) {
			local[k] = (struct iovec){out + used, vs->len};
			remote[k++] = (struct iovec){(void *)vs->buf, vs->len};
		}
		used += vs->len;
		total += ks->len + vs->len;
	}
	if (!k || !copy_in(local, remote, k, total))
		return 0;
	return used;
}

void labels_capture(const struct tstate *t, struct labels_capture *cap, unsigned char *custom,
		    size_t custom_cap)
{
	int saved = errno;
	void *const *otel = __atomic_load_n(&((struct tstate *)t)->otel_slot, __ATOMIC_ACQUIRE);
	void *const *cl = __atomic_load_n(&((struct tstate *)t)->cl_slot, __ATOMIC_ACQUIRE);
	cap->has_otel = otel && otel_read(otel, cap->otel);
	size_t len = cl && custom ? cl_read(cl, custom, custom_cap) : 0;
	cap->custom_len = (uint16_t)len;
	errno = saved;
}

uint32_t labels_resolve(uint32_t base, const struct labels_capture *cap, const unsigned char *custom)
{
	static const char hex[] = "0123456789abcdef";
	/* Strings copied out of the records, NUL-terminated (a NUL byte
	 * inside one ends it). */
	char strs[LABELS_CUSTOM_BYTES + 2 * LABELS_MAX_PAIRS + 64];
	const char *kv[2 * LABELS_MAX_PAIRS + 4];
	int n = 0;
	size_t at = 0;

	if (!cap->has_otel && !cap->custom_len)
		return base;
	/* Custom labels: the first of a key wins (the ABI's rule; put()
	 * keeps the last, so they go in backwards). */
	size_t off[LABELS_MAX_PAIRS], m = 0;
	for (size_t i = 0; i + 1 < cap->custom_len && m < LABELS_MAX_PAIRS;) {
		off[m++] = i;
		i += 1 + custom[i];
		if (i >= cap->custom_len)
			break;
		i += 1 + custom[i];
	}
	while (m--) {
		size_t i = off[m], kl = custom[i];
		if (i + 1 + kl >= cap->custom_len)
			continue;
		size_t vl = custom[i + 1 + kl];
		if (i + 2 + kl + vl > cap->custom_len || at + kl + vl + 2 > sizeof(strs) - 64)
			continue;
		memcpy(strs + at, custom + i + 1, kl);
		strs[at + kl] = '\0';
		kv[2 * n] = strs + at;
		at += kl + 1;
		memcpy(strs + at, custom + i + 2 + kl, vl);
		strs[at + vl] = '\0';
		kv[2 * n + 1] = strs + at;
		at += vl + 1;
		if (kv[2 * n][0])
			n++;
	}
	if (cap->has_otel) {
		char *trace = strs + at, *span = trace + 33;
		for (int i = 0; i < 16; i++) {
			trace[2 * i] = hex[cap->otel[i] >> 4];
			trace[2 * i + 1] = hex[cap->otel[i] & 15];
		}
		trace[32] = '\0';
		for (int i = 0; i < 8; i++) {
			span[2 * i] = hex[cap->otel[16 + i] >> 4];
			span[2 * i + 1] = hex[cap->otel[16 + i] & 15];
		}
		span[16] = '\0';
		kv[2 * n] = "trace_id", kv[2 * n + 1] = trace, n++;
		kv[2 * n] = "span_id", kv[2 * n + 1] = span, n++;
	}
	/* More pairs than a set holds: the program's own and the ids win. */
	int skip = 0;
	while (n - skip > LABELS_MAX_PAIRS)
		skip++;
	uint32_t id = intern_set(base, kv + 2 * skip, n - skip, true);
	return id ? id : base;
}

uint32_t labels_for_sample(void)
{
	uint32_t set = labels_current();
	if (likely(!cprof_tls.label_slots))
		return set;
	struct labels_capture cap;
	unsigned char custom[LABELS_CUSTOM_BYTES];
	labels_capture(&cprof_tls, &cap, custom, sizeof(custom));
	return labels_resolve(set, &cap, custom);
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
