/*
 * cxx.c - C++ operator new and delete, every variant.
 *
 * libstdc++'s operator new calls malloc, which cprof already samples, so
 * counting new as well would count every allocation twice.  But jemalloc
 * and tcmalloc define their own operators, which never reach malloc: a C++
 * program on such an allocator would show no heap at all.
 *
 * So each operator forwards to the next definition and decides once, on
 * first use, which case applies: if the next operator new lives in the C++
 * runtime (libstdc++/libc++), the wrappers only forward (the inner malloc is
 * sampled); otherwise they account like malloc/free themselves.  The C++
 * runtime's own frames are removed from heap stacks by drop_frames in the
 * encoder.
 *
 * Exceptions (std::bad_alloc) propagate through these C frames: they are
 * compiled with unwind tables.
 *
 * FINDING THE NEXT DEFINITION
 * dlsym(RTLD_NEXT) searches the global scope only.  A C program that
 * dlopen()s a C++ plugin with RTLD_LOCAL (python3 importing an extension
 * module, binutils loading its LTO plugin) brings the C++ runtime in
 * privately: the plugin's references to operator new still bind to cprof's
 * definitions, because the global scope is searched first, yet RTLD_NEXT
 * finds nothing behind them.  The definition the program would have used
 * without cprof is then found by walking the loaded objects
 * (dl_iterate_phdr, link-map order, libcprof skipped) and reading each
 * one's dynamic symbol table in memory (dynsym.c).  An object that is the
 * C++ runtime (libstdc++, libc++) or an allocator (it defines malloc too)
 * is preferred to any other object that happens to define the operator,
 * so all plugins share one runtime's operators.
 *
 * The whole family is resolved together, on the first call of any
 * operator: every delete then has its definition before the first
 * allocation it could free, never for the first time inside the
 * destructors of a dlclose.
 *
 * PINNING
 * The object providing a definition, found either way, is reopened with
 * RTLD_NOLOAD | RTLD_NODELETE before its address is cached, so a later
 * dlclose of the plugin can never leave cprof calling into unmapped code.
 * (glibc already keeps libstdc++ loaded for good: it defines unique
 * symbols.)  A search that finds nothing is not cached: it is repeated
 * once the loader reports a new object (dlpi_adds), since a plugin loaded
 * later may bring the runtime.
 *
 * NO DEFINITION ANYWHERE
 * A program linked against an operator always has a definition loaded, so
 * reaching a wrapper with none takes a probe such as dlsym(RTLD_DEFAULT,
 * "_Znwm"), which finds cprof's.  Such a process has no C++ runtime.  The
 * operators then do what the runtime's own do, on top of the program's
 * malloc (so the allocation is sampled once, by the malloc hook): new
 * allocates with malloc, or posix_memalign for the aligned forms, a size 0
 * becoming 1; delete calls free; the nothrow forms return NULL when
 * allocation fails.  A throwing new that cannot allocate calls the
 * new-handler and tries again, if some loaded object defines
 * std::get_new_handler and a handler is installed (a handler that throws
 * std::bad_alloc propagates through these frames).  Otherwise the runtime
 * would throw std::bad_alloc, but its type lives in the runtime, so nothing
 * could catch it and std::terminate would abort the program: cprof writes
 * one `cprof:` line and aborts.  Returning NULL instead, as before, made
 * the caller crash later at an unrelated place.
 *
 * Contexts: the operators run on any program thread, possibly before
 * cprof's constructor, from library constructors while the loader holds
 * its lock (a plugin's constructor inside dlopen: glibc's lock is
 * recursive), and on many threads at once.  Resolution runs with the
 * guard held (dlsym and dlopen allocate; those allocations pass straight
 * through), takes only the loader's locks, as dlsym(RTLD_NEXT) always did,
 * and preserves errno.  Threads resolving at once each find a pinned
 * definition; a slot, once set, never changes.  own_mode is decided once,
 * from the first definition of operator new(size_t) found.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_hooks.h"
#include "dynsym.h"
#include "log.h"
#include "real.h"

enum { NEW, NEW_NT, NEW_AL, NEW_AL_NT, ANEW, ANEW_NT, ANEW_AL, ANEW_AL_NT,
       DEL, DEL_SZ, DEL_AL, DEL_SZ_AL, DEL_NT, DEL_AL_NT,
       ADEL, ADEL_SZ, ADEL_AL, ADEL_SZ_AL, ADEL_NT, ADEL_AL_NT, NFN };

static const char *const names[NFN] = {
	"_Znwm", "_ZnwmRKSt9nothrow_t", "_ZnwmSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t",
	"_Znam", "_ZnamRKSt9nothrow_t", "_ZnamSt11align_val_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
	"_ZdlPv", "_ZdlPvm", "_ZdlPvSt11align_val_t", "_ZdlPvmSt11align_val_t",
	"_ZdlPvRKSt9nothrow_t", "_ZdlPvSt11align_val_tRKSt9nothrow_t",
	"_ZdaPv", "_ZdaPvm", "_ZdaPvSt11align_val_t", "_ZdaPvmSt11align_val_t",
	"_ZdaPvRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};

static void *fns[NFN];
static int own_mode = -1;   /* -1 unknown, 0 forward only, 1 account here */
/* The loader's count of added objects (dlpi_adds) when a resolution last
 * left some operator without a definition; 0 when none did. */
