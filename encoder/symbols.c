/*
 * symbols.c - ELF symbol tables: reading, caching and lookup (see
 * symbols.h for the interface).
 *
 * DESIGN.  The first lookup in an object maps its file (or, for the vDSO,
 * takes its image in memory), picks one symbol table and turns it into a
 * sorted array of function ranges; every later lookup in that object is a
 * hash of the path, a binary search and, the first time a name is
 * returned, one copy of the name into the region.  The symbol table used
 * is the first of:
 *
 *   1. the object's own .symtab;
 *   2. the .symtab of the first separate debug file that has one, in
 *      debugfile.c's order: by build id under /usr/lib/debug/.build-id
 *      (where Debian's -dbgsym packages put them), then by
 *      .gnu_debuglink, CRC-checked (its name and CRC are read here, from
 *      the object, with the bounds checks below);
 *   3. the object's .dynsym (exported functions only).
 *
 * A table that yields no function symbol counts as missing.  Debug files
 * made by objcopy --only-keep-debug keep the object's section headers, with
 * SHT_NOBITS for the stripped ones, so section flags and addresses stay
 * meaningful.
 *
 * Symbols kept: STT_FUNC and STT_GNU_IFUNC, and STT_NOTYPE with a size in
 * an executable section; defined (not SHN_UNDEF nor another reserved index
 * but SHN_XINDEX), nonzero value, non-empty name.  Aliases (one start
 * address) are merged into one entry named by the preferred alias: global
 * (or unique) over weak over local, then fewer leading underscores, then
 * the shorter name, then a real function type over STT_NOTYPE, then byte
 * order, so the choice never depends on the order of the table.  A symbol
 * without a size covers up to the next symbol or the end of its section.
 * Sorting is a radix sort in region memory, or a heapsort without it:
 * no recursion, no malloc (glibc's qsort may call it).
 *
 * Context: the dump writer thread only, one thread per symbolizer at a
 * time.  Nothing here calls malloc or stdio; memory comes from the
 * caller's region, files are read with open/fstat/mmap.
 *
 * Invariants:
 *  - Every byte read from an ELF image is first checked to lie inside it:
 *    the ELF header, every section header, every section's extent (except
 *    SHT_NOBITS), symbol entries, names (NUL-terminated inside their string
 *    table), notes.  A malformed or truncated file yields no symbols, never
 *    an out-of-bounds read.  (A file truncated by someone else while mapped
 *    can still raise SIGBUS; that cannot be checked beforehand.)
 *  - Multi-byte fields are read with memcpy, so nothing assumes alignment.
 *  - An object's table is sorted by start, holds one entry per distinct
 *    start, every entry has end > start, and max_end[i] is the largest end
 *    among entries 0..i.
 *  - A name points into the mapped string table until it is first
 *    returned; it is then copied into the region, so returned names outlive
 *    symbolizer_free().
 *  - Every mapping an object keeps is listed in its `maps` and unmapped by
 *    symbolizer_free(); mappings not kept are unmapped before the object
 *    is cached.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debugfile.h"
#include "symbols.h"

#define OBJ_BUCKETS 256u
#define OBJ_MAPS 2
/* How many overlapping symbols a lookup walks back over to find one that
 * encloses the pc (nested symbols are rare; the bound keeps lookups
 * logarithmic whatever the table holds). */
#define BACKSCAN_MAX 64
/* Largest in-memory image accepted (the vDSO is a few pages). */
#define MEM_IMAGE_MAX (16u << 20)

struct sym {
	uint64_t start;
	uint64_t end;       /* exclusive; 0 while building = no size */
	uint64_t max_end;   /* largest end of entries 0..i; while building,
			     * the end of the symbol's section */
	const char *name;   /* in the mapped string table, or region copy */
	uint32_t rank;      /* bind rank << 1 | is STT_NOTYPE */
};

struct mapping {
	void *addr;
	size_t size;
	dev_t dev;
	ino_t ino;
};

struct symobj {
	struct symobj *hnext;   /* hash chain */
	struct symobj *anext;   /* every object, for symbolizer_free */
	uint64_t hash;
	const char *path;
	const char *build_id;
	struct sym *syms;
	size_t nsyms;           /* 0: nothing usable, cached as such */
	const char *names;      /* string table the names point into */
	size_t names_size;
	struct mapping maps[OBJ_MAPS];
	unsigned nmaps;
};

