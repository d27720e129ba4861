/*
 * mappings.c - loaded objects and retired (dlclose'd) objects.
 *
 * Contexts: mappings_collect() on the dump thread; the note_* pair on the
 * program thread calling dlclose.  Neither runs in a signal handler
 * (dl_iterate_phdr takes the loader lock).
 *
 * Invariants:
 *  - The retired list is a singly linked list of immutable nodes, pushed
 *    with a CAS on `retired_head`; readers walk it without a lock.
 *  - Memory: collect() uses the caller's region; retired nodes come from
 *    the arena and live for the process.
 */
#include <elf.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "mappings.h"
#include "real.h"
#include "symbols.h"

#define PAGE 4096ull

struct retired {
	struct retired *next;
	struct mapping m;
};

static struct retired *retired_head;
/* The main program's path, read at start: /proc/self/exe cannot be read
 * once the thread-group leader has exited (a program ending its main
 * thread with pthread_exit). */
static char exe_at_start[4096];

void mappings_remember_exe(void)
{
	ssize_t n = readlink("/proc/self/exe", exe_at_start, sizeof(exe_at_start) - 1);
	exe_at_start[n > 0 ? n : 0] = '\0';
}

static int do_iterate(int (*cb)(struct dl_phdr_info *, size_t, void *), void *arg)
{
	/* Call the real dl_iterate_phdr: cprof's own hook would only add the
	 * in-loader flag, which this normal-context caller does not need. */
	return REAL(dl_iterate_phdr)(cb, arg);
}

void mappings_build_id(const ElfW(Phdr) *phdr, int phnum, uintptr_t bias, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	out[0] = '\0';
	for (int i = 0; i < phnum; i++) {
		if (phdr[i].p_type != PT_NOTE)
			continue;
		const unsigned char *p = (const unsigned char *)(bias + phdr[i].p_vaddr);
		size_t left = phdr[i].p_memsz;
		while (left >= sizeof(ElfW(Nhdr))) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			size_t namesz = (nh->n_namesz + 3) & ~3u;
			size_t descsz = (nh->n_descsz + 3) & ~3u;
			size_t total = sizeof(*nh) + namesz + descsz;
			if (namesz > left || descsz > left || total > left)
				break;
			const char *name = (const char *)(p + sizeof(*nh));
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && nh->n_descsz * 2 < outlen) {
				const unsigned char *d = p + sizeof(*nh) + namesz;
				for (size_t k = 0; k < nh->n_descsz; k++) {
					out[2 * k] = hex[d[k] >> 4];
					out[2 * k + 1] = hex[d[k] & 15];
				}
				out[2 * nh->n_descsz] = '\0';
				return;
			}
			p += total;
			left -= total;
		}
	}
}

struct collect_ctx {
	struct mapping_set *ms;
	struct region *r;
	size_t cap;
	bool first;
	char exe[4096];
	uintptr_t vdso;
	int failed;
};

static struct mapping *push(struct collect_ctx *c)
{
	struct mapping *m = region_array_push(c->r, (void **)&c->ms->v, &c->ms->n, &c->cap,
					      sizeof(*m), 64);
	if (!m)
		c->failed = 1;
	return m;
}

static int collect_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct collect_ctx *c = arg;
	const char *path = info->dlpi_name;
	const void *mem_image = NULL;
	bool is_main = c->first;
	char build_id[BUILD_ID_HEX_MAX];

	c->first = false;
	if (is_main) {
		path = c->exe;
	} else if (c->vdso && info->dlpi_addr + info->dlpi_phdr[0].p_vaddr - info->dlpi_phdr[0].p_offset == c->vdso) {
		path = "[vdso]";
		mem_image = (const void *)c->vdso;
	} else if (!path || !*path) {
		return 0;
	}
	mappings_build_id(info->dlpi_phdr, info->dlpi_phnum, info->dlpi_addr, build_id, sizeof(build_id));
	const char *saved_path = NULL;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || !ph->p_memsz)
			continue;
		if (!saved_path)
			saved_path = region_strdup(c->r, path);
		struct mapping *m = push(c);
		if (!m || !saved_path)
			return 1;
		uint64_t start = info->dlpi_addr + ph->p_vaddr;
		m->start = start & ~(PAGE - 1);
		m->limit = (start + ph->p_memsz + PAGE - 1) & ~(PAGE - 1);
		m->offset = ph->p_offset & ~(PAGE - 1);
		m->bias = info->dlpi_addr;
		m->path = saved_path;
		m->mem_image = mem_image;
		m->main = is_main;
		memcpy(m->build_id, build_id, sizeof(build_id));
	}
	(void)size;
	return 0;
}