static unsigned long long missing_at;

static bool is_cxx_runtime(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strncmp(base, "libstdc++", 9) == 0 || strncmp(base, "libc++", 6) == 0;
}

static bool in_cxx_runtime(void *fn)
{
	Dl_info info;
	if (!dladdr(fn, &info) || !info.dli_fname)
		return true; /* unknown: assume the runtime, never double count */
	return is_cxx_runtime(info.dli_fname);
}

/* ---- a definition in a loaded object's dynamic symbols ---------------------- */

/* Does symbol i define `name` as an exported function a lookup without a
 * version can bind to?  (A dynsym_match_fn.) */
static bool defines_at(const struct dynsym *d, uint32_t i, const char *name, size_t len, void *arg)
{
	const ElfW(Sym) *s = dynsym_named(d, i, name, len);
	if (!s || s->st_shndx == SHN_UNDEF || !s->st_value)
		return false;
	/* (the ELF32 macros serve both classes) */
	unsigned type = ELF32_ST_TYPE(s->st_info), bind = ELF32_ST_BIND(s->st_info);
	unsigned vis = ELF32_ST_VISIBILITY(s->st_other);
	if ((type != STT_FUNC && type != STT_GNU_IFUNC) || (bind != STB_GLOBAL && bind != STB_WEAK) ||
	    (vis != STV_DEFAULT && vis != STV_PROTECTED))
		return false;
	/* A hidden (non-default) version is not what an unversioned
	 * reference binds to. */
	if (d->versym && (!dynsym_mapped(d->info, &d->versym[i], sizeof(d->versym[i])) ||
			  (d->versym[i] & 0x8000)))
		return false;
	return true;
}

static bool dynsym_defines(const struct dynsym *d, const char *name)
{
	return dynsym_lookup(d, name, defines_at, NULL, NULL);
}

/* ---- finding and pinning a definition -------------------------------------- */

#define MAX_EXCLUDED 4

struct walk {
	const char *name;
	uintptr_t excluded[MAX_EXCLUDED];
	int nexcluded;
	/* the best candidate so far: rank 0 (C++ runtime or allocator)
	 * before rank 1 (anything else), link-map order within a rank */
	int rank;
	uintptr_t base;
	char path[PATH_MAX];
};

static int walk_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct walk *w = arg;
	struct dynsym d;

	/* The main program (no name) precedes cprof in every scope; cprof
	 * itself is what is being looked behind. */
	if (!info->dlpi_name || !info->dlpi_name[0] || dynsym_mapped(info, (const void *)walk_cb, 1))
		return 0;
	for (int i = 0; i < w->nexcluded; i++)
		if (info->dlpi_addr == w->excluded[i])
			return 0;
	if (!dynsym_open(&d, info) || !dynsym_defines(&d, w->name))
		return 0;
	int rank = is_cxx_runtime(info->dlpi_name) || dynsym_defines(&d, "malloc") ? 0 : 1;
	size_t len = strlen(info->dlpi_name);
	if (rank >= w->rank || len >= sizeof(w->path))
		return 0;
	w->rank = rank;
	w->base = info->dlpi_addr;
	memcpy(w->path, info->dlpi_name, len + 1);
	return rank == 0; /* the first runtime in link-map order ends the walk */
}