struct symbolizer {
	struct region *r;
	struct symobj *buckets[OBJ_BUCKETS];
	struct symobj *all;
	struct symobj *last;
	bool freed;
};

/* A validated ELF image: `size` bytes at `base`, section headers checked. */
struct elf {
	const unsigned char *base;
	size_t size;
	Elf64_Ehdr eh;
	size_t shoff;
	size_t shnum;      /* 0 when the image has no section headers */
	size_t shstrndx;   /* 0 when there is no section name table */
};

struct symtab {
	const unsigned char *syms;
	size_t count;
	const char *str;
	size_t strsize;
};

/* ---- small helpers ----------------------------------------------------- */

static uint64_t hash_key(const char *path, const char *build_id)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	h = (h ^ 0xff) * 0x100000001b3ULL;
	for (const unsigned char *p = (const unsigned char *)build_id; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h;
}

static size_t leading_underscores(const char *s)
{
	size_t n = 0;
	while (s[n] == '_')
		n++;
	return n;
}

/* ---- files and memory images ------------------------------------------ */

/* The descriptor map_file() holds, for symbols_fork_abandon(). */
static int reading_fd = -1;

void symbols_fork_abandon(void)
{
	if (reading_fd >= 0)
		close(reading_fd);
	reading_fd = -1;
}

