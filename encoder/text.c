/*
 * text.c - the legacy text forms of the profiles (see text.h for the
 * formats and why they look the way they do).
 *
 * Contexts: the HTTP thread, guard held, in a session (session.h): each
 * form reads the tables into records, calls dump_tables_read() and only
 * then symbolizes and prints.  No
 * stdio, no malloc: text grows in the caller's region (doubling; the old
 * copy stays in the region until it is reset), records are sorted with a
 * local shell sort (glibc's qsort may allocate).
 *
 * Invariants: every function tolerates running out of memory half way (the
 * output is then a prefix and the function returns -1); names come from
 * the dump's symbolizer exactly as in the binary profiles, so the text and
 * the protobuf of the same moment name the same functions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "text.h"
#include "demangle.h"
#include "srclines.h"
#include "config.h"
#include "heapprof.h"
#include "labels.h"
#include "lockprof.h"
#include "log.h"
#include "stacktab.h"
#include "threads.h"
#include "threadstacks.h"

/* ---- the buffer ------------------------------------------------------------ */

void text_init(struct text_out *o, struct region *r)
{
	memset(o, 0, sizeof(*o));
	o->r = r;
}

void text_putn(struct text_out *o, const char *s, size_t n)
{
	if (o->failed || n == 0)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n + 1)
			cap *= 2;
		char *nb = region_realloc(o->r, o->buf, o->cap, cap);
		if (!nb) {
			o->failed = true;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

void text_puts(struct text_out *o, const char *s)
{
	text_putn(o, s, strlen(s));
}

void text_printf(struct text_out *o, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	size_t n = cprof_vfmt(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	text_putn(o, buf, n);
}

void text_put_html(struct text_out *o, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': text_puts(o, "&amp;"); break;
		case '<': text_puts(o, "&lt;"); break;
		case '>': text_puts(o, "&gt;"); break;
		case '"': text_puts(o, "&#34;"); break;
		case '\'': text_puts(o, "&#39;"); break;
		default: text_putn(o, s, 1); break;
		}
	}
}

/* ---- frames ----------------------------------------------------------------- */

struct tctx {
	struct dump_ctx *d;
	struct pb_builder *b;   /* only for pb_pc_name's synthetic names */
	struct text_out *o;
};

struct frame {
	uintptr_t addr;         /* exact leaf PC, or return address - 1 */
	const char *name;       /* never NULL */
	bool sym;               /* name is a symbol: off is valid */
	uintptr_t off;          /* addr - start of the function */
	const char *path;       /* object holding addr, or NULL */
	uintptr_t obj_off;      /* addr - the object's load bias */
};

static bool ctx_init(struct tctx *c, struct dump_ctx *d, struct text_out *o)
{
	c->d = d;
	c->o = o;
	c->b = pb_new(d->r, d->ms, d->sym);
	return c->b != NULL;
}

static bool synthetic(uintptr_t pc)
{
	return pc < CPROF_PC_SYNTHETIC_MAX;
}

static void resolve(struct tctx *c, uintptr_t pc, bool exact, struct frame *f)
{
	char buf[600];

	memset(f, 0, sizeof(*f));
	if (synthetic(pc)) {
		f->addr = pc;
		f->name = pb_pc_name(c->b, pc);
		if (!f->name)
			f->name = "cprof_synthetic";
		return;
	}
	f->addr = exact ? pc : pc - 1;
	struct mapping *m = c->d->ms ? mappings_find(c->d->ms, f->addr) : NULL;
	if (!m) {
		cprof_fmt(buf, sizeof(buf), "0x%lx", (unsigned long)f->addr);
		f->name = region_strdup(c->d->r, buf);
		if (!f->name)
			f->name = "?";
		return;
	}
	f->path = m->path;
	f->obj_off = f->addr - m->bias;
	uintptr_t start = 0;
	const char *n = mappings_symbol(c->d->sym, m, f->addr, &start);
	if (n) {
		/* "name@@GLIBC_2.34" is known to users and pprof as "name". */
		const char *at = strchr(n, '@');
		if (at && at != n) {
			char *copy = region_alloc(c->d->r, (size_t)(at - n) + 1);
			if (copy) {
				memcpy(copy, n, (size_t)(at - n));
				copy[at - n] = '\0';
				n = copy;
			}
		}
		f->name = n;
		f->sym = true;
		f->off = start && start <= f->addr ? f->addr - start : 0;
		return;
	}
	const char *base = strrchr(m->path, '/');
	base = base ? base + 1 : m->path;
	cprof_fmt(buf, sizeof(buf), "%s+0x%lx", base, (unsigned long)f->obj_off);
	f->name = region_strdup(c->d->r, buf);
	if (!f->name)
		f->name = "?";
}