static void sort_live(struct mapping *v, size_t n)
{
	/* Insertion sort by start, keeping the main program first: n is the
	 * number of loaded objects (tens to hundreds). */
	size_t from = (n && v[0].main) ? 1 : 0;
	for (size_t i = from + 1; i < n; i++) {
		struct mapping t = v[i];
		size_t j = i;
		while (j > from && v[j - 1].start > t.start) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = t;
	}
}

int mappings_collect(struct mapping_set *ms, struct region *r)
{
	struct collect_ctx c;

	memset(ms, 0, sizeof(*ms));
	memset(&c, 0, sizeof(c));
	c.ms = ms;
	c.r = r;
	c.first = true;
	c.vdso = getauxval(AT_SYSINFO_EHDR);
	ssize_t n = readlink("/proc/self/exe", c.exe, sizeof(c.exe) - 1);
	if (n > 0)
		c.exe[n] = '\0';
	else if (exe_at_start[0])
		memcpy(c.exe, exe_at_start, sizeof(c.exe));
	else
		memcpy(c.exe, "[main]", 7);
	do_iterate(collect_cb, &c);
	if (c.failed)
		return -1;
	sort_live(ms->v, ms->n);
	ms->nlive = ms->n;
	for (struct retired *rt = __atomic_load_n(&retired_head, __ATOMIC_ACQUIRE); rt; rt = rt->next) {
		struct mapping *m = push(&c);
		if (!m)
			return -1;
		*m = rt->m;
	}
	return 0;
}

struct mapping *mappings_find(const struct mapping_set *ms, uintptr_t pc)
{
	/* Live, sorted after the main program: check main, then bisect. */
	size_t lo = 0, hi = ms->nlive;
	if (ms->nlive && ms->v[0].main) {
		for (size_t i = 0; i < ms->nlive && ms->v[i].main; i++) {
			if (pc >= ms->v[i].start && pc < ms->v[i].limit)
				return &ms->v[i];
			lo = i + 1;
		}
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ms->v[mid].limit <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ms->nlive && pc >= ms->v[lo].start && pc < ms->v[lo].limit)
		return &ms->v[lo];
	for (size_t i = ms->nlive; i < ms->n; i++)
		if (pc >= ms->v[i].start && pc < ms->v[i].limit)
			return &ms->v[i];
	return NULL;
}

const char *mappings_symbol(struct symbolizer *sym, const struct mapping *m, uintptr_t pc,
			    uintptr_t *start)
{
	const char *name = NULL;
	if (start)
		*start = 0;
	if (!sym)
		return NULL;
	/* The main program through /proc/self/exe first: it still reaches the
	 * running binary when the file was deleted or replaced since (it does
	 * not once the main thread has exited: then the path). */
	if (m->main)
		name = symbolizer_lookup(sym, "/proc/self/exe", m->bias, m->build_id, m->mem_image, pc, start);
	if (!name)
		name = symbolizer_lookup(sym, m->path, m->bias, m->build_id, m->mem_image, pc, start);
	return name;
}

/* ---- dlclose ------------------------------------------------------------ */

struct mappings_snapshot {
	struct mapping_set ms;
	struct region *r;
};

struct mappings_snapshot *mappings_note_before_close(struct region *r)
{
	struct mappings_snapshot *s = region_alloc(r, sizeof(*s));
	if (!s)
		return NULL;
	s->r = r;
	if (mappings_collect(&s->ms, r) != 0)
		return NULL;
	return s;
}

static bool same(const struct mapping *a, const struct mapping *b)
{
	return a->start == b->start && a->limit == b->limit && a->bias == b->bias &&
	       strcmp(a->path, b->path) == 0 && strcmp(a->build_id, b->build_id) == 0;
}

static void retire(const struct mapping *m)
{
	for (struct retired *rt = __atomic_load_n(&retired_head, __ATOMIC_ACQUIRE); rt; rt = rt->next)
		if (same(&rt->m, m))
			return;
	struct retired *n = arena_alloc(sizeof(*n));
	char *path = arena_alloc(strlen(m->path) + 1);
	if (!n || !path)
		return;
	memcpy(path, m->path, strlen(m->path) + 1);
	n->m = *m;
	n->m.path = path;
	n->m.retired = true;
	n->m.pb_id = 0;
	n->next = __atomic_load_n(&retired_head, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&retired_head, &n->next, n, false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

void mappings_note_after_close(struct mappings_snapshot *before)
{
	struct mapping_set after;
	if (!before || mappings_collect(&after, before->r) != 0)
		return;
	for (size_t i = 0; i < before->ms.nlive; i++) {
		const struct mapping *m = &before->ms.v[i];
		bool still = false;
		for (size_t j = 0; j < after.nlive && !still; j++)
			still = same(m, &after.v[j]);
		if (!still && !m->main && !m->mem_image)
			retire(m);
	}
}
