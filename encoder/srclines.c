/*
 * srclines.c - DWARF lines and inline chains through libdw (see srclines.h
 * for the design and contexts).
 *
 * Invariants:
 *  - dw.* are set once, by the first caller (dump lock held), then only
 *    read.
 *  - objs is a list of sessions, one per (path, build id), in arena memory;
 *    entries are only added, never freed (a session lives as long as the
 *    process: dwfl_end is never called).
 *  - No descriptor of cprof's stays open: files are opened O_CLOEXEC,
 *    libdw is made to map everything it will need (the file, its debug
 *    file, unwind tables), libelf is told the descriptors are done with
 *    (ELF_C_FDDONE), and cprof closes them.  A program that closes every
 *    descriptor (closefrom) or execs cannot be touched by them.
 */
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <dwarf.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "srclines.h"
#include "debugfile.h"
#include "common.h"
#include "log.h"

static struct {
	Dwfl *(*begin)(const Dwfl_Callbacks *);
	void (*report_begin)(Dwfl *);
	Dwfl_Module *(*report_elf)(Dwfl *, const char *, const char *, int, GElf_Addr, bool);
	int (*report_end)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *, Dwarf_Addr, void *), void *);
	Elf *(*module_getelf)(Dwfl_Module *, GElf_Addr *);
	Dwarf *(*module_getdwarf)(Dwfl_Module *, Dwarf_Addr *);
	int (*module_build_id)(Dwfl_Module *, const unsigned char **, GElf_Addr *);
	Dwarf_Die *(*module_addrdie)(Dwfl_Module *, Dwarf_Addr, Dwarf_Addr *);
	Dwfl_Line *(*module_getsrc)(Dwfl_Module *, Dwarf_Addr);
	const char *(*lineinfo)(Dwfl_Line *, Dwarf_Addr *, int *, int *, Dwarf_Word *, Dwarf_Word *);
	Dwarf_CFI *(*module_eh_cfi)(Dwfl_Module *, Dwarf_Addr *);
	Dwarf_CFI *(*module_dwarf_cfi)(Dwfl_Module *, Dwarf_Addr *);
	int (*offline_section_address)(Dwfl_Module *, void **, const char *, Dwarf_Addr, const char *,
				       GElf_Word, const GElf_Shdr *, Dwarf_Addr *);
	Elf *(*dwarf_getelf)(Dwarf *);
	int (*getscopes)(Dwarf_Die *, Dwarf_Addr, Dwarf_Die **);
	int (*getscopes_die)(Dwarf_Die *, Dwarf_Die **);
	int (*child)(Dwarf_Die *, Dwarf_Die *);
	int (*siblingof)(Dwarf_Die *, Dwarf_Die *);
	int (*haspc)(Dwarf_Die *, Dwarf_Addr);
	int (*hasattr)(Dwarf_Die *, unsigned int);
	int (*tag)(Dwarf_Die *);
	Dwarf_Attribute *(*attr_integrate)(Dwarf_Die *, unsigned int, Dwarf_Attribute *);
	const char *(*formstring)(Dwarf_Attribute *);
	int (*formudata)(Dwarf_Attribute *, Dwarf_Word *);
	int (*decl_line)(Dwarf_Die *, int *);
	int (*getsrcfiles)(Dwarf_Die *, Dwarf_Files **, size_t *);
	const char *(*filesrc)(Dwarf_Files *, size_t, Dwarf_Word *, Dwarf_Word *);
	Dwarf_Die *(*diecu)(Dwarf_Die *, Dwarf_Die *, uint8_t *, uint8_t *);
	int (*cfi_addrframe)(Dwarf_CFI *, Dwarf_Addr, Dwarf_Frame **);
	int (*frame_info)(Dwarf_Frame *, Dwarf_Addr *, Dwarf_Addr *, bool *);
	int (*elf_cntl)(Elf *, Elf_Cmd);
	Elf_Scn *(*elf_nextscn)(Elf *, Elf_Scn *);
	GElf_Shdr *(*gelf_getshdr)(Elf_Scn *, GElf_Shdr *);
	char *(*elf_strptr)(Elf *, size_t, size_t);
	int (*elf_getshdrstrndx)(Elf *, size_t *);
	Elf *(*elf_begin)(int, Elf_Cmd, Elf *);
	int (*elf_end)(Elf *);
	GElf_Chdr *(*gelf_getchdr)(Elf_Scn *, GElf_Chdr *);
	Elf_Data *(*elf_rawdata)(Elf_Scn *, Elf_Data *);
} dw;

