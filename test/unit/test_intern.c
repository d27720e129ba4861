/* Unit test: the interning table (preload/core/intern.c): dense ids, lookups
 * without a lock while writers insert and the index doubles, records
 * complete whenever an id is visible, a full table and a refused fill, and
 * an index backed by memory of its own before anything reads it. */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "../../preload/base/arena.c"
#include "../../preload/core/intern.c"
#include "unit.h"

struct rec {
	uint64_t key;
	uint64_t check; /* written by fill: a reader seeing the id must see it */
};

static bool rec_eq(const void *rec, const void *key)
{
	return ((const struct rec *)rec)->key == *(const uint64_t *)key;
}

static uint64_t key_hash(uint64_t k)
{
	/* Few distinct hashes: long probe sequences, collisions on purpose. */
	return cprof_hash64(k % 1000);
}

static bool rec_fill(void *rec, const void *key)
{
	struct rec *r = rec;
	r->key = *(const uint64_t *)key;
	r->check = ~r->key;
	return true;
}

static bool refuse(void *rec, const void *key)
{
	return false;
}

static struct intern tab;
static pthread_mutex_t writer = PTHREAD_MUTEX_INITIALIZER;
static atomic_int stop;
static atomic_long bad;

#define KEYS 60000

static uint32_t add(uint64_t k)
{
	pthread_mutex_lock(&writer);
	uint32_t id = intern_insert(&tab, key_hash(k), rec_eq, &k, rec_fill);
	pthread_mutex_unlock(&writer);
	return id;
}

static void *inserter(void *arg)
{
	uint64_t base = (uintptr_t)arg;
	for (uint64_t k = base; k < KEYS; k += 2) {
		uint32_t id = add(k);
		const struct rec *r = intern_rec(&tab, id);
		if (!id || r->key != k || r->check != ~k)
			atomic_fetch_add(&bad, 1);
	}
	return NULL;
}

static void *reader(void *arg)
{
	uint64_t x = 12345;
	while (!atomic_load(&stop)) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		uint64_t k = (x >> 33) % KEYS;
		uint32_t id = intern_find(&tab, key_hash(k), rec_eq, &k);
		if (id) {
			const struct rec *r = intern_rec(&tab, id);
			if (r->key != k || r->check != ~k || id > intern_count(&tab))
				atomic_fetch_add(&bad, 1);
		}
	}
	return NULL;
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Faults taken reading, then writing, one word on each page of x.  Not
 * instrumented by AddressSanitizer: its checks would fault in the
 * shadow pages of x too. */
__attribute__((no_sanitize_address)) static long read_then_write_faults(uint64_t *x, size_t words)
{
	volatile uint64_t sum = 0;
	long before = minor_faults();
	for (size_t i = 0; i < words; i += 512)
		sum += ((volatile uint64_t *)x)[i];
	for (size_t i = 0; i < words; i += 512)
		x[i] = sum;
	return minor_faults() - before;
}

/* A new index has every page backed by memory of its own: a lookup that
 * reads a page first would otherwise map the kernel's zero page, and the
 * insert's first store there would flush every CPU's TLB (arena.h). */
static void check_index_backed(void)
{
	uint32_t cap = 1u << 16;
	size_t len = (size_t)cap * sizeof(uint64_t);
	size_t npages = (len + 4095) / 4096;
	_Atomic uint64_t *x = index_new(cap);
	CHECK(x != NULL);
	if (!x)
		return;
	unsigned char vec[npages];
	CHECK_EQ(mincore(x, len, vec), 0);
	size_t resident = 0;
	for (size_t i = 0; i < npages; i++)
		resident += vec[i] & 1;
	CHECK_EQ(resident, npages);
	CHECK_EQ(read_then_write_faults((uint64_t *)x, cap), 0);
	/* The measurement can see the faults: plain pages take them. */
	uint64_t *plain = pages_alloc(len);
	CHECK(read_then_write_faults(plain, cap) > 0);
	pages_free(plain, len);
}

int main(void)
{
	check_index_backed();
	intern_setup(&tab, sizeof(struct rec), 1u << 20, 64);

	/* Dense ids from 1, stable, found without inserting twice. */
	uint64_t k = 7;
	CHECK_EQ(intern_find(&tab, key_hash(k), rec_eq, &k), 0);
	CHECK_EQ(add(7), 1);
	CHECK_EQ(add(8), 2);
	CHECK_EQ(add(7), 1);
	CHECK_EQ(intern_find(&tab, key_hash(k), rec_eq, &k), 1);
	CHECK_EQ(intern_count(&tab), 2);

	/* A refused fill hands out no id. */
	k = 99;
	CHECK_EQ(intern_insert(&tab, key_hash(k), rec_eq, &k, refuse), 0);
	CHECK_EQ(intern_count(&tab), 2);
	CHECK_EQ(intern_find(&tab, key_hash(k), rec_eq, &k), 0);

	/* Two writers and two lock-free readers while the index doubles
	 * from 64 slots to 128 Ki. */
	pthread_t w[2], r[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, reader, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, inserter, (void *)(uintptr_t)i);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	CHECK_EQ(atomic_load(&bad), 0);
	CHECK_EQ(intern_count(&tab), KEYS);
	for (uint64_t q = 0; q < KEYS; q++) {
		uint32_t id = intern_find(&tab, key_hash(q), rec_eq, &q);
		CHECK(id >= 1 && id <= KEYS);
		if (id)
			CHECK_EQ(((struct rec *)intern_rec(&tab, id))->key, q);
	}

	/* A full table refuses new keys and keeps the old ones. */
	static struct intern small;
	intern_setup(&small, sizeof(struct rec), 5, 8);
	for (uint64_t q = 0; q < 4; q++)
		CHECK_EQ(intern_insert(&small, key_hash(q), rec_eq, &q, rec_fill), q + 1);
	k = 4;
	CHECK_EQ(intern_insert(&small, key_hash(k), rec_eq, &k, rec_fill), 0);
	k = 2;
	CHECK_EQ(intern_insert(&small, key_hash(k), rec_eq, &k, rec_fill), 3);

	return unit_failures ? 1 : 0;
}