/* Allocator entry points trimmed from the leaf end of heap stacks, as the
 * protobuf heap profile does (prof_heap.c keeps the same list). */
static const char *const heap_trim[] = {
	"_Znwm", "_Znam", "__libc_malloc", "__libc_calloc", "__libc_realloc",
	"__libc_memalign", "__posix_memalign", "je_", "tc_", "__default_morecore",
	"_ZN9__gnu_cxx13new_allocator", "_ZNSt15__new_allocator", NULL,
};

static unsigned leading_trim(struct tctx *c, const struct stack *st)
{
	unsigned i = 0;
	for (; i + 1 < st->depth; i++) {
		struct frame f;
		resolve(c, st->pcs[i], i == 0 && (st->flags & STACK_LEAF_EXACT), &f);
		bool trim = false;
		for (const char *const *p = heap_trim; *p && !trim; p++)
			trim = f.sym && strncmp(f.name, *p, strlen(*p)) == 0;
		if (!trim)
			break;
	}
	return i;
}

/* " 0xPC 0xPC..." as Go writes them: return addresses (pprof subtracts
 * one), an exact leaf plus one. */
static void put_addrs(struct tctx *c, const struct stack *st, unsigned skip)
{
	for (unsigned i = skip; st && i < st->depth; i++) {
		uintptr_t pc = st->pcs[i];
		if (i == 0 && (st->flags & STACK_LEAF_EXACT) && !synthetic(pc))
			pc++;
		text_printf(c->o, " 0x%lx", (unsigned long)pc);
	}
	text_puts(c->o, "\n");
}

/* "#\t0xADDR\tfunction+0xoff\tobject" per frame, then a blank line. */
static void put_frames(struct tctx *c, const struct stack *st, unsigned skip)
{
	for (unsigned i = skip; st && i < st->depth; i++) {
		struct frame f;
		resolve(c, st->pcs[i], i == 0 && (st->flags & STACK_LEAF_EXACT), &f);
		text_printf(c->o, "#\t0x%lx\t", (unsigned long)f.addr);
		text_puts(c->o, f.name);
		if (f.sym)
			text_printf(c->o, "+0x%lx", (unsigned long)f.off);
		if (f.path) {
			text_puts(c->o, "\t");
			text_puts(c->o, f.path);
		}
		text_puts(c->o, "\n");
	}
	text_puts(c->o, "\n");
}

/* /proc/self/maps, executable mappings only (pprof skips the others). */
#define MAPS_MAX (16u << 20)

static void put_maps(struct tctx *c)
{
	struct text_out all;
	char buf[8192];
	ssize_t n;

	text_puts(c->o, "\n--- Memory map: ---\n");
	text_init(&all, c->d->r);
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	while (all.len < MAPS_MAX) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		text_putn(&all, buf, (size_t)n);
	}
	close(fd);
	for (size_t pos = 0; pos < all.len;) {
		const char *line = all.buf + pos;
		const char *nl = memchr(line, '\n', all.len - pos);
		size_t len = nl ? (size_t)(nl - line) + 1 : all.len - pos;
		const char *sp = memchr(line, ' ', len);
		/* "start-end perms offset dev inode path": perms after the first space */
		if (sp && (size_t)(sp - line) + 4 < len && sp[3] == 'x')
			text_putn(c->o, line, len);
		pos += len;
	}
	if (c->o->len && c->o->buf[c->o->len - 1] != '\n')
		text_puts(c->o, "\n");
}

/* ---- records ------------------------------------------------------------------ */