static int dw_state; /* 0 not tried, 1 loaded, -1 unavailable */

#define SYM(field, name)                                         \
	do {                                                     \
		*(void **)&dw.field = dlsym(h, name);            \
		if (!dw.field)                                   \
			return -1;                               \
	} while (0)

static int load(void)
{
	void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -1;
	SYM(begin, "dwfl_begin");
	SYM(report_begin, "dwfl_report_begin");
	SYM(report_elf, "dwfl_report_elf");
	SYM(report_end, "dwfl_report_end");
	SYM(module_getelf, "dwfl_module_getelf");
	SYM(module_getdwarf, "dwfl_module_getdwarf");
	SYM(module_build_id, "dwfl_module_build_id");
	SYM(module_addrdie, "dwfl_module_addrdie");
	SYM(module_getsrc, "dwfl_module_getsrc");
	SYM(lineinfo, "dwfl_lineinfo");
	SYM(module_eh_cfi, "dwfl_module_eh_cfi");
	SYM(module_dwarf_cfi, "dwfl_module_dwarf_cfi");
	SYM(offline_section_address, "dwfl_offline_section_address");
	SYM(dwarf_getelf, "dwarf_getelf");
	SYM(getscopes, "dwarf_getscopes");
	SYM(getscopes_die, "dwarf_getscopes_die");
	SYM(child, "dwarf_child");
	SYM(siblingof, "dwarf_siblingof");
	SYM(haspc, "dwarf_haspc");
	SYM(hasattr, "dwarf_hasattr");
	SYM(tag, "dwarf_tag");
	SYM(attr_integrate, "dwarf_attr_integrate");
	SYM(formstring, "dwarf_formstring");
	SYM(formudata, "dwarf_formudata");
	SYM(decl_line, "dwarf_decl_line");
	SYM(getsrcfiles, "dwarf_getsrcfiles");
	SYM(filesrc, "dwarf_filesrc");
	SYM(diecu, "dwarf_diecu");
	SYM(cfi_addrframe, "dwarf_cfi_addrframe");
	SYM(frame_info, "dwarf_frame_info");
	SYM(elf_cntl, "elf_cntl");  /* libelf, a dependency of libdw */
	SYM(elf_nextscn, "elf_nextscn");
	SYM(gelf_getshdr, "gelf_getshdr");
	SYM(elf_strptr, "elf_strptr");
	SYM(elf_getshdrstrndx, "elf_getshdrstrndx");
	SYM(elf_begin, "elf_begin");
	SYM(elf_end, "elf_end");
	SYM(gelf_getchdr, "gelf_getchdr");
	SYM(elf_rawdata, "elf_rawdata");
	return 0;
}

bool srclines_available(void)
{
	if (dw_state == 0)
		dw_state = load() == 0 ? 1 : -1;
	return dw_state == 1;
}

/* ---- sessions ------------------------------------------------------------ */

struct obj {
	struct obj *next;
	char *path;
	char build_id[2 * 64 + 1];
	Dwfl *dwfl;          /* NULL: the object could not be read */
	Dwfl_Module *mod;
	Dwarf_Addr dwarf_bias;
	bool has_dwarf;
	double retry_at;     /* > 0: DWARF put off until the process is this old (s) */
};

static struct obj *objs;

/* The budget: libdw's memory grows with the DWARF it reads (measured: 27
 * MB of heap, plus 16 MB of mapped files, for python3.11d's 12 MB of
 * DWARF and glibc's debug file).  Objects are read while the DWARF bytes
 * opened so far stay under it; later ones get names from their symbol
 * tables only, and one line says so. */
