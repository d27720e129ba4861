/* Unit test: label sets (preload/core/labels.c): one id per distinct set
 * whatever the order of its pairs, later pairs replacing earlier ones,
 * `with` merging onto a base, reserved keys dropped, invalid input refused,
 * the public API's thread-local current set, and concurrent interning. */
#include <link.h>
#include <pthread.h>

#include "../../preload/base/arena.c"
#include "../../preload/base/log.c"
#include "../../preload/base/tstate.c"
#include "../../preload/core/intern.c"
#include "../../preload/core/labels.c"
#include "unit.h"

/* labels.c looks for other libraries' label variables through the real
 * dl_iterate_phdr; this test program has none. */
struct real_fns real = {.dl_iterate_phdr = dl_iterate_phdr};
void real_bind_glibc(void) {}

static void check_pairs(uint32_t id, const char *const *want, unsigned n)
{
	unsigned got;
	const char *const *kv = labels_pairs(id, &got);
	CHECK_EQ(got, n);
	for (unsigned i = 0; i < 2 * n && i < 2 * got; i++)
		CHECK_STR(kv[i], want[i]);
}

static void *interner(void *arg)
{
	char k[16], v[16];
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "k%d", i % 7);
		snprintf(v, sizeof(v), "v%d", (i * 7 + (int)(intptr_t)arg) % 3000);
		const char *kv[] = {k, v};
		uint32_t id = labels_intern(0, kv, 1);
		const char *want[] = {k, v};
		unsigned n;
		const char *const *got = labels_pairs(id, &n);
		if (!id || n != 1 || strcmp(got[0], want[0]) || strcmp(got[1], want[1]))
			abort();
	}
	return NULL;
}

int main(void)
{
	const char *ab[] = {"b", "2", "a", "1"}, *ba[] = {"a", "1", "b", "2"};
	const char *sorted[] = {"a", "1", "b", "2"};
	uint32_t x = labels_intern(0, ab, 2);
	CHECK(x != 0);
	CHECK_EQ(labels_intern(0, ba, 2), x);
	check_pairs(x, sorted, 2);

	/* Same key twice: the later value wins. */
	const char *dup[] = {"a", "0", "b", "2", "a", "1"};
	CHECK_EQ(labels_intern(0, dup, 3), x);

	/* with: onto a base, replacing and adding. */
	const char *a1[] = {"a", "1"}, *b2[] = {"b", "2"}, *a9c3[] = {"a", "9", "c", "3"};
	uint32_t base = labels_intern(0, a1, 1);
	CHECK_EQ(labels_intern(base, b2, 1), x);
	uint32_t y = labels_intern(x, a9c3, 2);
	const char *ywant[] = {"a", "9", "b", "2", "c", "3"};
	check_pairs(y, ywant, 3);
	CHECK_EQ(labels_intern(x, NULL, 0), x);   /* nothing added: the base */
	CHECK(labels_intern(0, NULL, 0) == 0);     /* the empty set */

	/* Keys cprof puts on samples are dropped; a set of only those is empty. */
	const char *res[] = {"thread", "t", "a", "1", "bytes", "9"};
	CHECK_EQ(labels_intern(0, res, 3), base);
	const char *only[] = {"tid", "1"};
	CHECK(labels_intern(0, only, 1) == 0);

	/* Invalid input. */
	char longs[LABELS_MAX_LEN + 2];
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	const char *badkey[] = {"", "v"}, *nullv[] = {"k", NULL}, *toolong[] = {"k", longs};
	CHECK(labels_intern(0, badkey, 1) == 0);
	CHECK(labels_intern(0, nullv, 1) == 0);
	CHECK(labels_intern(0, toolong, 1) == 0);
	longs[LABELS_MAX_LEN] = '\0'; /* exactly the limit: accepted */
	CHECK(labels_intern(0, toolong, 1) != 0);
	CHECK(labels_intern(0, ab, -1) == 0);
	CHECK(labels_intern(0, ab, LABELS_MAX_PAIRS + 1) == 0);
	CHECK(labels_intern(12345, a1, 1) == 0);   /* a base never handed out */
	const char *many[2 * LABELS_MAX_PAIRS];
	char names[LABELS_MAX_PAIRS][8];
	for (int i = 0; i < LABELS_MAX_PAIRS; i++) {
		snprintf(names[i], sizeof(names[i]), "k%02d", i);
		many[2 * i] = names[i];
		many[2 * i + 1] = "v";
	}
	uint32_t full = labels_intern(0, many, LABELS_MAX_PAIRS);
	CHECK(full != 0);
	const char *one_more[] = {"zz", "v"};
	CHECK(labels_intern(full, one_more, 1) == 0); /* 17 pairs */
	CHECK_EQ(labels_intern(full, many, 1), full);  /* a replacement fits */

	unsigned n;
	CHECK(labels_pairs(0, &n) == NULL && n == 0);
	CHECK(labels_pairs(99999, &n) == NULL && n == 0);

	/* The public API: a thread-local current set, errno kept. */
	errno = 1234;
	CHECK_EQ(cprof_labels_intern(ab, 2), x);
	CHECK_EQ(cprof_labels_with(base, b2, 1), x);
	CHECK_EQ(errno, 1234);
	CHECK_EQ(cprof_labels_get(), 0);
	CHECK_EQ(cprof_labels_set(x), 0);
	CHECK_EQ(cprof_labels_get(), x);
	CHECK_EQ(labels_current(), x);
	CHECK_EQ(cprof_labels_set(y), x);
	CHECK_EQ(cprof_labels_set(0), y);
	CHECK_EQ(labels_current(), 0);

	/* Concurrent interning: same sets, same ids, every record complete. */
	pthread_t th[4];
	for (intptr_t i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, interner, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	return unit_failures ? 1 : 0;
}