struct rec {
	int64_t key;            /* sort key, largest first */
	uint32_t stack;
	uint64_t v[4];
};

struct recs {
	struct rec *v;
	size_t n, cap;
	bool failed;
};

static struct rec *rec_add(struct recs *rs, struct region *r)
{
	struct rec *x = region_array_push(r, (void **)&rs->v, &rs->n, &rs->cap, sizeof(*x), 256);
	if (!x)
		rs->failed = true;
	return x;
}

/* Shell sort (Knuth's gaps), largest key first. */
static void sort_recs(struct rec *v, size_t n)
{
	size_t gap = 1;
	while (gap < n / 3)
		gap = gap * 3 + 1;
	for (; gap > 0; gap /= 3) {
		for (size_t i = gap; i < n; i++) {
			struct rec t = v[i];
			size_t j = i;
			for (; j >= gap && v[j - gap].key < t.key; j -= gap)
				v[j] = v[j - gap];
			v[j] = t;
		}
	}
}

/* ---- heap ------------------------------------------------------------------------ */

struct heap_acc {
	struct recs rs;
	struct region *r;
	uint64_t tot[4];
};

static void heap_rec(const struct heap_bucket_view *b, void *arg)
{
	struct heap_acc *a = arg;
	if (!b->alloc.samples)
		return;
	struct rec *x = rec_add(&a->rs, a->r);
	if (!x)
		return;
	x->stack = b->stack;
	x->v[0] = b->alloc.samples - b->freed.samples;
	x->v[1] = b->alloc.bytes - b->freed.bytes;
	x->v[2] = b->alloc.samples;
	x->v[3] = b->alloc.bytes;
	x->key = (int64_t)x->v[1];
	for (int i = 0; i < 4; i++)
		a->tot[i] += x->v[i];
}

int text_heap(struct dump_ctx *d, struct text_out *o)
{
	struct tctx c;
	struct heap_acc a = {.r = d->r};

	if (!ctx_init(&c, d, o))
		return -1;
	if (d->peak)
		heap_foreach_peak(heap_rec, &a, NULL, NULL);
	else
		heap_foreach_bucket(heap_rec, &a);
	dump_tables_read(d);
	sort_recs(a.rs.v, a.rs.n);
	/* Go writes twice the sampling rate after "heap/"; pprof halves it. */
	text_printf(o, "heap profile: %llu: %llu [%llu: %llu] @ heap/%llu\n",
		    (unsigned long long)a.tot[0], (unsigned long long)a.tot[1],
		    (unsigned long long)a.tot[2], (unsigned long long)a.tot[3],
		    (unsigned long long)heap_rate() * 2);
	for (size_t i = 0; i < a.rs.n; i++) {
		const struct rec *x = &a.rs.v[i];
		const struct stack *st = stacktab_get(x->stack);
		unsigned skip = st ? leading_trim(&c, st) : 0;
		text_printf(o, "%llu: %llu [%llu: %llu] @", (unsigned long long)x->v[0],
			    (unsigned long long)x->v[1], (unsigned long long)x->v[2],
			    (unsigned long long)x->v[3]);
		put_addrs(&c, st, skip);
		put_frames(&c, st, skip);
	}
	text_printf(o, "# cprof: sampling rate %llu bytes; counts above are samples, "
		       "which pprof scales to estimates\n", (unsigned long long)heap_rate());
	put_maps(&c);
	return o->failed || a.rs.failed ? -1 : 0;
}

/* ---- mutex and block --------------------------------------------------------------- */

struct lock_acc {
	struct recs rs;
	struct region *r;
};

static void lock_rec(const struct lock_bucket_view *v, void *arg)
{
	struct lock_acc *a = arg;
	if (!v->count_fp && !v->delay_ns)
		return;
	struct rec *x = rec_add(&a->rs, a->r);
	if (!x)
		return;
	uint64_t n = (v->count_fp + LOCKPROF_ONE / 2) / LOCKPROF_ONE;
	x->stack = v->stack;
	x->v[0] = v->delay_ns;
	x->v[1] = n ? n : 1;
	x->key = (int64_t)v->delay_ns;
}