#define DWARF_BUDGET (256ull << 20)
static uint64_t dwarf_bytes;

/* The bytes of elf's .debug sections: as stored (on_disk), and what the
 * compressed ones among them inflate to (inflated; 0 when none is). */
static void debug_sizes(Elf *elf, uint64_t *on_disk, uint64_t *inflated)
{
	size_t shstrndx;
	*on_disk = *inflated = 0;
	if (!elf || dw.elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	for (Elf_Scn *scn = dw.elf_nextscn(elf, NULL); scn; scn = dw.elf_nextscn(elf, scn)) {
		GElf_Shdr sh;
		GElf_Chdr ch;
		if (!dw.gelf_getshdr(scn, &sh))
			continue;
		const char *name = dw.elf_strptr(elf, shstrndx, sh.sh_name);
		bool zdebug = name && strncmp(name, ".zdebug_", 8) == 0;
		if (!name || (strncmp(name, ".debug_", 7) != 0 && !zdebug))
			continue;
		*on_disk += sh.sh_size;
		if ((sh.sh_flags & SHF_COMPRESSED) && !zdebug) {
			if (dw.gelf_getchdr(scn, &ch))
				*inflated += ch.ch_size;
		} else if (zdebug) {
			/* GNU's older form: "ZLIB" and the size, big-endian. */
			Elf_Data *d = dw.elf_rawdata(scn, NULL);
			const unsigned char *b = d ? d->d_buf : NULL;
			if (b && d->d_size >= 12 && memcmp(b, "ZLIB", 4) == 0)
				for (int i = 4; i < 12; i++)
					*inflated += (uint64_t)b[i] << (8 * (11 - i));
		}
	}
}

/*
 * Compressed DWARF (Debian's debug packages compress theirs) is inflated
 * whole by libdw before its first lookup: about 20 instructions a byte,
 * 40 to 50 ms for glibc's 10 MB (libc6-dbg) on this project's machine,
 * and /usr/bin/python3 -c pass, 8 ms bare, took 185 ms under cprof with
 * libc6-dbg and python3.11-dbg installed, nearly all of it in its exit
 * dump's line lookups.  So the cost a process pays grows with its life, not
 * with the debug packages on the machine: an object's compressed DWARF is
 * read once the process has lived at least one second per INFLATE_PER_S
 * inflated bytes, so reading it costs at most about 2% of the process's
 * life at that speed (glibc's needs 2.5 s; with 10 MB per second, a
 * one-second sqlite3 run spent 4% of its time on it).  Until
 * then its frames have names (from the symbol tables) but no lines, and
 * its mapping says so; a later dump of the same process reads it.
 * Uncompressed DWARF is mapped and parsed lazily: it is never put off.
 */
#define INFLATE_PER_S (4ull << 20)

/* Seconds since this process started (a fork child: since the fork). */
static double lifetime_s(void)
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1e9;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1e9;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	/* Field 22, starttime, is the 20th after the command's ')'. */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	struct timespec ts;
	long hz = sysconf(_SC_CLK_TCK);
	if (!p || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &ts) != 0)
		return 1e9;
	double start = (double)strtoull(p + 1, NULL, 10) / (double)hz;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - start;
}

/* Set by the checks below while an object is being opened: the age the
 * process must reach before its compressed DWARF is read (0: not put off). */
static double put_off_until;

/* Whether elf's compressed DWARF costs more than the process's age allows
 * now; if so, notes when it will not. */
static bool put_off(Elf *elf)
{
	uint64_t disk, n;
	debug_sizes(elf, &disk, &n);
	if (!n)
		return false;
	double need = (double)n / (double)INFLATE_PER_S;
	if (lifetime_s() >= need)
		return false;
	put_off_until = need;
	return true;
}

/* The debug file's descriptor, handed to libdw by find_debuginfo,
 * remembered so it can be closed once mapped. */
static int last_debug_fd = -1;

