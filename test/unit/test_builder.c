/*
 * Unit test: the samples the builder writes in the wire format itself
 * (encoder/builder.c, "Samples").
 *
 * A profile is built from samples with negative, zero and large values,
 * string and numeric labels (a zero number, a unit, none), stacks shared
 * between samples, an empty stack and a stack of trimmed frames; it is
 * gunzipped, unpacked with protobuf-c, and every sample must hold what was
 * added, and be byte for byte what protobuf-c packs for that message (the
 * encoding cprof used before writing samples itself).  Samples follow the
 * rest of the Profile, whose other fields protobuf-c still packs.
 *
 * Order ("Order" in builder.c): samples come out grouped by stack, in the
 * order the stacks first came, and within a stack by the order key, ties
 * as added; checked on the profile above and on 20,000 samples of three
 * stacks, the first 5,000 in order, with keys of up to 41 bits (four
 * passes of the sort, and the scratch space of the packed profile's
 * buffer), against a sort made here.
 */
#include <zlib.h>

#include "../../preload/base/arena.c"
#include "../../preload/base/log.c"
#include "../../encoder/demangle.c"
#include "../../encoder/deflate.c"
#include "../../encoder/gzip.c"
#include "../../encoder/builder.c"
#include "profile.pb-c.c"
#include "unit.h"

/* No mappings here: every PC is one of cprof's synthetic frames, which
 * the builder names itself. */
struct mapping *mappings_find(const struct mapping_set *ms, uintptr_t pc) { return NULL; }
const char *mappings_symbol(struct symbolizer *sym, const struct mapping *m, uintptr_t pc,
			    uintptr_t *start) { return NULL; }
int srclines_lookup(struct region *r, const char *path, uintptr_t bias, const char *build_id,
		    uintptr_t pc, struct src_frame *out, int max, bool *has_dwarf) { return 0; }
uintptr_t srclines_function_start(const char *path, uintptr_t bias, const char *build_id,
				  uintptr_t pc) { return 0; }

static struct stack *mkstack(struct region *r, const uintptr_t *pcs, unsigned n)
{
	struct stack *s = region_alloc(r, sizeof(*s) + n * sizeof(uintptr_t));
	memset(s, 0, sizeof(*s));
	s->depth = (uint16_t)n;
	memcpy(s->pcs, pcs, n * sizeof(uintptr_t));
	return s;
}

static size_t gunzip(const void *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 16) != Z_OK)
		return 0;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int rc = inflate(&z, Z_FINISH);
	size_t len = cap - z.avail_out;
	inflateEnd(&z);
	return rc == Z_STREAM_END ? len : 0;
}

static uint64_t varint(const uint8_t *b, size_t *i)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t c = b[(*i)++];
		v |= (uint64_t)(c & 0x7f) << shift;
		if (c < 0x80)
			break;
	}
	return v;
}

/* pb_finish, then the profile gunzipped into raw (*len bytes) and
 * unpacked by protobuf-c; NULL (a check failed) if any step fails. */
static Perftools__Profiles__Profile *finish_and_unpack(struct pb_builder *b, uint8_t *raw, size_t cap,
							size_t *len)
{
	void *gz;
	size_t gzlen;
	int rc = pb_finish(b, &gz, &gzlen);
	CHECK_EQ(rc, 0);
	if (rc != 0)
		return NULL;
	*len = gunzip(gz, gzlen, raw, cap);
	CHECK(*len > 0);
	Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, *len, raw);
	CHECK(p != NULL);
	return p;
}

#define NORD 20000

/* Many samples with order keys: the written order is the one a plain
 * stable sort by (first appearance of the stack, key) gives. */
