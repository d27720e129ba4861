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
#include "gzip.h"
#include "log.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Label PbLabel;
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
	struct vec samples, mappings, locations, functions;
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

/* Index of s in the string table, adding it if new.  The string must stay
 * valid until pb_finish (region, arena or static storage). */
static int64_t intern(struct pb_builder *b, const char *s)
{
	bool found;
	if (!s || !*s)
		return 0;
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
	pm->memory_start = m->start;
	pm->memory_limit = m->limit;
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

static uint64_t function_id(struct pb_builder *b, const char *name)
{
	bool found;
	int64_t si = intern(b, name);
	uint64_t *slot = map_slot(b->r, &b->funcmap, (uint64_t)si, &found);
	if (!slot) {
		b->failed = true;
		return 0;
	}
	if (found)
		return *slot;
	PbFunction *f = region_alloc(b->r, sizeof(*f));
	if (!f || !vec_push(b->r, &b->functions, f)) {
		b->failed = true;
		return 0;
	}
	perftools__profiles__function__init(f);
	f->id = b->functions.n;
	f->name = si;
	f->system_name = si;
	*slot = f->id;
	return f->id;
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
		PbLocation *l = b->locations.v[*slot - 1];
		*name_out = l->n_line ? b->strings.v[((PbFunction *)b->functions.v[l->line[0]->function_id - 1])->name]
				      : NULL;
		return *slot;
	}
	PbLocation *l = region_alloc(b->r, sizeof(*l));
	if (!l || !vec_push(b->r, &b->locations, l)) {
		b->failed = true;
		return 0;
	}
	perftools__profiles__location__init(l);
	l->id = b->locations.n;
	l->address = addr;
	*slot = l->id;
	*name_out = NULL;
	struct mapping *m = synthetic || !b->ms ? NULL : mappings_find(b->ms, addr);
	if (m)
		l->mapping_id = mapping_id(b, m);
	const char *name = (synthetic || m) ? pb_pc_name(b, synthetic ? pc : addr) : NULL;
	if (name) {
		PbLine *line = region_alloc(b->r, sizeof(*line));
		PbLine **lines = region_alloc(b->r, sizeof(*lines));
		if (!line || !lines) {
			b->failed = true;
			return l->id;
		}
		perftools__profiles__line__init(line);
		line->function_id = function_id(b, name);
		lines[0] = line;
		l->line = lines;
		l->n_line = 1;
		*name_out = name;
	}
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

int pb_add_sample(struct pb_builder *b, const struct stack *st, const int64_t *values,
		  const struct pb_label *labels, size_t nlabels)
{
	PbSample *s = region_alloc(b->r, sizeof(*s));
	uint64_t *locs = region_alloc(b->r, (st ? st->depth : 0) * sizeof(uint64_t) + 8);
	int64_t *vals = region_alloc(b->r, b->n_types * sizeof(int64_t));
	if (!s || !locs || !vals) {
		b->failed = true;
		return -1;
	}
	perftools__profiles__sample__init(s);
	size_t n = 0;
	bool leading = true;
	for (unsigned i = 0; st && i < st->depth; i++) {
		const char *name = NULL;
		bool exact = i == 0 && (st->flags & STACK_LEAF_EXACT);
		uint64_t id = location_id(b, st->pcs[i], exact, &name);
		if (leading && trimmed(b, name) && i + 1 < st->depth)
			continue;
		leading = false;
		if (id)
			locs[n++] = id;
	}
	memcpy(vals, values, b->n_types * sizeof(int64_t));
	s->location_id = locs;
	s->n_location_id = n;
	s->value = vals;
	s->n_value = b->n_types;
	if (nlabels) {
		PbLabel **ls = region_alloc(b->r, nlabels * sizeof(*ls));
		if (!ls) {
			b->failed = true;
			return -1;
		}
		for (size_t i = 0; i < nlabels; i++) {
			PbLabel *l = region_alloc(b->r, sizeof(*l));
			if (!l) {
				b->failed = true;
				return -1;
			}
			perftools__profiles__label__init(l);
			l->key = intern(b, labels[i].key);
			if (labels[i].str) {
				l->str = intern(b, region_strdup(b->r, labels[i].str));
			} else {
				l->num = labels[i].num;
				if (labels[i].num_unit)
					l->num_unit = intern(b, labels[i].num_unit);
			}
			ls[i] = l;
		}
		s->label = ls;
		s->n_label = nlabels;
	}
	if (!vec_push(b->r, &b->samples, s)) {
		b->failed = true;
		return -1;
	}
	return 0;
}

int pb_finish(struct pb_builder *b, void **out, size_t *outlen)
{
	if (b->failed)
		return -1;
	PbProfile *p = &b->prof;
	p->sample = (PbSample **)b->samples.v;
	p->n_sample = b->samples.n;
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
	size_t len = perftools__profiles__profile__get_packed_size(p);
	uint8_t *buf = region_alloc(b->r, len + 1);
	if (!buf)
		return -1;
	if (perftools__profiles__profile__pack(p, buf) != len)
		return -1;
	return gzip_compress(b->r, buf, len, out, outlen);
}
