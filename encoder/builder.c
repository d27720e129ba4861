/*
 * builder.c - Profile assembly (see builder.h).
 *
 * Invariants:
 *  - string_table[0] == "", every id (mapping, location, function) is
 *    nonzero and unique, each sample has exactly n_types values: checked by
 *    construction, and by the independent decoder in the tests.
 *  - The main program's mapping is mapping 1 (added first, referenced or
 *    not); other mappings are added in first-reference order.
 *  - All memory comes from b->r.
 */
#include <string.h>

#include "builder.h"
#include "demangle.h"
#include "srclines.h"
#include "gzip.h"
#include "log.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;
typedef Perftools__Profiles__ValueType PbValueType;

/* ---- a u64 -> u64 open-addressing map in region memory ------------------ */

struct u64map {
	uint64_t *keys;   /* key + 1, 0 = empty */
	uint64_t *vals;
	size_t mask, n;
};

static bool map_grow(struct region *r, struct u64map *m)
{
	size_t cap = m->keys ? (m->mask + 1) * 2 : 1024;
	uint64_t *k = region_alloc(r, cap * sizeof(uint64_t));
	uint64_t *v = region_alloc(r, cap * sizeof(uint64_t));
	if (!k || !v)
		return false;
	for (size_t i = 0; m->keys && i <= m->mask; i++) {
		if (!m->keys[i])
			continue;
		size_t j = cprof_hash64(m->keys[i]) & (cap - 1);
		while (k[j])
			j = (j + 1) & (cap - 1);
		k[j] = m->keys[i];
		v[j] = m->vals[i];
	}
	m->keys = k;
	m->vals = v;
	m->mask = cap - 1;
	return true;
}

/* Returns a pointer to the value slot for key, inserting 0 if absent;
 * *found tells which.  NULL when out of memory. */
static uint64_t *map_slot(struct region *r, struct u64map *m, uint64_t key, bool *found)
{
	if ((!m->keys || (m->n + 1) * 2 > m->mask + 1) && !map_grow(r, m))
		return NULL;
	key += 1;
	size_t i = cprof_hash64(key) & m->mask;
	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & m->mask;
	*found = m->keys[i] != 0;
	if (!*found) {
		m->keys[i] = key;
		m->vals[i] = 0;
		m->n++;
	}
	return &m->vals[i];
}

/* ---- growable pointer arrays ------------------------------------------------ */

struct vec {
	void **v;
	size_t n, cap;
};

static bool vec_push(struct region *r, struct vec *a, void *p)
{
	void **slot = region_array_push(r, (void **)&a->v, &a->n, &a->cap, sizeof(void *), 256);
	if (slot)
		*slot = p;
	return slot != NULL;
}

/* ---- a growable byte buffer in region memory ------------------------------- */

struct bytes {
	uint8_t *v;
	size_t n, cap;
};

/* Room for `more` bytes at the end; NULL when out of memory. */
static uint8_t *bytes_reserve(struct region *r, struct bytes *a, size_t more)
{
	if (a->cap - a->n < more) {
		size_t ncap = a->cap ? a->cap * 2 : 64 * 1024;
		while (ncap - a->n < more)
			ncap *= 2;
		uint8_t *nv = region_realloc(r, a->v, a->n, ncap);
		if (!nv)
			return NULL;
		a->v = nv;
		a->cap = ncap;
	}
	return a->v + a->n;
}

/* ---- protobuf wire format, for the samples (see "Samples") ------------------ */

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Tags: (field number << 3) | wire type (0 varint, 2 length-delimited). */
#define TAG_PROFILE_SAMPLE ((2 << 3) | 2)
#define TAG_SAMPLE_LOCATION_ID ((1 << 3) | 2) /* packed */
#define TAG_SAMPLE_VALUE ((2 << 3) | 2)       /* packed */
#define TAG_SAMPLE_LABEL ((3 << 3) | 2)
#define TAG_LABEL_KEY ((1 << 3) | 0)
#define TAG_LABEL_STR ((2 << 3) | 0)
#define TAG_LABEL_NUM ((3 << 3) | 0)
#define TAG_LABEL_NUM_UNIT ((4 << 3) | 0)

/* ---- the builder ------------------------------------------------------------- */