static void hex(const unsigned char *b, int n, char *out, size_t outlen);

/*
 * libdw's find_debuginfo callback: the separate debug file of mod, found
 * by debugfile.c (by build id, then by .gnu_debuglink, on disk only),
 * never by libdw's standard search (dwfl_standard_find_debuginfo), which
 * ends by asking debuginfod: it loads libdebuginfod, libcurl and some
 * thirty libraries into the program, and with DEBUGINFOD_URLS set (Debian
 * sets it in login shells) connects to the network from inside the
 * program at its dumps.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			  char **debuginfo_file_name)
{
	(void)userdata, (void)modname, (void)base;
	const unsigned char *bits;
	GElf_Addr vaddr;
	char id[2 * DEBUGFILE_BUILD_ID_MAX + 1] = "";
	int n = dw.module_build_id(mod, &bits, &vaddr);
	if (n > 0 && n <= DEBUGFILE_BUILD_ID_MAX)
		hex(bits, n, id, sizeof(id));
	struct debugfile_query q = {
		.obj_path = file_name,
		.build_id = id,
		.link = debuglink_file,
		.link_crc = debuglink_crc,
		.keep_fd = true,
	};
	struct debugfile f;
	debugfile_begin(&f);
	int fd = debugfile_next(&f, &q) ? debugfile_take_fd(&f) : -1;
	debugfile_end(&f);
	if (fd >= 0) {
		last_debug_fd = fd;
		Elf *e = dw.elf_begin(fd, ELF_C_READ_MMAP, NULL);
		bool later = put_off(e);
		if (e)
			dw.elf_end(e);
		if (later) {
			last_debug_fd = -1;
			close(fd);
			return -1; /* as if there were none (see INFLATE_PER_S) */
		}
		if (debuginfo_file_name)
			*debuginfo_file_name = strdup(f.path); /* libdw frees it (guard held: not profiled) */
	}
	return fd;
}

static int find_elf_none(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			 char **file_name, Elf **elfp)
{
	(void)mod, (void)userdata, (void)modname, (void)base, (void)file_name;
	*elfp = NULL;
	return -1;
}

static char *debuginfo_path;
static Dwfl_Callbacks callbacks = {
	.find_elf = find_elf_none,
	.find_debuginfo = find_debuginfo,
	.section_address = NULL, /* set in open_obj: dlsym'ed */
	.debuginfo_path = &debuginfo_path,
};

static void hex(const unsigned char *b, int n, char *out, size_t outlen)
{
	static const char digits[] = "0123456789abcdef";
	size_t j = 0;
	for (int i = 0; i < n && j + 2 < outlen; i++) {
		out[j++] = digits[b[i] >> 4];
		out[j++] = digits[b[i] & 15];
	}
	out[j] = '\0';
}

/* The descriptor open_obj() holds, for srclines_fork_abandon(). */
static int opening_fd = -1;

static void open_obj_fd(struct obj *o, const char *path, const char *build_id, int fd);

static void open_obj(struct obj *o, const char *path, const char *build_id)
{
	callbacks.section_address = dw.offline_section_address;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	opening_fd = fd;
	open_obj_fd(o, path, build_id, fd);
	opening_fd = -1;
}

