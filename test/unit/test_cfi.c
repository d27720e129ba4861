/* Unit test: the CFI walker (preload/core/cfi.c) walks exactly the frames
 * libunwind's unw_backtrace walks, from the same point, on stacks of
 * several shapes: plain recursion without frame pointers, frames whose CFA
 * is rbp-based (a variable-length array), frames that save rbp as an
 * ordinary callee-saved register, frames inside the C library (a qsort
 * comparator), on the main thread and on a new thread, before and after
 * the cache is emptied.  Through a signal handler's frame it must give up
 * (-1) rather than guess, and a short buffer truncates. */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

#include "../../preload/core/cfi.c"
#include "unit.h"

#define MAX 256

static int (*lu_backtrace)(void **, int);
static uintptr_t stack_hi;
static int shots, agreed, gave_up;

struct shot {
	uintptr_t cfi[MAX];
	void *lu[MAX];
	int n_cfi, n_lu;
	unsigned max;
};

static uintptr_t bounds_hi(void)
{
	pthread_attr_t a;
	void *addr;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return 0;
	pthread_attr_getstack(&a, &addr, &size);
	pthread_attr_destroy(&a);
	return (uintptr_t)addr + size;
}

/* Walks from its caller's frame with both unwinders. */
__attribute__((noinline, optimize("no-omit-frame-pointer"))) static void capture(struct shot *s)
{
	const uintptr_t *fp = __builtin_frame_address(0);
	s->n_cfi = cfi_walk(fp[1], (uintptr_t)fp + 16, fp[0], stack_hi, s->cfi, s->max ? s->max : MAX);
	s->n_lu = lu_backtrace(s->lu, MAX);
	__asm__ volatile("" ::: "memory");
}

/* libunwind's list starts inside capture (and possibly unw_backtrace):
 * from the first of its entries equal to ours, both must be the same. */
static void compare(const char *what, const struct shot *s)
{
	shots++;
	if (s->n_cfi < 0) {
		fprintf(stderr, "%s: the walker gave up\n", what);
		unit_failures++;
		return;
	}
	int k = 0;
	while (k < s->n_lu && k < 3 && (uintptr_t)s->lu[k] != s->cfi[0])
		k++;
	int n = s->n_lu - k;
	if (n != s->n_cfi || memcmp(s->lu + k, s->cfi, (size_t)n * sizeof(uintptr_t)) != 0) {
		fprintf(stderr, "%s: %d frames against libunwind's %d (skipped %d)\n", what, s->n_cfi,
			s->n_lu, k);
		for (int i = 0; i < MAX && (i < s->n_cfi || i + k < s->n_lu); i++)
			fprintf(stderr, "  %2d  %#18lx  %#18lx\n", i, i < s->n_cfi ? (unsigned long)s->cfi[i] : 0,
				i + k < s->n_lu ? (unsigned long)s->lu[i + k] : 0);
		unit_failures++;
		return;
	}
	agreed++;
}

/* ---- stack shapes (built without frame pointers: -O1) ---------------------- */

__attribute__((noinline)) static int recurse(int depth, struct shot *s)
{
	if (depth == 0) {
		capture(s);
		return 1;
	}
	int r = recurse(depth - 1, s);
	__asm__ volatile("" ::: "memory");
	return r + 1;
}

/* A variable-length array: the CFA is kept relative to rbp. */
__attribute__((noinline)) static int vla(int n, struct shot *s)
{
	volatile char buf[n];
	buf[0] = 1;
	int r = recurse(2, s);
	return r + buf[0];
}

/* rbp used as a callee-saved register, saved at some offset from the CFA. */
__attribute__((noinline)) static int spill(int depth, struct shot *s)
{
	int r;
	__asm__ volatile("" ::: "rbp", "rbx", "r12", "r13", "r14", "r15");
	r = depth ? vla(depth * 40, s) : recurse(3, s);
	__asm__ volatile("" ::: "rbp", "rbx");
	return r;
}

static struct shot *sort_shot;
static int sort_captured;

static int cmp(const void *a, const void *b)
{
	if (!sort_captured) {
		sort_captured = 1;
		spill(0, sort_shot);
	}
	return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) static void in_libc(struct shot *s)
{
	int v[64];
	for (int i = 0; i < 64; i++)
		v[i] = (i * 37) % 64;
	sort_shot = s;
	sort_captured = 0;
	qsort(v, 64, sizeof(v[0]), cmp);
}

static void shapes(const char *where)
{
	static struct shot s;
	char what[96];
	stack_hi = bounds_hi();
	CHECK(stack_hi != 0);
	for (int pass = 0; pass < 2; pass++) { /* learning, then from the cache */
		for (int d = 0; d < 40; d += 7) {
			snprintf(what, sizeof(what), "%s: recursion %d (pass %d)", where, d, pass);
			recurse(d, &s);
			compare(what, &s);
		}
		snprintf(what, sizeof(what), "%s: rbp-based frames (pass %d)", where, pass);
		vla(100, &s);
		compare(what, &s);
		snprintf(what, sizeof(what), "%s: rbp saved (pass %d)", where, pass);
		spill(3, &s);
		compare(what, &s);
		spill(0, &s);
		compare(what, &s);
		snprintf(what, sizeof(what), "%s: qsort comparator (pass %d)", where, pass);
		in_libc(&s);
		compare(what, &s);
	}
}

static void *thread_main(void *arg)
{
	shapes("thread");
	return NULL;
}

/* ---- a signal frame ---------------------------------------------------------- */

static struct shot sig_shot;

static void on_signal(int sig)
{
	recurse(2, &sig_shot);
}

int main(void)
{
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	lu_backtrace = h ? (int (*)(void **, int))dlsym(h, "unw_backtrace") : NULL;
	if (!lu_backtrace) {
		fprintf(stderr, "libunwind.so.8 not found: skipped\n");
		return 77;
	}

	shapes("main");
	pthread_t t;
	pthread_create(&t, NULL, thread_main, NULL);
	pthread_join(t, NULL);

	/* Emptied (as after a dlclose): learnt again, the same frames. */
	cfi_forget();
	shapes("after forget");

	/* A short buffer: the first frames, as many as asked. */
	static struct shot s;
	s.max = 3;
	recurse(10, &s);
	CHECK_EQ(s.n_cfi, 3);
	s.max = 0;
	recurse(10, &s);
	CHECK(s.n_cfi > 10);
	uintptr_t full[MAX];
	memcpy(full, s.cfi, sizeof(full));
	s.max = 3;
	recurse(10, &s);
	CHECK(memcmp(full, s.cfi, 3 * sizeof(uintptr_t)) == 0);

	/* Through a signal handler's frame (the C library's sigreturn
	 * trampoline, described by an expression): no guess. */
	signal(SIGUSR1, on_signal);
	raise(SIGUSR1);
	CHECK_EQ(sig_shot.n_cfi, -1);
	CHECK(sig_shot.n_lu > 5);

	/* Rules are few: every frame above shares a handful. */
	CHECK(atomic_load(&n_rules) > 3);
	CHECK(atomic_load(&n_rules) < 64);

	fprintf(stderr, "%d stacks, %d as libunwind walks them; %u rules\n", shots, agreed,
		atomic_load(&n_rules));
	CHECK_EQ(agreed, shots);
	CHECK(shots >= 30);
	(void)gave_up;
	UNIT_DONE();
}