static void test_order(void)
{
	struct region r = {0};
	struct pb_builder *b = pb_new(&r, NULL, NULL);
	static const struct pb_value_type types[] = {{"index", "count"}, {"key", "count"}};
	pb_set_types(b, types, 2, (struct pb_value_type){"space", "bytes"}, 1, NULL);
	uintptr_t p0[] = {CPROF_PC_NO_STACK}, p1[] = {CPROF_PC_PARTIAL_STACK},
		  p2[] = {CPROF_PC_LOST_SAMPLES, CPROF_PC_NO_STACK};
	const struct stack *stacks[3] = {mkstack(&r, p1, 1), mkstack(&r, p0, 1), mkstack(&r, p2, 2)};
	static int64_t key[NORD];
	static int stack_of[NORD], want[NORD];
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < NORD; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		/* 5,000 samples in order first (the references are made
		 * for them only once one comes out of order), then ties (a key
		 * of 16 values) and keys of up to 41 bits on three stacks. */
		if (i < 5000) {
			stack_of[i] = 0;
			key[i] = i;
		} else {
			stack_of[i] = i < 5002 ? i - 4999 : (int)(x % 3);
			key[i] = (int64_t)(i % 4 == 0 ? (x >> 20) % 16 : (x >> 23));
		}
		int64_t v[2] = {i, key[i]};
		CHECK_EQ(pb_add_sample(b, stacks[stack_of[i]], (uint64_t)key[i], v, NULL, 0), 0);
	}
	/* The expected order, by insertion into a sorted list (stable). */
	int n = 0;
	for (int i = 0; i < NORD; i++) {
		int at = n;
		while (at > 0 && (stack_of[want[at - 1]] > stack_of[i] ||
				  (stack_of[want[at - 1]] == stack_of[i] && key[want[at - 1]] > key[i])))
			at--;
		memmove(&want[at + 1], &want[at], (size_t)(n - at) * sizeof(want[0]));
		want[at] = i;
		n++;
	}
	static uint8_t raw[4 << 20];
	size_t len;
	Perftools__Profiles__Profile *p = finish_and_unpack(b, raw, sizeof(raw), &len);
	if (!p)
		return;
	CHECK_EQ(p->n_sample, NORD);
	int wrong = 0;
	for (size_t o = 0; o < p->n_sample && o < NORD; o++)
		if (p->sample[o]->n_value != 2 || p->sample[o]->value[0] != want[o] ||
		    p->sample[o]->value[1] != key[want[o]])
			wrong++;
	CHECK_EQ(wrong, 0);
	perftools__profiles__profile__free_unpacked(p, NULL);
	region_reset(&r);
}

#define NS 5