/* Keep the object at `path`, loaded at `base`, loaded for good.  Returns
 * its handle, or NULL if it is gone or is not that object (another
 * namespace). */
static void *pin(const char *path, uintptr_t base)
{
	struct link_map *lm = NULL;
	void *h = dlopen(path, RTLD_NOLOAD | RTLD_NODELETE | RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		return NULL;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm || lm->l_addr != base) {
		REAL(dlclose)(h);
		return NULL;
	}
	return h;
}

static bool in_cprof(const void *p)
{
	Dl_info a, b;
	return dladdr(p, &a) && dladdr((const void *)in_cprof, &b) && a.dli_fbase == b.dli_fbase;
}

/* The definition of `name` the program would reach without cprof, in an
 * object now pinned; NULL if no loaded object defines it.  Guard held. */
static void *find_definition(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);
	if (fn) {
		Dl_info info;
		struct link_map *lm = NULL;
		if (dladdr1(fn, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm &&
		    (!lm->l_name || !lm->l_name[0] || pin(lm->l_name, lm->l_addr)))
			return fn; /* the main program needs no pin: it never unloads */
	}
	/* Not in the global scope: a copy loaded with RTLD_LOCAL.  An object
	 * that vanishes or belongs to another namespace before it is pinned
	 * is passed over and the walk repeated. */
	struct walk w = {.name = name};
	for (;;) {
		w.rank = 2;
		REAL(dl_iterate_phdr)(walk_cb, &w);
		if (w.rank == 2)
			return NULL;
		void *h = pin(w.path, w.base);
		/* The object defines the symbol, so dlsym on its handle finds
		 * that definition first, as the loader would. */
		fn = h ? dlsym(h, name) : NULL;
		if (fn && !in_cprof(fn))
			return fn;
		if (w.nexcluded == MAX_EXCLUDED)
			return NULL;
		w.excluded[w.nexcluded++] = w.base;
	}
}

static int adds_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	if (size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof(info->dlpi_adds))
		*(unsigned long long *)arg = info->dlpi_adds;
	return 1;
}

/* How many objects the loader has added so far (0 if it cannot say). */
static unsigned long long loaded_adds(void)
{
	unsigned long long adds = 0;
	REAL(dl_iterate_phdr)(adds_cb, &adds);
	return adds;
}