static bool map_file(const char *path, struct mapping *m)
{
	struct stat st;
	int fd;

	m->addr = NULL;
	m->size = 0;
	if (!path || !*path)
		return false;
	/* O_NONBLOCK: a FIFO at that path must not block the writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return false;
	reading_fd = fd;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		reading_fd = -1;
		close(fd);
		return false;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	reading_fd = -1;
	close(fd);
	if (p == MAP_FAILED)
		return false;
	m->addr = p;
	m->size = (size_t)st.st_size;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	return true;
}

static void unmap_file(struct mapping *m)
{
	if (m->addr)
		munmap(m->addr, m->size);
	m->addr = NULL;
	m->size = 0;
}

/* Whether every page of [p, p + len) is mapped (mincore fails with ENOMEM
 * on a hole).  Used before reading an image the caller vouched for. */
static bool range_mapped(const void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t a, end;
	unsigned char vec[64];

	if (page == 0 || page == (size_t)-1)
		page = 4096;
	a = (uintptr_t)p & ~(uintptr_t)(page - 1);
	if ((uintptr_t)p > UINTPTR_MAX - len)
		return false;
	end = (uintptr_t)p + len;
	while (a < end) {
		size_t pages = (end - a + page - 1) / page;
		if (pages > sizeof(vec))
			pages = sizeof(vec);
		if (mincore((void *)a, pages * page, vec) != 0)
			return false;
		a += pages * page;
	}
	return true;
}

/* ---- ELF parsing ------------------------------------------------------- */

static void elf_shdr(const struct elf *e, size_t i, Elf64_Shdr *sh)
{
	memcpy(sh, e->base + e->shoff + i * sizeof(Elf64_Shdr), sizeof(*sh));
}

static bool elf_ident_ok(const Elf64_Ehdr *eh)
{
	return memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
	       eh->e_ident[EI_CLASS] == ELFCLASS64 &&
	       eh->e_ident[EI_DATA] == ELFDATA2LSB &&
	       eh->e_ident[EI_VERSION] == EV_CURRENT;
}

/* Validates the header and every section header of the image at base. */
static bool elf_parse(struct elf *e, const void *base, size_t size)
{
	Elf64_Shdr sh;

	memset(e, 0, sizeof(*e));
	if (size < sizeof(Elf64_Ehdr))
		return false;
	e->base = base;
	e->size = size;
	memcpy(&e->eh, base, sizeof(e->eh));
	if (!elf_ident_ok(&e->eh))
		return false;
	if (e->eh.e_shoff == 0)
		return true;   /* no section headers: valid, but no symbols */
	if (e->eh.e_shentsize != sizeof(Elf64_Shdr) || e->eh.e_shoff > size ||
	    size - e->eh.e_shoff < sizeof(Elf64_Shdr))
		return false;
	e->shoff = (size_t)e->eh.e_shoff;
	elf_shdr(e, 0, &sh);
	/* Extended numbering: the counts live in section 0. */
	e->shnum = e->eh.e_shnum ? e->eh.e_shnum : sh.sh_size;
	e->shstrndx = e->eh.e_shstrndx == SHN_XINDEX ? sh.sh_link : e->eh.e_shstrndx;
	if (e->shnum == 0 || e->shnum > (size - e->shoff) / sizeof(Elf64_Shdr) ||
	    e->shstrndx >= e->shnum)
		return false;
	for (size_t i = 1; i < e->shnum; i++) {
		elf_shdr(e, i, &sh);
		if (sh.sh_type == SHT_NOBITS || sh.sh_type == SHT_NULL)
			continue;
		if (sh.sh_offset > size || sh.sh_size > size - sh.sh_offset)
			return false;
	}
	return true;
}

/* Symbol addresses are virtual addresses only in linked objects. */
static bool elf_linked(const struct elf *e)
{
	return e->eh.e_type == ET_EXEC || e->eh.e_type == ET_DYN;
}

/* The name of section sh, or NULL when it has none or it is malformed. */
static const char *elf_section_name(const struct elf *e, const Elf64_Shdr *sh)
{
	Elf64_Shdr strsh;

	if (e->shstrndx == 0)
		return NULL;
	elf_shdr(e, e->shstrndx, &strsh);
	if (strsh.sh_type != SHT_STRTAB || sh->sh_name >= strsh.sh_size)
		return NULL;
	const char *s = (const char *)e->base + strsh.sh_offset + sh->sh_name;
	if (!memchr(s, '\0', strsh.sh_size - sh->sh_name))
		return NULL;
	return s;
}

static bool elf_find_symtab(const struct elf *e, uint32_t type, struct symtab *t)
{
	Elf64_Shdr sh, strsh;

	for (size_t i = 1; i < e->shnum; i++) {
		elf_shdr(e, i, &sh);
		if (sh.sh_type != type || (sh.sh_flags & SHF_COMPRESSED) ||
		    sh.sh_entsize != sizeof(Elf64_Sym) ||
		    sh.sh_link == 0 || sh.sh_link >= e->shnum)
			continue;
		elf_shdr(e, sh.sh_link, &strsh);
		if (strsh.sh_type != SHT_STRTAB || (strsh.sh_flags & SHF_COMPRESSED) ||
		    strsh.sh_size == 0)
			continue;
		t->syms = e->base + sh.sh_offset;
		t->count = sh.sh_size / sizeof(Elf64_Sym);
		t->str = (const char *)e->base + strsh.sh_offset;
		t->strsize = strsh.sh_size;
		return true;
	}
	return false;
}

/* Writes n bytes as lowercase hex. */
static void hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

/* Finds NT_GNU_BUILD_ID among the notes in [p, p + len). */
static int notes_build_id(const unsigned char *p, size_t len, size_t align,
			  char *out, size_t outlen)
{
	size_t off = 0;

	while (len - off >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, p + off, 4);
		memcpy(&descsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		off += 12;
		size_t namepad = align_up(namesz, align);
		if (namepad > len - off)
			return -1;
		const unsigned char *name = p + off;
		off += namepad;
		if (descsz > len - off)
			return -1;
		const unsigned char *desc = p + off;
		if (type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(name, "GNU", 4) == 0) {
			if (descsz == 0 || descsz > SYMBOLS_BUILD_ID_MAX ||
			    outlen < 2 * (size_t)descsz + 1)
				return -1;
			hex_encode(desc, descsz, out);
			return 0;
		}
		size_t descpad = align_up(descsz, align);
		if (descpad > len - off)
			return -1;
		off += descpad;
	}
	return -1;
}

/* The build id of a validated image: from SHT_NOTE sections, else from
 * PT_NOTE segments. */
static int elf_build_id(const struct elf *e, char *out, size_t outlen)
{
	Elf64_Shdr sh;
	Elf64_Phdr ph;

	for (size_t i = 1; i < e->shnum; i++) {
		elf_shdr(e, i, &sh);
		if (sh.sh_type != SHT_NOTE)
			continue;
		if (notes_build_id(e->base + sh.sh_offset, sh.sh_size,
				   sh.sh_addralign == 8 ? 8 : 4, out, outlen) == 0)
			return 0;
	}
	const Elf64_Ehdr *eh = &e->eh;
	if (eh->e_phoff == 0 || eh->e_phnum == 0 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff > e->size ||
	    eh->e_phnum > (e->size - eh->e_phoff) / sizeof(Elf64_Phdr))
		return -1;
	for (size_t i = 0; i < eh->e_phnum; i++) {
		memcpy(&ph, e->base + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_NOTE || ph.p_offset > e->size ||
		    ph.p_filesz > e->size - ph.p_offset)
			continue;
		if (notes_build_id(e->base + ph.p_offset, ph.p_filesz,
				   ph.p_align == 8 ? 8 : 4, out, outlen) == 0)
			return 0;
	}
	return -1;
}

/*
 * An ELF image in memory laid out as its file (the vDSO).  Its size is not
 * known, so it is taken as the furthest extent of the program headers, the
 * PT_LOAD segments' file contents and the section header table, and every
 * page of it must be mapped.
 */
static bool mem_image_parse(struct elf *e, const void *image)
{
	const unsigned char *b = image;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t size = sizeof(eh);

	if (!range_mapped(image, sizeof(eh)))
		return false;
	memcpy(&eh, image, sizeof(eh));
	if (!elf_ident_ok(&eh))
		return false;
	if (eh.e_phoff && eh.e_phnum && eh.e_phentsize == sizeof(Elf64_Phdr) &&
	    eh.e_phoff < MEM_IMAGE_MAX) {
		size_t end = eh.e_phoff + (size_t)eh.e_phnum * sizeof(ph);
		if (end > MEM_IMAGE_MAX || !range_mapped(image, end))
			return false;
		size = end > size ? end : size;
		for (size_t i = 0; i < eh.e_phnum; i++) {
			memcpy(&ph, b + eh.e_phoff + i * sizeof(ph), sizeof(ph));
			if (ph.p_type != PT_LOAD)
				continue;
			if (ph.p_offset > MEM_IMAGE_MAX || ph.p_filesz > MEM_IMAGE_MAX)
				return false;
			end = ph.p_offset + ph.p_filesz;
			size = end > size ? end : size;
		}
	}
	if (eh.e_shoff && eh.e_shentsize == sizeof(Elf64_Shdr)) {
		if (eh.e_shoff > MEM_IMAGE_MAX)
			return false;
		size_t end = eh.e_shoff + (size_t)(eh.e_shnum ? eh.e_shnum : 1) * sizeof(Elf64_Shdr);
		size = end > size ? end : size;
	}
	if (size > MEM_IMAGE_MAX || !range_mapped(image, size))
		return false;
	return elf_parse(e, image, size);
}

/* ---- building a table ---------------------------------------------------- */

static uint32_t bind_rank(unsigned bind)
{
	switch (bind) {
	case STB_GLOBAL:
	case STB_GNU_UNIQUE:
		return 0;
	case STB_WEAK:
		return 1;
	case STB_LOCAL:
		return 2;
	default:
		return 3;
	}
}

/* Whether symbol i of t is a function worth keeping; fills *out if so. */
static bool accept_sym(const struct elf *e, const struct symtab *t, size_t i,
		       struct sym *out)
{
	Elf64_Sym st;
	Elf64_Shdr sh;

	memcpy(&st, t->syms + i * sizeof(st), sizeof(st));
	unsigned type = ELF64_ST_TYPE(st.st_info);
	bool notype = type == STT_NOTYPE;
	if (type != STT_FUNC && type != STT_GNU_IFUNC && !notype)
		return false;
	if (st.st_shndx == SHN_UNDEF || st.st_value == 0 ||
	    (st.st_shndx >= SHN_LORESERVE && st.st_shndx != SHN_XINDEX))
		return false;
	if (st.st_size > UINT64_MAX - st.st_value)
		return false;
	uint64_t sec_end = UINT64_MAX;
	bool exec = false;
	if (st.st_shndx != SHN_XINDEX) {
		if (st.st_shndx >= e->shnum)
			return false;
		elf_shdr(e, st.st_shndx, &sh);
		exec = (sh.sh_flags & SHF_EXECINSTR) != 0;
		if ((sh.sh_flags & SHF_ALLOC) && sh.sh_size <= UINT64_MAX - sh.sh_addr &&
		    st.st_value >= sh.sh_addr && st.st_value < sh.sh_addr + sh.sh_size)
			sec_end = sh.sh_addr + sh.sh_size;
	}
	if (notype && (st.st_size == 0 || !exec))
		return false;
	if (st.st_name == 0 || st.st_name >= t->strsize)
		return false;
	const char *name = t->str + st.st_name;
	if (!*name || !memchr(name, '\0', t->strsize - st.st_name))
		return false;
	if (out) {
		out->start = st.st_value;
		out->end = st.st_size ? st.st_value + st.st_size : 0;
		out->max_end = sec_end;
		out->name = name;
		out->rank = bind_rank(ELF64_ST_BIND(st.st_info)) << 1 | (notype ? 1 : 0);
	}
	return true;
}

/* Whether alias a names a function better than alias b. */
static bool better_alias(const struct sym *a, const struct sym *b)
{
	if ((a->rank >> 1) != (b->rank >> 1))
		return (a->rank >> 1) < (b->rank >> 1);
	size_t ua = leading_underscores(a->name), ub = leading_underscores(b->name);
	if (ua != ub)
		return ua < ub;
	size_t la = strlen(a->name), lb = strlen(b->name);
	if (la != lb)
		return la < lb;
	if ((a->rank & 1) != (b->rank & 1))
		return (a->rank & 1) < (b->rank & 1);
	return strcmp(a->name, b->name) < 0;
}

static void sym_swap(struct sym *a, struct sym *b)
{
	struct sym t = *a;
	*a = *b;
	*b = t;
}

static void sift_down(struct sym *a, size_t root, size_t n)
{
	for (;;) {
		size_t child = 2 * root + 1;
		if (child >= n)
			return;
		if (child + 1 < n && a[child + 1].start > a[child].start)
			child++;
		if (a[root].start >= a[child].start)
			return;
		sym_swap(&a[root], &a[child]);
		root = child;
	}
}

/* Heapsort by start: O(n log n) worst case, constant stack, no memory. */
static void heapsort_syms(struct sym *a, size_t n)
{
	if (n < 2)
		return;
	for (size_t i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (size_t i = n - 1; i > 0; i--) {
		sym_swap(&a[0], &a[i]);
		sift_down(a, 0, i);
	}
}

/* By start: a least-significant-byte-first radix sort through a scratch
 * array from the region, skipping the bytes every start shares (a debug
 * libc's 30,000 symbols took half a millisecond of heapsort in every exit
 * dump); the heapsort when there is no scratch memory.  The order of
 * aliases does not matter (finish_syms chooses among them by name). */
static void sort_syms(struct region *r, struct sym *a, size_t n)
{
	struct sym *tmp = n > 64 ? region_alloc(r, n * sizeof(*a)) : NULL;
	if (!tmp) {
		heapsort_syms(a, n);
		return;
	}
	struct sym *src = a, *dst = tmp;
	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t count[256] = {0}, sum = 0;
		for (size_t i = 0; i < n; i++)
			count[(src[i].start >> shift) & 0xff]++;
		if (count[(src[0].start >> shift) & 0xff] == n)
			continue;
		for (unsigned b = 0; b < 256; b++) {
			size_t c = count[b];
			count[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i].start >> shift) & 0xff]++] = src[i];
		struct sym *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

/* Merges aliases, gives sizeless symbols their extent and fills max_end.
 * Returns the new count. */
static size_t finish_syms(struct sym *a, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n;) {
		size_t best = i, j = i;
		uint64_t end = a[i].end, sec_end = a[i].max_end;
		while (j + 1 < n && a[j + 1].start == a[i].start) {
			j++;
			if (better_alias(&a[j], &a[best]))
				best = j;
			if (a[j].end > end)
				end = a[j].end;
			if (a[j].max_end != UINT64_MAX &&
			    (sec_end == UINT64_MAX || a[j].max_end > sec_end))
				sec_end = a[j].max_end;
		}
		struct sym s = a[best];
		s.end = end;
		s.max_end = sec_end;
		a[out++] = s;
		i = j + 1;
	}
	uint64_t max_end = 0;
	for (size_t i = 0; i < out; i++) {
		if (a[i].end == 0) {
			uint64_t lim = i + 1 < out ? a[i + 1].start : a[i].max_end;
			if (a[i].max_end < lim)
				lim = a[i].max_end;
			if (lim == UINT64_MAX || lim <= a[i].start)
				lim = a[i].start + 1;
			a[i].end = lim;
		}
		if (a[i].end > max_end)
			max_end = a[i].end;
		a[i].max_end = max_end;
	}
	return out;
}