static void open_obj_fd(struct obj *o, const char *path, const char *build_id, int fd)
{
	Dwfl *dwfl = dw.begin(&callbacks);
	if (!dwfl) {
		close(fd);
		return;
	}
	dw.report_begin(dwfl);
	/* Placed at its own virtual addresses: lookups use pc - bias. */
	Dwfl_Module *mod = dw.report_elf(dwfl, path, path, fd, 0, true);
	dw.report_end(dwfl, NULL, NULL);
	if (!mod) {
		close(fd);
		return; /* the session is leaked: not an ELF file, rare */
	}
	if (build_id && build_id[0]) {
		const unsigned char *bits;
		GElf_Addr vaddr;
		char got[2 * 64 + 1] = "";
		int n = dw.module_build_id(mod, &bits, &vaddr);
		if (n > 0 && n <= 64)
			hex(bits, n, got, sizeof(got));
		if (strcmp(got, build_id) != 0 && strncmp(path, "/proc/", 6) != 0) {
			close(fd);
			return; /* replaced on disk since it was loaded */
		}
	}
	/* Make libdw map all it will read, then let go of the descriptors. */
	last_debug_fd = -1;
	put_off_until = 0;
	GElf_Addr ebias;
	Elf *elf = dw.module_getelf(mod, &ebias);
	Dwarf_Addr dbias = 0;
	Dwarf *dwarf = put_off(elf) ? NULL : dw.module_getdwarf(mod, &dbias);
	o->retry_at = put_off_until;
	Dwarf_Addr cbias;
	(void)dw.module_eh_cfi(mod, &cbias);
	(void)dw.module_dwarf_cfi(mod, &cbias);
	if (elf)
		dw.elf_cntl(elf, ELF_C_FDDONE);
	if (dwarf) {
		Elf *delf = dw.dwarf_getelf(dwarf);
		if (delf && delf != elf)
			dw.elf_cntl(delf, ELF_C_FDDONE);
	}
	if (last_debug_fd >= 0 && last_debug_fd != fd)
		close(last_debug_fd);
	last_debug_fd = -1;
	close(fd);
	o->dwfl = dwfl;
	o->mod = mod;
	o->dwarf_bias = dbias;
	o->has_dwarf = dwarf != NULL;
	if (dwarf) {
		uint64_t size, inflated;
		debug_sizes(dw.dwarf_getelf(dwarf), &size, &inflated);
		if (dwarf_bytes + size > DWARF_BUDGET) {
			static bool said;
			if (!said)
				cprof_warn("%s: not reading its %lu MB of DWARF (over the %llu MB budget for source lines); "
					   "its functions are named from its symbol table, without lines",
					   path, (unsigned long)(size >> 20), DWARF_BUDGET >> 20);
			said = true;
			o->has_dwarf = false;
		} else {
			dwarf_bytes += size;
		}
	}
}

void srclines_fork_abandon(void)
{
	/* The parent's thread was somewhere in here or in libdw: its sessions
	 * may be half-updated, so the child starts with none (their memory
	 * stays unused), and closes the descriptors that thread held. */
	if (opening_fd >= 0)
		close(opening_fd);
	if (last_debug_fd >= 0 && last_debug_fd != opening_fd)
		close(last_debug_fd);
	opening_fd = last_debug_fd = -1;
	objs = NULL;
	dwarf_bytes = 0;
}

static struct obj *obj_for(const char *path, const char *build_id)
{
	if (!srclines_available() || !path || path[0] != '/')
		return NULL;
	if (!build_id)
		build_id = "";
	for (struct obj *o = objs; o; o = o->next) {
		if (strcmp(o->path, path) != 0 || strcmp(o->build_id, build_id) != 0)
			continue;
		if (o->retry_at > 0 && lifetime_s() >= o->retry_at) {
			/* Old enough now: open it again (the first session is
			 * left unused, once per object). */
			o->dwfl = NULL;
			o->retry_at = 0;
			open_obj(o, path, build_id);
		}
		return o->dwfl ? o : NULL;
	}
	struct obj *o = arena_alloc(sizeof(*o));
	size_t len = strlen(path);
	char *copy = arena_alloc(len + 1);
	if (!o || !copy)
		return NULL;
	memcpy(copy, path, len + 1);
	o->path = copy;
	cprof_fmt(o->build_id, sizeof(o->build_id), "%s", build_id);
	open_obj(o, path, build_id);
	o->next = objs;
	objs = o;
	return o->dwfl ? o : NULL;
}

/* ---- lookups --------------------------------------------------------------- */

static const char *copy_str(struct region *r, const char *s)
{
	return s ? region_strdup(r, s) : NULL;
}

/* A file name as the line table spells it, made absolute with the
 * compilation directory when it is relative (pprof -list opens it). */