int text_lock(struct dump_ctx *d, unsigned bit, struct text_out *o)
{
	struct tctx c;
	struct lock_acc a = {.r = d->r};

	if (!ctx_init(&c, d, o))
		return -1;
	lockprof_foreach(bit == PROF_MUTEX ? 0 : 1, lock_rec, &a);
	dump_tables_read(d);
	sort_recs(a.rs.v, a.rs.n);
	/* Go's names: "mutex" for the mutex profile, "contention" for block. */
	text_puts(o, bit == PROF_MUTEX ? "--- mutex:\n" : "--- contention:\n");
	text_puts(o, "cycles/second=1000000000\n");
	text_puts(o, "sampling period=1\n");
	text_puts(o, "# cprof: delays are nanoseconds, counts and delays already scaled for sampling\n");
	for (size_t i = 0; i < a.rs.n; i++) {
		const struct rec *x = &a.rs.v[i];
		const struct stack *st = stacktab_get(x->stack);
		text_printf(o, "%llu %llu @", (unsigned long long)x->v[0], (unsigned long long)x->v[1]);
		put_addrs(&c, st, 0);
		put_frames(&c, st, 0);
	}
	put_maps(&c);
	return o->failed || a.rs.failed ? -1 : 0;
}

/* ---- threadcreate ----------------------------------------------------------------- */

struct create_acc {
	struct recs rs;
	struct region *r;
	uint64_t total;
};

static void create_rec(uint32_t id, uint32_t stack, uint64_t count, void *arg)
{
	struct create_acc *a = arg;
	(void)id;
	if (!count)
		return;
	struct rec *x = rec_add(&a->rs, a->r);
	if (!x)
		return;
	x->stack = stack;
	x->v[0] = count;
	x->key = (int64_t)count;
	a->total += count;
}

int text_threadcreate(struct dump_ctx *d, struct text_out *o)
{
	struct tctx c;
	struct create_acc a = {.r = d->r};

	if (!ctx_init(&c, d, o))
		return -1;
	threads_foreach_create(create_rec, &a);
	dump_tables_read(d);
	sort_recs(a.rs.v, a.rs.n);
	text_printf(o, "threadcreate profile: total %llu\n", (unsigned long long)a.total);
	for (size_t i = 0; i < a.rs.n; i++) {
		const struct rec *x = &a.rs.v[i];
		const struct stack *st = stacktab_get(x->stack);
		text_printf(o, "%llu @", (unsigned long long)x->v[0]);
		put_addrs(&c, st, 0);
		put_frames(&c, st, 0);
	}
	put_maps(&c);
	return o->failed || a.rs.failed ? -1 : 0;
}

/* ---- threads --------------------------------------------------------------------- */

struct tentry {
	int tid;
	uint32_t stack;
	const char *name;
	const char *state;
	const char *note;
	uint32_t created;
	uint32_t labels;
};

struct thread_acc {
	struct tentry *v;
	size_t n, cap;
	struct region *r;
	bool failed;
};

static void thread_take(const struct thread_stack *ts, void *arg)
{
	struct thread_acc *a = arg;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		struct tentry *nv = region_realloc(a->r, a->v, a->cap * sizeof(*nv), cap * sizeof(*nv));
		if (!nv) {
			a->failed = true;
			return;
		}
		a->v = nv;
		a->cap = cap;
	}
	struct tentry *e = &a->v[a->n++];
	char name[16];
	e->tid = ts->tid;
	e->stack = ts->stack;
	/* The registry learns names lazily: ask it (it reads comm once). */
	if (!ts->name || !ts->name[0] || strcmp(ts->name, "?") == 0)
		threads_name(ts->tid, name, sizeof(name), false);
	else
		cprof_fmt(name, sizeof(name), "%s", ts->name);
	e->name = region_strdup(a->r, name[0] ? name : "?");
	if (!e->name)
		e->name = "?";
	e->state = ts->state;
	e->note = ts->note;
	e->created = ts->created;
	e->labels = ts->labels;
}

/* Order by (stack, label set, tid) when by_stack, else by tid (shell
 * sort, as above). */