/* Builds o's table from the symbol table of the given type in e.  Returns
 * whether it holds at least one function. */
static bool use_table(struct symbolizer *s, struct symobj *o, const struct elf *e,
		      uint32_t type)
{
	struct symtab t;
	size_t n = 0, k = 0;

	if (!elf_linked(e) || !elf_find_symtab(e, type, &t))
		return false;
	for (size_t i = 1; i < t.count; i++)
		n += accept_sym(e, &t, i, NULL);
	if (n == 0)
		return false;
	struct sym *a = region_alloc(s->r, n * sizeof(*a));
	if (!a)
		return false;
	for (size_t i = 1; i < t.count && k < n; i++)
		k += accept_sym(e, &t, i, &a[k]);
	sort_syms(s->r, a, k);
	o->syms = a;
	o->nsyms = finish_syms(a, k);
	o->names = t.str;
	o->names_size = t.strsize;
	return o->nsyms > 0;
}

/* ---- finding debug files --------------------------------------------------- */

static void keep_map(struct symobj *o, struct mapping *m)
{
	o->maps[o->nmaps++] = *m;
	m->addr = NULL;
	m->size = 0;
}

/* The .gnu_debuglink of e: the debug file's name (NUL-terminated inside
 * the section, no '/') and its CRC32.  False when there is none usable. */