int main(void)
{
	test_order();

	struct region r = {0};
	struct pb_builder *b = pb_new(&r, NULL, NULL);
	static const struct pb_value_type types[] = {
		{"alloc_objects", "count"}, {"alloc_space", "bytes"}, {"inuse_space", "bytes"}};
	static const char *const trim[] = {"cprof_lost", NULL};
	pb_set_types(b, types, 3, (struct pb_value_type){"space", "bytes"}, 524288, NULL);
	pb_set_trim_prefixes(b, trim);
	pb_expect_samples(b, 2, 2);

	uintptr_t pa[] = {CPROF_PC_NO_STACK, CPROF_PC_PARTIAL_STACK};
	uintptr_t pt[] = {CPROF_PC_LOST_SAMPLES, CPROF_PC_THREAD_NO_REPLY}; /* first frame trimmed */
	struct stack *sa = mkstack(&r, pa, 2), *st = mkstack(&r, pt, 2);
	struct {
		const struct stack *st;
		int64_t v[3];
		struct pb_label l[2];
		size_t nl;
		size_t want_locs;
	} in[NS] = {
		{sa, {-1, 0, INT64_MIN}, {{"bytes", NULL, 64, "bytes"}, {"handler", "a", 0, NULL}}, 2, 2},
		{sa, {1, 300, INT64_MAX}, {{"bytes", NULL, 0, "bytes"}}, 1, 2},
		{NULL, {0, 0, 0}, {{0}}, 0, 0},
		{st, {5, -300, 7}, {{"n", NULL, -2, NULL}, {"handler", "b", 0, NULL}}, 2, 1},
		{sa, {2, 2, 2}, {{"handler", "a", 0, NULL}}, 1, 2},
	};
	for (int i = 0; i < NS; i++)
		CHECK_EQ(pb_add_sample(b, in[i].st, 0, in[i].v, in[i].l, in[i].nl), 0);
	/* Written grouped by stack (sa, then the empty one, then st). */
	static const int want[NS] = {0, 1, 4, 2, 3};

	static uint8_t raw[1 << 20];
	size_t n;
	Perftools__Profiles__Profile *p = finish_and_unpack(b, raw, sizeof(raw), &n);
	if (!p)
		UNIT_DONE();
	CHECK_EQ(p->n_sample, NS);

	/* What was added. */
	for (size_t o = 0; o < p->n_sample && o < NS; o++) {
		Perftools__Profiles__Sample *s = p->sample[o];
		int i = want[o];
		CHECK_EQ(s->n_value, 3);
		for (size_t k = 0; k < 3 && k < s->n_value; k++)
			CHECK_EQ(s->value[k], in[i].v[k]);
		CHECK_EQ(s->n_location_id, in[i].want_locs);
		CHECK_EQ(s->n_label, in[i].nl);
		for (size_t k = 0; k < s->n_label && k < in[i].nl; k++) {
			const Perftools__Profiles__Label *l = s->label[k];
			CHECK_STR(p->string_table[l->key], in[i].l[k].key);
			if (in[i].l[k].str) {
				CHECK_STR(p->string_table[l->str], in[i].l[k].str);
			} else {
				CHECK_EQ(l->str, 0);
				CHECK_EQ(l->num, in[i].l[k].num);
				CHECK_STR(p->string_table[l->num_unit],
					  in[i].l[k].num_unit ? in[i].l[k].num_unit : "");
			}
		}
	}
	/* Samples with one stack share its location ids; the trimmed frame is
	 * gone (the second frame's location is not the first's). */
	if (p->n_sample == NS) {
		for (size_t k = 0; k < 2; k++) {
			CHECK_EQ(p->sample[1]->location_id[k], p->sample[0]->location_id[k]);
			CHECK_EQ(p->sample[2]->location_id[k], p->sample[0]->location_id[k]);
		}
		CHECK(p->sample[4]->location_id[0] != p->sample[0]->location_id[0]);
		CHECK(p->sample[4]->location_id[0] != p->sample[0]->location_id[1]);
	}

	/* Byte for byte protobuf-c's own encoding of each sample, and the
	 * samples after every other field. */
	size_t i = 0, k = 0;
	bool samples_began = false, field_after_samples = false;
	while (i < n) {
		uint64_t key = varint(raw, &i);
		unsigned field = (unsigned)(key >> 3), wire = (unsigned)(key & 7);
		if (wire == 0) {
			(void)varint(raw, &i);
		} else if (wire == 2) {
			size_t len = (size_t)varint(raw, &i);
			if (field == 2 && k < p->n_sample) {
				uint8_t want[512];
				size_t wl = perftools__profiles__sample__get_packed_size(p->sample[k]);
				CHECK(wl <= sizeof(want));
				if (wl <= sizeof(want)) {
					perftools__profiles__sample__pack(p->sample[k], want);
					CHECK_EQ(len, wl);
					CHECK(len == wl && memcmp(raw + i, want, wl) == 0);
				}
				k++;
			}
			i += len;
		} else {
			CHECK(!"unexpected wire type");
			break;
		}
		if (field == 2)
			samples_began = true;
		else if (samples_began)
			field_after_samples = true;
	}
	CHECK_EQ(i, n);
	CHECK_EQ(k, NS);
	CHECK(!field_after_samples);

	perftools__profiles__profile__free_unpacked(p, NULL);
	region_reset(&r);
	UNIT_DONE();
}