static bool tentry_before(const struct tentry *x, const struct tentry *y, bool by_stack)
{
	if (by_stack && x->stack != y->stack)
		return x->stack < y->stack;
	if (by_stack && x->labels != y->labels)
		return x->labels < y->labels;
	return x->tid < y->tid;
}

/* s between double quotes, with quotes, backslashes and control bytes
 * escaped (as Go's %q would). */
static void put_quoted(struct text_out *o, const char *s)
{
	char buf[2 * LABELS_MAX_LEN + 8];
	size_t n = 0;
	buf[n++] = '"';
	for (; *s && n < sizeof(buf) - 6; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			n += (size_t)cprof_fmt(buf + n, 5, "\\x%02x", ch);
		} else {
			buf[n++] = (char)ch;
		}
	}
	buf[n++] = '"';
	buf[n] = '\0';
	text_puts(o, buf);
}

/* Go's "# labels: {"k":"v", ...}" line of goroutine?debug=1, for a
 * label set (labels.h; pairs sorted by key, as Go sorts them). */
static void put_labels(struct text_out *o, uint32_t set)
{
	unsigned n;
	const char *const *kv = labels_pairs(set, &n);
	if (!n)
		return;
	text_puts(o, "# labels: {");
	for (unsigned i = 0; i < n; i++) {
		if (i)
			text_puts(o, ", ");
		put_quoted(o, kv[2 * i]);
		text_puts(o, ":");
		put_quoted(o, kv[2 * i + 1]);
	}
	text_puts(o, "}\n");
}

static void sort_tentries(struct tentry *v, size_t n, bool by_stack)
{
	size_t gap = 1;
	while (gap < n / 3)
		gap = gap * 3 + 1;
	for (; gap > 0; gap /= 3) {
		for (size_t i = gap; i < n; i++) {
			struct tentry t = v[i];
			size_t j = i;
			for (; j >= gap && tentry_before(&t, &v[j - gap], by_stack); j -= gap)
				v[j] = v[j - gap];
			v[j] = t;
		}
	}
}

int text_threads(struct dump_ctx *d, const char *name, struct text_out *o)
{
	struct tctx c;
	struct thread_acc a = {.r = d->r};
	struct recs rs = {0};

	if (!ctx_init(&c, d, o))
		return -1;
	threadstacks_collect(d->r, thread_take, &a);
	dump_tables_read(d);
	sort_tentries(a.v, a.n, true);
	/* One record per distinct (stack, label set): v[0] = count, v[1] =
	 * first entry. */
	for (size_t i = 0; i < a.n;) {
		size_t j = i;
		while (j < a.n && a.v[j].stack == a.v[i].stack && a.v[j].labels == a.v[i].labels)
			j++;
		struct rec *x = rec_add(&rs, d->r);
		if (x) {
			x->stack = a.v[i].stack;
			x->v[0] = j - i;
			x->v[1] = i;
			x->key = (int64_t)(j - i);
		}
		i = j;
	}
	sort_recs(rs.v, rs.n);
	text_printf(o, "%s profile: total %zu\n", name, a.n);
	for (size_t i = 0; i < rs.n; i++) {
		const struct rec *x = &rs.v[i];
		const struct stack *st = stacktab_get(x->stack);
		text_printf(o, "%llu @", (unsigned long long)x->v[0]);
		put_addrs(&c, st, 0);
		put_labels(o, a.v[x->v[1]].labels);
		/* Which threads share this stack (a comment: pprof skips it). */
		text_puts(o, "# threads:");
		for (size_t k = 0; k < x->v[0]; k++) {
			const struct tentry *e = &a.v[x->v[1] + k];
			if (k == 16) {
				text_printf(o, " ... (%llu more)", (unsigned long long)(x->v[0] - k));
				break;
			}
			text_printf(o, "%s %d ", k ? "," : "", e->tid);
			text_puts(o, e->name);
			if (e->state)
				text_printf(o, " (%s)", e->state);
			else if (e->note)
				text_printf(o, " (%s)", e->note);
		}
		text_puts(o, "\n");
		put_frames(&c, st, 0);
	}
	put_maps(&c);
	return o->failed || a.failed || rs.failed ? -1 : 0;
}