static bool elf_debuglink(const struct elf *e, const char **link, uint32_t *crc)
{
	Elf64_Shdr sh;
	const unsigned char *data = NULL;
	size_t size = 0;

	for (size_t i = 1; i < e->shnum; i++) {
		elf_shdr(e, i, &sh);
		if (sh.sh_type == SHT_NOBITS || sh.sh_type == SHT_NULL)
			continue;
		const char *name = elf_section_name(e, &sh);
		if (name && strcmp(name, ".gnu_debuglink") == 0) {
			data = e->base + sh.sh_offset;
			size = sh.sh_size;
			break;
		}
	}
	if (!data)
		return false;
	const unsigned char *nul = memchr(data, '\0', size);
	if (!nul || nul == data)
		return false;
	size_t namelen = (size_t)(nul - data);
	size_t crcoff = align_up(namelen + 1, 4);
	if (crcoff > size || size - crcoff < 4)
		return false;
	memcpy(crc, data + crcoff, 4);
	*link = (const char *)data;
	return !memchr(data, '/', namelen);   /* a file name, never a path */
}

/* Uses the .symtab of the first debug file q finds that has one. */
static bool use_debug_file(struct symbolizer *s, struct symobj *o, const struct debugfile_query *q)
{
	struct debugfile f;
	struct elf e;
	bool found = false;

	debugfile_begin(&f);
	while (!found && debugfile_next(&f, q)) {
		if (!elf_parse(&e, f.addr, f.size) || !use_table(s, o, &e, SHT_SYMTAB))
			continue;
		struct mapping m = { (void *)f.addr, f.size, f.dev, f.ino };
		keep_map(o, &m);
		f.addr = NULL;
		found = true;
	}
	debugfile_end(&f);
	return found;
}