struct pb_builder {
	struct region *r;
	struct mapping_set *ms;
	struct symbolizer *sym;
	PbProfile prof;
	struct vec strings;     /* char * */
	struct u64map strmap;   /* hash -> chain head index + 1 (see intern) */
	uint64_t *strnext;      /* collision chains, parallel to strings */
	size_t strnext_cap;
	struct {
		const char *s;  /* a string interned at this address (see intern) */
		int64_t idx;
	} recent[8];
	struct vec mappings, locations, functions;
	struct bytes staged;    /* the samples as added: see "Samples" below */
	size_t n_staged;        /* how many */
	struct u64map stackmap; /* stack node address -> resolved stack index + 1 */
	struct vec resolved;    /* struct resolved *: each distinct stack's field 1 */
	struct vec loc_names;   /* raw name of each location's function (trimming) */
	struct u64map locmap;   /* address key -> location id */
	struct u64map funcmap;  /* name string index -> function id */
	struct vec comments;    /* int64 as pointers */
	size_t n_types;
	const char *const *trim;
	bool failed;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* Index of s in the string table, adding it if new (see intern). */
static int64_t intern_string(struct pb_builder *b, const char *s)
{
	bool found;
	uint64_t h = str_hash(s);
	uint64_t *head = map_slot(b->r, &b->strmap, h, &found);
	if (!head) {
		b->failed = true;
		return 0;
	}
	for (uint64_t i = found ? *head : 0; i; i = b->strnext[i - 1]) {
		if (strcmp(b->strings.v[i - 1], s) == 0)
			return (int64_t)(i - 1);
	}
	size_t idx = b->strings.n;
	if (!vec_push(b->r, &b->strings, (void *)s)) {
		b->failed = true;
		return 0;
	}
	if (idx >= b->strnext_cap) {
		size_t ncap = b->strnext_cap ? b->strnext_cap * 2 : 1024;
		uint64_t *nn = region_realloc(b->r, b->strnext, b->strnext_cap * sizeof(uint64_t),
					      ncap * sizeof(uint64_t));
		if (!nn) {
			b->failed = true;
			return 0;
		}
		b->strnext = nn;
		b->strnext_cap = ncap;
	}
	b->strnext[idx] = found ? *head : 0;
	*head = idx + 1;
	return (int64_t)idx;
}

/* Index of s in the string table, adding it if new.  The string must stay
 * valid, and unchanged, until pb_finish (region, arena or static storage):
 * the table keeps the pointer.  So an address interned before has the
 * same index: the last few are remembered by address, which spares every
 * sample's label key and unit ("bytes", from static storage) a hash and a
 * string comparison. */
static int64_t intern(struct pb_builder *b, const char *s)
{
	if (!s || !*s)
		return 0;
	size_t r = ((uintptr_t)s >> 3) % CPROF_ARRAY_LEN(b->recent);
	if (b->recent[r].s == s)
		return b->recent[r].idx;
	int64_t idx = intern_string(b, s);
	if (idx) {
		b->recent[r].s = s;
		b->recent[r].idx = idx;
	}
	return idx;
}

/* Addresses are written as the object's own (file virtual) addresses, not
 * where this run happened to load it: mapping ranges and location
 * addresses of a file-backed object are shifted down by its load bias.
 * Both of pprof's object readers then find the address in the file as it
 * is (Go's bundled `go tool pprof` treats profile addresses as file
 * addresses, so -disasm and -weblist of a position-independent executable
 * only work this way), and profiles of different runs of one binary merge
 * address by address.  The vDSO, which has no file, keeps its runtime
 * addresses. */
static uintptr_t addr_shift(const struct mapping *m)
{
	return m->mem_image || m->path[0] != '/' ? 0 : m->bias;
}

static uint64_t mapping_id(struct pb_builder *b, struct mapping *m)
{
	if (m->pb_id)
		return m->pb_id;
	PbMapping *pm = region_alloc(b->r, sizeof(*pm));
	if (!pm || !vec_push(b->r, &b->mappings, pm)) {
		b->failed = true;
		return 0;
	}
	perftools__profiles__mapping__init(pm);
	pm->id = b->mappings.n;
	pm->memory_start = m->start - addr_shift(m);
	pm->memory_limit = m->limit - addr_shift(m);
	pm->file_offset = m->offset;
	pm->filename = intern(b, m->path);
	pm->build_id = intern(b, m->build_id);
	m->pb_id = pm->id;
	return pm->id;
}

struct pb_builder *pb_new(struct region *r, struct mapping_set *ms, struct symbolizer *sym)
{
	struct pb_builder *b = region_alloc(r, sizeof(*b));
	if (!b)
		return NULL;
	b->r = r;
	b->ms = ms;
	b->sym = sym;
	perftools__profiles__profile__init(&b->prof);
	vec_push(r, &b->strings, "");
	if (b->strnext_cap == 0) {
		b->strnext = region_alloc(r, 1024 * sizeof(uint64_t));
		b->strnext_cap = b->strnext ? 1024 : 0;
	}
	/* Mapping ids are per profile. */
	for (size_t i = 0; ms && i < ms->n; i++)
		ms->v[i].pb_id = 0;
	if (ms && ms->n && ms->v[0].main)
		mapping_id(b, &ms->v[0]);
	return b;
}

static PbValueType *value_type(struct pb_builder *b, struct pb_value_type t)
{
	PbValueType *v = region_alloc(b->r, sizeof(*v));
	if (!v) {
		b->failed = true;
		return NULL;
	}
	perftools__profiles__value_type__init(v);
	v->type = intern(b, t.type);
	v->unit = intern(b, t.unit);
	return v;
}

void pb_set_types(struct pb_builder *b, const struct pb_value_type *types, size_t n,
		  struct pb_value_type period_type, int64_t period, const char *default_type)
{
	PbValueType **arr = region_alloc(b->r, n * sizeof(*arr));
	if (!arr) {
		b->failed = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		arr[i] = value_type(b, types[i]);
	b->prof.sample_type = arr;
	b->prof.n_sample_type = n;
	b->n_types = n;
	b->prof.period_type = value_type(b, period_type);
	b->prof.period = period;
	if (default_type)
		b->prof.default_sample_type = intern(b, default_type);
}

void pb_set_time(struct pb_builder *b, int64_t time_nanos, int64_t duration_nanos)
{
	b->prof.time_nanos = time_nanos;
	b->prof.duration_nanos = duration_nanos;
}

void pb_add_comment(struct pb_builder *b, const char *text)
{
	char *copy = region_strdup(b->r, text);
	if (!copy || !vec_push(b->r, &b->comments, (void *)(intptr_t)intern(b, copy)))
		b->failed = true;
}

void pb_set_drop_frames(struct pb_builder *b, const char *regex)
{
	b->prof.drop_frames = intern(b, regex);
}

void pb_set_trim_prefixes(struct pb_builder *b, const char *const *prefixes)
{
	b->trim = prefixes;
}

static const char *synthetic_name(uintptr_t pc)
{
	switch (pc) {
	case CPROF_PC_LOST_SAMPLES: return "cprof_lost_samples";
	case CPROF_PC_STACKTAB_FULL: return "cprof_stack_table_full";
	case CPROF_PC_NO_STACK: return "cprof_stack_unavailable";
	case CPROF_PC_THREAD_NO_REPLY: return "cprof_thread_did_not_answer";
	case CPROF_PC_PARTIAL_STACK: return "cprof_partial_stack";
	default: return "cprof_synthetic";
	}
}

const char *pb_pc_name(struct pb_builder *b, uintptr_t pc)
{
	if (pc < CPROF_PC_SYNTHETIC_MAX)
		return synthetic_name(pc);
	struct mapping *m = b->ms ? mappings_find(b->ms, pc) : NULL;
	if (!m)
		return NULL;
	const char *name = mappings_symbol(b->sym, m, pc, NULL);
	if (name) {
		/* .symtab spells versioned definitions "name@@GLIBC_2.34"; pprof
		 * and users know them as "name". */
		const char *at = strchr(name, '@');
		if (at && at != name) {
			char *copy = region_alloc(b->r, (size_t)(at - name) + 1);
			if (copy) {
				memcpy(copy, name, (size_t)(at - name));
				copy[at - name] = '\0';
				return copy;
			}
		}
		return name;
	}
	char buf[512];
	const char *base = strrchr(m->path, '/');
	base = base ? base + 1 : m->path;
	cprof_fmt(buf, sizeof(buf), "%s+0x%lx", base, (unsigned long)(pc - m->bias));
	return region_strdup(b->r, buf);
}

/* The function (readable name, raw symbol, source file, first line): one
 * Function message per distinct combination.  The key hashes the string
 * indexes; a hash collision between two different functions is resolved by
 * probing the next key. */
static uint64_t function_id(struct pb_builder *b, const char *name, const char *sysname,
			    const char *file, int64_t start_line)
{
	bool found;
	int64_t ni = intern(b, name), si = intern(b, sysname ? sysname : name), fi = intern(b, file);
	uint64_t key = cprof_hash64(((uint64_t)ni << 40) ^ ((uint64_t)si << 20) ^ (uint64_t)fi ^
				    ((uint64_t)start_line << 52));
	for (;; key++) {
		uint64_t *slot = map_slot(b->r, &b->funcmap, key, &found);
		if (!slot) {
			b->failed = true;
			return 0;
		}
		if (found) {
			const PbFunction *f = b->functions.v[*slot - 1];
			if (f->name == ni && f->system_name == si && f->filename == fi && f->start_line == start_line)
				return *slot;
			continue;
		}
		PbFunction *f = region_alloc(b->r, sizeof(*f));
		if (!f || !vec_push(b->r, &b->functions, f)) {
			b->failed = true;
			return 0;
		}
		perftools__profiles__function__init(f);
		f->id = b->functions.n;
		f->name = ni;
		f->system_name = si;
		f->filename = fi;
		f->start_line = start_line;
		*slot = f->id;
		return f->id;
	}
}

/* One Line of a Location. */
static PbLine *new_line(struct pb_builder *b, const char *sysname, const char *file, int64_t line,
			int64_t start_line)
{
	PbLine *l = region_alloc(b->r, sizeof(*l));
	if (!l) {
		b->failed = true;
		return NULL;
	}
	perftools__profiles__line__init(l);
	const char *name = demangle_simple(b->r, sysname);
	l->function_id = function_id(b, name ? name : sysname, sysname, file, start_line);
	l->line = line;
	return l;
}

/* A name for pc in an object with no symbol for it: the object and the
 * offset of the function's start from the unwind tables, so that every
 * address of one function shares one name; else of pc itself. */
static const char *unnamed(struct pb_builder *b, struct mapping *m, uintptr_t pc)
{
	char buf[512];
	const char *base = strrchr(m->path, '/');
	base = base ? base + 1 : m->path;
	uintptr_t start = m->mem_image ? 0 : srclines_function_start(m->main ? "/proc/self/exe" : m->path,
								      m->bias, m->build_id, pc);
	if (!start && m->main)
		start = srclines_function_start(m->path, m->bias, m->build_id, pc);
	cprof_fmt(buf, sizeof(buf), "%s+0x%lx", base, (unsigned long)((start ? start : pc) - m->bias));
	return region_strdup(b->r, buf);
}

/* Fill l->line for a pc in mapping m: the inline chain from DWARF where
 * the object has it (innermost first, as pprof wants), else the symbol's
 * name alone.  Sets the mapping's has_* flags from what was found.
 * Returns the raw name of the outermost function (for trimming). */
static const char *resolve_lines(struct pb_builder *b, PbLocation *l, struct mapping *m, uintptr_t addr)
{
	PbMapping *pm = m->pb_id ? b->mappings.v[m->pb_id - 1] : NULL;
	const char *sym = pb_pc_name(b, addr);
	bool real_sym = sym && strstr(sym, "+0x") == NULL;
	struct src_frame fr[SRCLINES_MAX_FRAMES];
	bool has_dwarf = false;
	int nf = 0;
	if (!m->mem_image) {
		nf = srclines_lookup(b->r, m->main ? "/proc/self/exe" : m->path, m->bias, m->build_id, addr, fr,
				     SRCLINES_MAX_FRAMES, &has_dwarf);
		if (nf <= 0 && !has_dwarf && m->main)
			nf = srclines_lookup(b->r, m->path, m->bias, m->build_id, addr, fr, SRCLINES_MAX_FRAMES,
					     &has_dwarf);
	}
	if (!real_sym && nf <= 0)
		sym = unnamed(b, m, addr);
	if (nf < 0)
		nf = 0;
	size_t n = nf ? (size_t)nf : (sym ? 1 : 0);
	if (!n)
		return NULL;
	PbLine **lines = region_alloc(b->r, n * sizeof(*lines));
	if (!lines) {
		b->failed = true;
		return sym;
	}
	if (nf == 0) {
		lines[0] = new_line(b, sym, NULL, 0, 0);
	} else {
		for (int i = 0; i < nf; i++) {
			/* The outermost frame is the function really called:
			 * its symbol names it when DWARF gives no name. */
			const char *fn = fr[i].function;
			/* The function really called is named as its symbol
			 * (DWARF may spell a C function by an internal alias,
			 * glibc's __GI___nanosleep); inlined ones by DWARF. */
			if (i == nf - 1 && real_sym)
				fn = sym;
			if (!fn)
				fn = (i == nf - 1 && sym) ? sym : "??";
			lines[i] = new_line(b, fn, fr[i].file, fr[i].line, fr[i].start_line);
			if (pm && fr[i].file)
				pm->has_filenames = true;
			if (pm && fr[i].line)
				pm->has_line_numbers = true;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!lines[i])
			return sym;
	l->line = lines;
	l->n_line = n;
	if (pm && (real_sym || nf))
		pm->has_functions = true;
	if (pm && has_dwarf)
		pm->has_inline_frames = true;
	return real_sym || !nf ? sym : fr[nf - 1].function;
}

/* Location for an address as pprof wants it: the exact PC of an
 * interrupted leaf, or return address - 1 for callers.  Synthetic PCs get a
 * location without mapping.  `*name_out` gets the function name (or NULL). */
static uint64_t location_id(struct pb_builder *b, uintptr_t pc, bool exact, const char **name_out)
{
	bool found;
	bool synthetic = pc < CPROF_PC_SYNTHETIC_MAX;
	uintptr_t addr = synthetic ? 0 : (exact ? pc : pc - 1);
	uint64_t key = synthetic ? pc : addr;
	uint64_t *slot = map_slot(b->r, &b->locmap, key, &found);
	if (!slot) {
		b->failed = true;
		return 0;
	}
	if (found) {
		*name_out = b->loc_names.v[*slot - 1];
		return *slot;
	}
	PbLocation *l = region_alloc(b->r, sizeof(*l));
	if (!l || !vec_push(b->r, &b->locations, l) || !vec_push(b->r, &b->loc_names, NULL)) {
		b->failed = true;
		return 0;
	}
	perftools__profiles__location__init(l);
	l->id = b->locations.n;
	l->address = addr;
	*slot = l->id;
	*name_out = NULL;
	struct mapping *m = synthetic || !b->ms ? NULL : mappings_find(b->ms, addr);
	const char *name = NULL;
	if (m) {
		l->mapping_id = mapping_id(b, m);
		l->address = addr - addr_shift(m);
		name = resolve_lines(b, l, m, addr);
	} else if (synthetic) {
		name = pb_pc_name(b, pc);
		PbLine **lines = region_alloc(b->r, sizeof(*lines));
		if (!lines) {
			b->failed = true;
			return l->id;
		}
		lines[0] = new_line(b, name, NULL, 0, 0);
		l->line = lines;
		l->n_line = lines[0] ? 1 : 0;
	}
	b->loc_names.v[l->id - 1] = (void *)name;
	*name_out = name;
	return l->id;
}

static bool trimmed(const struct pb_builder *b, const char *name)
{
	if (!b->trim || !name)
		return false;
	for (const char *const *p = b->trim; *p; p++)
		if (strncmp(name, *p, strlen(*p)) == 0)
			return true;
	return false;
}

/*
 * Samples.  protobuf-c would need a Sample message, its arrays and a Label
 * message per label for every sample, all in region memory, then a pass
 * to size the message and one to pack it: for a heap profile of 24,000
 * (stack, size) buckets, a third of the exit dump's time went there and to
 * the page faults of that memory.  So the samples are written in the wire
 * format directly (profile.proto fields 1-3 of Sample, 1-4 of Label; proto3
 * rules: repeated scalars packed, zero scalars omitted), and the rest of
 * the Profile is packed by protobuf-c; the samples (Profile field 2)
 * follow it.  A protobuf parser takes fields in any order, and pprof's
 * own decoder does.
 *
 * pb_add_sample stages each sample as
 *     [stack node address: 8][tail length: 4][stack index: 4][order: 8][tail]
 * where the tail is the encoded value and label fields, known at once.
 * pb_finish resolves each distinct stack once (its location ids, trimmed,
 * encoded as field 1), writes the stack's index into the record, and
 * sizes then writes every Sample as tag, length, field 1, tail.
 *
 * Order.  The samples are written grouped by stack and, within a stack,
 * by the caller's order key (the heap profile's: the bucket's size),
 * ties in the order they were added.  Neighbouring samples then share
 * their location ids and labels and have close values, which deflate
 * turns into long matches: a heap profile of 35,000 (stack, size)
 * buckets on 12 stacks (heap buckets were by exact size then) compressed to 195 KB instead of 369 KB, in 1.5 ms
 * instead of 2.9 (the order the tables gave interleaves the stacks and
 * sizes at random).  The order is a stable LSD radix sort of one 16-byte
 * reference a sample, 11 bits a pass, only as many passes as the largest
 * key and stack index need (three on that profile); its scratch space is
 * the packed profile's buffer before anything is packed into it.  Samples
 * that came in that order already (one per stack, as the threadcreate
 * profile's) are written as they are, with no reference made; if the
 * references find no memory, the samples go out in the order they came.
 */
struct resolved {
	uint8_t *field1;        /* encoded location_id field, or NULL if no frame */
	size_t len;
};

#define STAGED_HEAD 24

/* The stack's location ids, with leading trimmed frames dropped. */
static struct resolved *resolve_stack(struct pb_builder *b, const struct stack *st)
{
	uint64_t ids[CPROF_MAX_DEPTH + 1];
	size_t n = 0, payload = 0;
	bool leading = true;
	for (unsigned i = 0; st && i < st->depth && n < CPROF_ARRAY_LEN(ids); i++) {
		const char *name = NULL;
		bool exact = i == 0 && (st->flags & STACK_LEAF_EXACT);
		uint64_t id = location_id(b, st->pcs[i], exact, &name);
		if (leading && trimmed(b, name) && i + 1 < st->depth)
			continue;
		leading = false;
		if (id) {
			ids[n++] = id;
			payload += varint_len(id);
		}
	}
	struct resolved *rs = region_alloc(b->r, sizeof(*rs));
	if (!rs)
		return NULL;
	rs->field1 = NULL;
	rs->len = 0;
	if (n) {
		rs->len = 1 + varint_len(payload) + payload;
		uint8_t *p = rs->field1 = region_alloc(b->r, rs->len);
		if (!p)
			return NULL;
		*p++ = TAG_SAMPLE_LOCATION_ID;
		p = put_varint(p, payload);
		for (size_t k = 0; k < n; k++)
			p = put_varint(p, ids[k]);
	}
	return rs;
}

/* Index + 1 of st's resolution in b->resolved, or 0 when out of memory. */
static uint32_t stack_index(struct pb_builder *b, const struct stack *st)
{
	bool found;
	uint64_t *slot = map_slot(b->r, &b->stackmap, (uint64_t)(uintptr_t)st, &found);
	if (!slot)
		return 0;
	if (!found) {
		struct resolved *rs = resolve_stack(b, st);
		if (!rs || !vec_push(b->r, &b->resolved, rs) || b->resolved.n > UINT32_MAX)
			return 0;
		*slot = b->resolved.n;
	}
	return (uint32_t)*slot;
}

/* A staged sample's size bound: the values field, and per label its tag,
 * length and four tagged varints. */
static size_t staged_bound(const struct pb_builder *b, size_t nlabels)
{
	return STAGED_HEAD + 1 + 10 + b->n_types * 10 + nlabels * (1 + 10 + 4 * 11);
}

/* A staged sample, for the sort (see "Order"). */
struct sample_ref {
	uint64_t key;   /* the caller's order within the stack */
	uint32_t stack; /* index + 1 of the stack's resolution */
	uint32_t off;   /* the staged record's offset */
};

#define ORDER_BITS 11

static unsigned order_passes(uint64_t max)
{
	unsigned bits = max ? 64 - (unsigned)__builtin_clzll(max) : 0;
	return (bits + ORDER_BITS - 1) / ORDER_BITS;
}

/* Stable sort of a[0..n) by (stack, key); tmp has room for n refs and
 * count for 1 << ORDER_BITS counters.  Returns a or tmp, whichever holds
 * the result. */
static struct sample_ref *order_samples(struct sample_ref *a, struct sample_ref *tmp, uint32_t *count,
					size_t n, uint64_t max_key, uint32_t max_stack)
{
	unsigned key_passes = order_passes(max_key), passes = key_passes + order_passes(max_stack);
	const size_t radix = (size_t)1 << ORDER_BITS;
	for (unsigned p = 0; p < passes; p++) {
		bool on_key = p < key_passes;
		unsigned shift = (on_key ? p : p - key_passes) * ORDER_BITS;
#define DIGIT(r) ((size_t)((on_key ? (r).key : (uint64_t)(r).stack) >> shift) & (radix - 1))
		memset(count, 0, radix * sizeof(*count));
		for (size_t i = 0; i < n; i++)
			count[DIGIT(a[i])]++;
		uint32_t at = 0;
		for (size_t d = 0; d < radix; d++) {
			uint32_t c = count[d];
			count[d] = at;
			at += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[count[DIGIT(a[i])]++] = a[i];
#undef DIGIT
		struct sample_ref *t = a;
		a = tmp;
		tmp = t;
	}
	return a;
}

void pb_expect_samples(struct pb_builder *b, size_t n, size_t nlabels)
{
	/* Samples are usually far below the bound: half of it, and doubling
	 * if that was too little. */
	if (n && !b->staged.cap)
		(void)bytes_reserve(b->r, &b->staged, n * staged_bound(b, nlabels) / 2);
}

/* Records the sample; its stack is only remembered (stack table nodes are
 * immutable and never freed): the locations, and with them every symbol
 * lookup, are made by pb_finish, so the caller can read its tables under
 * the dump lock and let go of it before the slow part. */
int pb_add_sample(struct pb_builder *b, const struct stack *st, uint64_t order, const int64_t *values,
		  const struct pb_label *labels, size_t nlabels)
{
	uint8_t *rec = bytes_reserve(b->r, &b->staged, staged_bound(b, nlabels));
	if (!rec) {
		b->failed = true;
		return -1;
	}
	uint8_t *p = rec + STAGED_HEAD;
	size_t vlen = 0;
	for (size_t i = 0; i < b->n_types; i++)
		vlen += varint_len((uint64_t)values[i]);
	if (b->n_types) {
		*p++ = TAG_SAMPLE_VALUE;
		p = put_varint(p, vlen);
		for (size_t i = 0; i < b->n_types; i++)
			p = put_varint(p, (uint64_t)values[i]);
	}
	for (size_t i = 0; i < nlabels; i++) {
		int64_t f[4] = {intern(b, labels[i].key), 0, 0, 0};
		if (labels[i].str) {
			f[1] = intern(b, region_strdup(b->r, labels[i].str));
		} else {
			f[2] = labels[i].num;
			if (labels[i].num_unit)
				f[3] = intern(b, labels[i].num_unit);
		}
		uint8_t msg[4 * 11], *q = msg;
		for (int k = 0; k < 4; k++) {
			if (!f[k])
				continue;
			*q++ = (uint8_t)(((k + 1) << 3) | 0);
			q = put_varint(q, (uint64_t)f[k]);
		}
		*p++ = TAG_SAMPLE_LABEL;
		p = put_varint(p, (uint64_t)(q - msg));
		memcpy(p, msg, (size_t)(q - msg));
		p += q - msg;
	}
	uint32_t tail = (uint32_t)(p - rec - STAGED_HEAD);
	memcpy(rec, &st, sizeof(st));
	memcpy(rec + 8, &tail, 4); /* the stack index is written by pb_finish */
	memcpy(rec + 16, &order, 8);
	b->staged.n += (size_t)(p - rec);
	b->n_staged++;
	return b->failed ? -1 : 0;
}

int pb_finish(struct pb_builder *b, void **out, size_t *outlen)
{
	if (b->failed)
		return -1;
	/* Resolve every distinct stack once, size the samples, and, from the
	 * first sample out of order, note each one's place for the sort (see
	 * "Order"); samples that came in order are written as they are. */
	size_t samples_len = 0, n = 0;
	struct sample_ref *refs = NULL;
	bool ordered = true;
	uint64_t max_key = 0, prev_key = 0;
	uint32_t max_stack = 0, prev_stack = 0;
	for (size_t off = 0; off < b->staged.n; n++) {
		uint8_t *rec = b->staged.v + off;
		const struct stack *st;
		uint32_t tail, idx;
		uint64_t key;
		memcpy(&st, rec, sizeof(st));
		memcpy(&tail, rec + 8, 4);
		memcpy(&key, rec + 16, 8);
		idx = stack_index(b, st);
		if (!idx) {
			b->failed = true;
			return -1;
		}
		memcpy(rec + 12, &idx, 4);
		if (ordered && (idx < prev_stack || (idx == prev_stack && key < prev_key))) {
			ordered = false;
			if (b->staged.n <= UINT32_MAX)
				refs = region_alloc(b->r, b->n_staged * sizeof(*refs));
			/* The samples before this one, already resolved. */
			for (size_t i = 0, o = 0; refs && i < n; i++) {
				const uint8_t *q = b->staged.v + o;
				uint32_t qtail;
				memcpy(&qtail, q + 8, 4);
				memcpy(&refs[i].stack, q + 12, 4);
				memcpy(&refs[i].key, q + 16, 8);
				refs[i].off = (uint32_t)o;
				max_key |= refs[i].key;
				max_stack |= refs[i].stack;
				o += STAGED_HEAD + qtail;
			}
		}
		prev_stack = idx;
		prev_key = key;
		if (refs) {
			refs[n].key = key;
			refs[n].stack = idx;
			refs[n].off = (uint32_t)off;
			max_key |= key;
			max_stack |= idx;
		}
		const struct resolved *rs = b->resolved.v[idx - 1];
		size_t len = rs->len + tail;
		samples_len += 1 + varint_len(len) + len;
		off += STAGED_HEAD + tail;
	}
	if (b->failed)
		return -1;
	PbProfile *p = &b->prof;
	p->sample = NULL;
	p->n_sample = 0;
	p->mapping = (PbMapping **)b->mappings.v;
	p->n_mapping = b->mappings.n;
	p->location = (PbLocation **)b->locations.v;
	p->n_location = b->locations.n;
	p->function = (PbFunction **)b->functions.v;
	p->n_function = b->functions.n;
	p->string_table = (char **)b->strings.v;
	p->n_string_table = b->strings.n;
	if (b->comments.n) {
		int64_t *c = region_alloc(b->r, b->comments.n * sizeof(int64_t));
		if (!c)
			return -1;
		for (size_t i = 0; i < b->comments.n; i++)
			c[i] = (int64_t)(intptr_t)b->comments.v[i];
		p->comment = c;
		p->n_comment = b->comments.n;
	}
	size_t head = perftools__profiles__profile__get_packed_size(p);
	uint8_t *buf = region_alloc(b->r, head + samples_len + 1);
	if (!buf)
		return -1;
	if (refs && n > 1) {
		/* The packed profile's buffer is the sort's scratch space when it
		 * is large enough (it is for any sample of a value and a label);
		 * the result is copied back if it ends there. */
		size_t need = n * sizeof(*refs) + (sizeof(uint32_t) << ORDER_BITS);
		uint8_t *scratch = head + samples_len + 1 >= need ? buf : region_alloc(b->r, need);
		if (scratch) {
			struct sample_ref *tmp = (struct sample_ref *)(void *)scratch;
			uint32_t *count = (uint32_t *)(void *)(scratch + n * sizeof(*refs));
			if (order_samples(refs, tmp, count, n, max_key, max_stack) == tmp)
				memcpy(refs, tmp, n * sizeof(*refs));
		}
	}
	if (perftools__profiles__profile__pack(p, buf) != head)
		return -1;
	uint8_t *q = buf + head;
	for (size_t i = 0, off = 0; i < n; i++) {
		if (refs)
			off = refs[i].off;
		const uint8_t *rec = b->staged.v + off;
		uint32_t tail, idx;
		memcpy(&tail, rec + 8, 4);
		memcpy(&idx, rec + 12, 4);
		const struct resolved *rs = b->resolved.v[idx - 1];
		*q++ = TAG_PROFILE_SAMPLE;
		q = put_varint(q, rs->len + tail);
		if (rs->len)
			memcpy(q, rs->field1, rs->len);
		q += rs->len;
		memcpy(q, rec + STAGED_HEAD, tail);
		q += tail;
		off += STAGED_HEAD + tail;
	}
	size_t len = (size_t)(q - buf);
	if (len != head + samples_len)
		return -1;
	/* The staging buffer is done with: the compressor's tables and
	 * output take its pages, already backed (arena.h). */
	region_recycle(b->r, b->staged.v, b->staged.cap, b->staged.n);
	b->staged.v = NULL;
	b->staged.n = b->staged.cap = 0;
	return gzip_compress(b->r, buf, len, out, outlen);
}