CPROF_COLD static void *resolve(int which)
{
	int saved = errno;
	guard_enter();
	if (!real_ready())
		real_resolve();
	unsigned long long adds = loaded_adds();
	if (!adds || adds != __atomic_load_n(&missing_at, __ATOMIC_RELAXED)) {
		bool missing = false;
		for (int i = 0; i < NFN; i++) {
			if (__atomic_load_n(&fns[i], __ATOMIC_ACQUIRE))
				continue;
			void *fn = find_definition(names[i]), *none = NULL;
			if (fn)
				__atomic_compare_exchange_n(&fns[i], &none, fn, false, __ATOMIC_RELEASE,
							    __ATOMIC_RELAXED);
			else
				missing = true;
		}
		/* Anything loaded from now on bumps the count and earns another
		 * search. */
		if (missing)
			__atomic_store_n(&missing_at, adds, __ATOMIC_RELAXED);
		void *n = __atomic_load_n(&fns[NEW], __ATOMIC_ACQUIRE);
		int unknown = -1;
		if (n)
			__atomic_compare_exchange_n(&own_mode, &unknown, in_cxx_runtime(n) ? 0 : 1, false,
						    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	}
	guard_leave();
	errno = saved;
	return __atomic_load_n(&fns[which], __ATOMIC_ACQUIRE);
}

CPROF_INLINE void *get(int which)
{
	void *fn = __atomic_load_n(&fns[which], __ATOMIC_ACQUIRE);
	return likely(fn != NULL) ? fn : resolve(which);
}

CPROF_INLINE bool own(void)
{
	return __atomic_load_n(&own_mode, __ATOMIC_RELAXED) == 1;
}

/* ---- no definition anywhere (see the top of the file) ---------------------- */

typedef void (*new_handler_fn)(void);

static new_handler_fn current_new_handler(void)
{
	guard_enter();
	new_handler_fn (*get_handler)(void) =
		(new_handler_fn (*)(void))find_definition("_ZSt15get_new_handlerv");
	guard_leave();
	return get_handler ? get_handler() : NULL;
}

CPROF_COLD static void *fallback_new(size_t n, size_t al, bool nothrow)
{
	if (n == 0)
		n = 1;
	for (;;) {
		/* The program's malloc, through its global binding (usually
		 * cprof's own hook), as the C++ runtime would call it. */
		void *p = NULL;
		if (al > alignof(max_align_t)) {
			if (posix_memalign(&p, al, n) != 0)
				p = NULL;
		} else {
			p = malloc(n);
		}
		if (p || nothrow)
			return p;
		new_handler_fn handler = current_new_handler();
		if (!handler) {
			cprof_warn("operator new(%zu) failed and no C++ runtime is loaded to throw "
				   "std::bad_alloc: aborting, as std::terminate would", n);
			abort();
		}
		handler();
	}
}

#define NEW_BODY(which, call_args, size, align, nothrow)         \
	void *(*fn)() = (void *(*)())get(which);                  \
	if (unlikely(!fn))                                       \
		return fallback_new(size, align, nothrow);       \
	if (!own())                                              \
		return fn call_args;                             \
	void *p = ALLOC_CALL(fn call_args);                      \
	return account(p, size);

#define DEL_BODY(which, call_args, ptr)                          \
	void (*fn)() = (void (*)())get(which);                    \
	if (unlikely(!fn)) {                                     \
		free(ptr);                                       \
		return;                                          \
	}                                                        \
	if (!own()) {                                            \
		fn call_args;                                    \
		return;                                          \
	}                                                        \
	unaccount(ptr);                                          \
	ALLOC_CALL_VOID(fn call_args);

typedef struct { char c; } nothrow_t;

CPROF_EXPORT void *_Znwm(size_t n) { NEW_BODY(NEW, (n), n, 0, false) }
CPROF_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const nothrow_t *nt) { NEW_BODY(NEW_NT, (n, nt), n, 0, true) }
CPROF_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t al) { NEW_BODY(NEW_AL, (n, al), n, al, false) }
CPROF_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const nothrow_t *nt) { NEW_BODY(NEW_AL_NT, (n, al, nt), n, al, true) }
CPROF_EXPORT void *_Znam(size_t n) { NEW_BODY(ANEW, (n), n, 0, false) }
CPROF_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const nothrow_t *nt) { NEW_BODY(ANEW_NT, (n, nt), n, 0, true) }
CPROF_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t al) { NEW_BODY(ANEW_AL, (n, al), n, al, false) }
CPROF_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const nothrow_t *nt) { NEW_BODY(ANEW_AL_NT, (n, al, nt), n, al, true) }

CPROF_EXPORT void _ZdlPv(void *p) { DEL_BODY(DEL, (p), p) }
CPROF_EXPORT void _ZdlPvm(void *p, size_t n) { DEL_BODY(DEL_SZ, (p, n), p) }
CPROF_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t al) { DEL_BODY(DEL_AL, (p, al), p) }
CPROF_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al) { DEL_BODY(DEL_SZ_AL, (p, n, al), p) }
CPROF_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_t *nt) { DEL_BODY(DEL_NT, (p, nt), p) }
CPROF_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const nothrow_t *nt) { DEL_BODY(DEL_AL_NT, (p, al, nt), p) }
CPROF_EXPORT void _ZdaPv(void *p) { DEL_BODY(ADEL, (p), p) }
CPROF_EXPORT void _ZdaPvm(void *p, size_t n) { DEL_BODY(ADEL_SZ, (p, n), p) }
CPROF_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t al) { DEL_BODY(ADEL_AL, (p, al), p) }
CPROF_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al) { DEL_BODY(ADEL_SZ_AL, (p, n, al), p) }
CPROF_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_t *nt) { DEL_BODY(ADEL_NT, (p, nt), p) }
CPROF_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const nothrow_t *nt) { DEL_BODY(ADEL_AL_NT, (p, al, nt), p) }