/* ---- objects --------------------------------------------------------------- */

/* Reads the object and chooses its symbol table (see DESIGN).  The object
 * is cached even when nothing is found, so a bad file is read once. */
static void load_object(struct symbolizer *s, struct symobj *o, const void *mem_image)
{
	struct mapping objmap = { 0 };
	struct elf obj;
	char file_bid[SYMBOLS_BUILD_ID_HEX_MAX];
	bool have_obj;

	if (mem_image)
		have_obj = mem_image_parse(&obj, mem_image);
	else
		have_obj = map_file(o->path, &objmap) && elf_parse(&obj, objmap.addr, objmap.size);
	have_obj = have_obj && elf_linked(&obj);

	bool has_fbid = have_obj && elf_build_id(&obj, file_bid, sizeof(file_bid)) == 0;
	bool given = debugfile_valid_build_id(o->build_id);
	const char *bid = given ? o->build_id : has_fbid && debugfile_valid_build_id(file_bid) ? file_bid : NULL;
	/* A file whose id differs from the loaded object's was replaced after
	 * loading: its addresses mean nothing for this process. */
	bool trusted = have_obj && !(given && has_fbid && strcmp(o->build_id, file_bid) != 0);

	if (trusted && use_table(s, o, &obj, SHT_SYMTAB)) {
		if (objmap.addr)
			keep_map(o, &objmap);
		return;
	}
	struct debugfile_query q = { .obj_path = o->path, .build_id = bid };
	if (trusted && !mem_image && elf_debuglink(&obj, &q.link, &q.link_crc)) {
		/* (the object's own file is never its debug file) */
		q.have_self = true;
		q.self_dev = objmap.dev;
		q.self_ino = objmap.ino;
	} else {
		q.link = NULL;
	}
	if (use_debug_file(s, o, &q))
		goto done;
	if (trusted && use_table(s, o, &obj, SHT_DYNSYM)) {
		if (objmap.addr)
			keep_map(o, &objmap);
		return;
	}
	o->syms = NULL;
	o->nsyms = 0;
done:
	unmap_file(&objmap);
}