/* One frame as Go's goroutine?debug=2 prints it: "function(...)" and, on
 * the next line, "\tfile:line +0xoff" where DWARF gives the line (each
 * inlined call its own frame, innermost first), else "\tobject+0xoff". */
static void put_frame_lines(struct tctx *c, const struct frame *f, struct text_out *o, bool created_by);

static void put_source_frames(struct tctx *c, const struct frame *f, struct text_out *o)
{
	put_frame_lines(c, f, o, false);
}

/* The frame, or with created_by as Go's "created by" trailer: the
 * function that called pthread_create (the outermost of its inline chain
 * where the call was inlined), without "(...)". */
static void put_frame_lines(struct tctx *c, const struct frame *f, struct text_out *o, bool created_by)
{
	struct src_frame fr[SRCLINES_MAX_FRAMES];
	int nf = 0;
	struct mapping *m = f->path && c->d->ms ? mappings_find(c->d->ms, f->addr) : NULL;
	if (m && !m->mem_image)
		nf = srclines_lookup(c->d->r, m->main ? "/proc/self/exe" : m->path, m->bias, m->build_id,
				     f->addr, fr, SRCLINES_MAX_FRAMES, NULL);
	for (int i = created_by && nf > 0 ? nf - 1 : 0; i < nf; i++) {
		const char *raw = i == nf - 1 && f->sym ? f->name
				  : fr[i].function   ? fr[i].function
				  : i == nf - 1      ? f->name
						     : "??";
		const char *name = demangle_simple(c->d->r, raw);
		if (created_by)
			text_puts(o, "created by ");
		text_puts(o, name ? name : raw);
		text_puts(o, created_by ? "\n\t" : "(...)\n\t");
		if (fr[i].file) {
			text_printf(o, "%s:%ld", fr[i].file, (long)fr[i].line);
			if (i == nf - 1 && f->sym)
				text_printf(o, " +0x%lx", (unsigned long)f->off);
			text_puts(o, "\n");
		} else {
			text_printf(o, "%s+0x%lx\n", f->path, (unsigned long)f->obj_off);
		}
	}
	if (nf > 0)
		return;
	const char *name = f->sym ? demangle_simple(c->d->r, f->name) : NULL;
	if (created_by)
		text_puts(o, "created by ");
	text_puts(o, name ? name : f->name);
	text_puts(o, created_by ? "\n\t" : "(...)\n\t");
	if (f->path) {
		text_puts(o, f->path);
		text_printf(o, "+0x%lx\n", (unsigned long)f->obj_off);
	} else {
		text_printf(o, "0x%lx\n", (unsigned long)f->addr);
	}
}

int text_threads_full(struct dump_ctx *d, struct text_out *o)
{
	struct tctx c;
	struct thread_acc a = {.r = d->r};

	if (!ctx_init(&c, d, o))
		return -1;
	threadstacks_collect(d->r, thread_take, &a);
	dump_tables_read(d);
	sort_tentries(a.v, a.n, false);
	for (size_t i = 0; i < a.n; i++) {
		const struct tentry *e = &a.v[i];
		text_printf(o, "thread %d [", e->tid);
		text_puts(o, e->name);
		if (e->state) {
			text_printf(o, ", %s]:\n\t(no stack: %s)\n\n", e->state, e->state);
			continue;
		}
		if (e->note) {
			text_puts(o, ", ");
			text_puts(o, e->note);
		}
		text_puts(o, "]:\n");
		const struct stack *st = stacktab_get(e->stack);
		for (unsigned k = 0; st && k < st->depth; k++) {
			struct frame f;
			resolve(&c, st->pcs[k], k == 0 && (st->flags & STACK_LEAF_EXACT), &f);
			put_source_frames(&c, &f, o);
		}
		const struct stack *cs = e->created ? stacktab_get(e->created) : NULL;
		if (cs && cs->depth) {
			struct frame f;
			resolve(&c, cs->pcs[0], false, &f);
			put_frame_lines(&c, &f, o, true);
		}
		text_puts(o, "\n");
	}
	return o->failed || a.failed ? -1 : 0;
}