static const char *file_path(struct region *r, Dwarf_Die *cu, const char *file)
{
	if (!file || file[0] == '/')
		return copy_str(r, file);
	Dwarf_Attribute a;
	const char *dir = dw.attr_integrate(cu, DW_AT_comp_dir, &a) ? dw.formstring(&a) : NULL;
	if (!dir || dir[0] != '/')
		return copy_str(r, file);
	size_t dl = strlen(dir), fl = strlen(file);
	char *out = region_alloc(r, dl + fl + 2);
	if (!out)
		return NULL;
	memcpy(out, dir, dl);
	size_t k = dl;
	if (k && out[k - 1] != '/')
		out[k++] = '/';
	while (file[0] == '.' && file[1] == '/')
		file += 2, fl -= 2;
	memcpy(out + k, file, fl + 1);
	return out;
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *s = NULL;
	if (dw.attr_integrate(die, DW_AT_linkage_name, &a))
		s = dw.formstring(&a);
	if (!s && dw.attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
		s = dw.formstring(&a);
	if (!s && dw.attr_integrate(die, DW_AT_name, &a))
		s = dw.formstring(&a);
	return s;
}

/* Under `parent`, the inlined calls whose code holds pc, outermost first,
 * appended to chain[depth..max); returns the new depth.  Descends into
 * lexical blocks (and try/catch blocks) that hold pc; one without address
 * ranges (some compilers emit them) is searched too, and left if nothing
 * in it matches. */
static int inline_chain(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *chain, int depth, int max, int level)
{
	Dwarf_Die child;
	if (depth >= max || level > 64 || dw.child(parent, &child) != 0)
		return depth;
	do {
		int tag = dw.tag(&child);
		bool block = tag == DW_TAG_lexical_block || tag == DW_TAG_try_block || tag == DW_TAG_catch_block;
		if (tag != DW_TAG_inlined_subroutine && !block)
			continue;
		bool ranged = dw.hasattr(&child, DW_AT_low_pc) || dw.hasattr(&child, DW_AT_ranges);
		if (ranged && dw.haspc(&child, pc) != 1)
			continue;
		if (!ranged && !block)
			continue;
		if (tag == DW_TAG_inlined_subroutine) {
			chain[depth] = child;
			return inline_chain(&child, pc, chain, depth + 1, max, level + 1);
		}
		int d = inline_chain(&child, pc, chain, depth, max, level + 1);
		if (d > depth || ranged)
			return d;
	} while (dw.siblingof(&child, &child) == 0);
	return depth;
}

/* The subprogram holding pc among parent's children, looking through
 * namespaces and types (Rust nests every function in its module's
 * namespace, where dwarf_getscopes does not look). */
static bool find_subprogram(Dwarf_Die *parent, Dwarf_Addr pc, Dwarf_Die *out, int level)
{
	Dwarf_Die child;
	if (level > 32 || dw.child(parent, &child) != 0)
		return false;
	do {
		switch (dw.tag(&child)) {
		case DW_TAG_subprogram:
			if (dw.haspc(&child, pc) == 1) {
				*out = child;
				return true;
			}
			break;
		case DW_TAG_namespace:
		case DW_TAG_module:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
		case DW_TAG_union_type:
		case DW_TAG_interface_type:
			if (find_subprogram(&child, pc, out, level + 1))
				return true;
			break;
		default:
			break;
		}
	} while (dw.siblingof(&child, &child) == 0);
	return false;
}

int srclines_lookup(struct region *r, const char *path, uintptr_t bias, const char *build_id,
		    uintptr_t pc, struct src_frame *out, int max, bool *has_dwarf)
{
	if (has_dwarf)
		*has_dwarf = false;
	struct obj *o = obj_for(path, build_id);
	if (!o)
		return 0;
	if (has_dwarf)
		*has_dwarf = o->has_dwarf;
	if (!o->has_dwarf || max <= 0)
		return 0;
	Dwarf_Addr addr = pc - bias, cubias = 0;
	Dwarf_Die *cu = dw.module_addrdie(o->mod, addr, &cubias);
	if (!cu)
		return 0;
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *l = dw.module_getsrc(o->mod, addr);
	if (l)
		file = dw.lineinfo(l, NULL, &line, NULL, NULL, NULL);

	/* dwarf_getscopes finds the innermost scope holding the address but
	 * continues outward through the abstract definition of an inlined
	 * function; the concrete chain is that scope's tree of parents
	 * (dwarf_getscopes_die), which leads to the concrete subprogram.  It
	 * does not always find the innermost inlined call (lexical blocks
	 * without ranges stop it), so the inline chain is then walked down
	 * from the subprogram. */
	Dwarf_Die *found = NULL, *scopes = NULL;
	int n = dw.getscopes(cu, addr - cubias, &found);
	if (n > 0)
		n = dw.getscopes_die(&found[0], &scopes);
	free(found);
	Dwarf_Die sub;
	bool have_sub = false;
	for (int i = 0; i < n && !have_sub; i++) {
		if (dw.tag(&scopes[i]) == DW_TAG_subprogram) {
			sub = scopes[i];
			have_sub = true;
		}
	}
	free(scopes);
	if (!have_sub)
		have_sub = find_subprogram(cu, addr - cubias, &sub, 0);
	int nf = 0;
	if (have_sub) {
		Dwarf_Die chain[SRCLINES_MAX_FRAMES];
		int depth = inline_chain(&sub, addr - cubias, chain, 0, max - 1 < SRCLINES_MAX_FRAMES ? max - 1 : SRCLINES_MAX_FRAMES - 1, 0);
		Dwarf_Files *files = NULL;
		size_t nfiles = 0;
		/* Innermost first: the deepest inlined call holds the line-table
		 * position; each call site is the position in the scope above. */
		for (int i = depth; i >= 0; i--) {
			Dwarf_Die *die = i ? &chain[i - 1] : &sub;
			int decl = 0;
			dw.decl_line(die, &decl);
			out[nf].function = copy_str(r, die_name(die));
			out[nf].file = file_path(r, cu, file);
			out[nf].line = line > 0 ? line : 0;
			out[nf].start_line = decl > 0 ? decl : 0;
			nf++;
			if (i == 0)
				break;
			Dwarf_Attribute a;
			Dwarf_Word cf = 0, cl = 0;
			if (dw.attr_integrate(die, DW_AT_call_file, &a))
				dw.formudata(&a, &cf);
			if (dw.attr_integrate(die, DW_AT_call_line, &a))
				dw.formudata(&a, &cl);
			if (!files && dw.getsrcfiles(cu, &files, &nfiles) != 0)
				files = NULL;
			file = files && cf < nfiles ? dw.filesrc(files, cf, NULL, NULL) : NULL;
			line = (int)cl;
		}
	}
	if (nf == 0 && file) {
		/* A line without a function DIE (assembly, or a CU without
		 * subprograms): the line alone. */
		out[0] = (struct src_frame){NULL, file_path(r, cu, file), line > 0 ? line : 0, 0};
		nf = 1;
	}
	return nf;
}

uintptr_t srclines_function_start(const char *path, uintptr_t bias, const char *build_id, uintptr_t pc)
{
	struct obj *o = obj_for(path, build_id);
	if (!o)
		return 0;
	Dwarf_Addr addr = pc - bias;
	for (int which = 0; which < 2; which++) {
		Dwarf_Addr cbias = 0;
		Dwarf_CFI *cfi = which == 0 ? dw.module_eh_cfi(o->mod, &cbias) : dw.module_dwarf_cfi(o->mod, &cbias);
		Dwarf_Frame *fr = NULL;
		if (!cfi || dw.cfi_addrframe(cfi, addr - cbias, &fr) != 0 || !fr)
			continue;
		Dwarf_Addr start = 0, end = 0;
		bool sig = false;
		int rc = dw.frame_info(fr, &start, &end, &sig);
		free(fr);
		if (rc >= 0 && start <= addr - cbias && addr - cbias < end)
			return (uintptr_t)(start + cbias + bias);
	}
	return 0;
}