static struct symobj *find_object(struct symbolizer *s, const char *path,
				  const char *build_id, const void *mem_image)
{
	struct symobj *o = s->last;

	if (o && strcmp(o->path, path) == 0 && strcmp(o->build_id, build_id) == 0)
		return o;
	uint64_t h = hash_key(path, build_id);
	struct symobj **bucket = &s->buckets[h % OBJ_BUCKETS];
	for (o = *bucket; o; o = o->hnext)
		if (o->hash == h && strcmp(o->path, path) == 0 &&
		    strcmp(o->build_id, build_id) == 0)
			return o;

	o = region_alloc(s->r, sizeof(*o));
	if (!o)
		return NULL;
	o->hash = h;
	o->path = region_strdup(s->r, path);
	o->build_id = region_strdup(s->r, build_id);
	if (!o->path || !o->build_id)
		return NULL;
	load_object(s, o, mem_image);
	o->hnext = *bucket;
	*bucket = o;
	o->anext = s->all;
	s->all = o;
	return o;
}

/* The entry containing v, or NULL. */
static struct sym *table_find(const struct symobj *o, uint64_t v)
{
	struct sym *a = o->syms;
	size_t lo = 0, hi = o->nsyms;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid].start <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	size_t i = lo - 1;
	if (v < a[i].end)
		return &a[i];
	/* Past the nearest symbol's end: an earlier, longer symbol may still
	 * enclose v.  max_end says when none can. */
	for (int steps = 0; steps < BACKSCAN_MAX && i > 0; steps++) {
		if (a[i].max_end <= v)
			return NULL;
		i--;
		if (v < a[i].end && v >= a[i].start)
			return &a[i];
	}
	return NULL;
}

/* ---- interface ------------------------------------------------------------- */

struct symbolizer *symbolizer_new(struct region *r)
{
	struct symbolizer *s = region_alloc(r, sizeof(*s));

	if (s)
		s->r = r;
	return s;
}

const char *symbolizer_lookup(struct symbolizer *s, const char *path, uintptr_t bias,
			      const char *build_id, const void *mem_image,
			      uintptr_t pc, uintptr_t *sym_start)
{
	if (sym_start)
		*sym_start = 0;
	if (!s || s->freed || !path)
		return NULL;
	if (!build_id)
		build_id = "";

	int saved = errno;
	struct symobj *o = find_object(s, path, build_id, mem_image);
	errno = saved;
	if (!o)
		return NULL;
	s->last = o;

	struct sym *sy = table_find(o, (uint64_t)(pc - bias));
	if (!sy)
		return NULL;
	if (sy->name >= o->names && sy->name < o->names + o->names_size) {
		char *copy = region_strdup(s->r, sy->name);
		if (!copy)
			return NULL;
		sy->name = copy;
	}
	if (sym_start)
		*sym_start = (uintptr_t)sy->start + bias;
	return sy->name;
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	for (struct symobj *o = s->all; o; o = o->anext) {
		for (unsigned i = 0; i < o->nmaps; i++)
			unmap_file(&o->maps[i]);
		o->nmaps = 0;
	}
	s->freed = true;
	s->last = NULL;
}

int symbols_file_build_id(const char *path, char *out, size_t outlen)
{
	struct mapping m;
	struct elf e;
	int saved = errno, rc = -1;

	if (!out || outlen == 0)
		return -1;
	out[0] = '\0';
	if (map_file(path, &m)) {
		if (elf_parse(&e, m.addr, m.size))
			rc = elf_build_id(&e, out, outlen);
		unmap_file(&m);
	}
	if (rc != 0)
		out[0] = '\0';
	errno = saved;
	return rc;
}
