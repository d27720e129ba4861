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
 */
#include <dlfcn.h>
#include <string.h>

#include "alloc_hooks.h"
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

static bool in_cxx_runtime(void *fn)
{
	Dl_info info;
	if (!dladdr(fn, &info) || !info.dli_fname)
		return true; /* unknown: assume the runtime, never double count */
	const char *base = strrchr(info.dli_fname, '/');
	base = base ? base + 1 : info.dli_fname;
	return strncmp(base, "libstdc++", 9) == 0 || strncmp(base, "libc++", 6) == 0;
}

CPROF_COLD static void *resolve(int which)
{
	guard_enter();
	if (!real_ready())
		real_resolve();
	void *fn = dlsym(RTLD_NEXT, names[which]);
	if (fn)
		__atomic_store_n(&fns[which], fn, __ATOMIC_RELEASE);
	if (__atomic_load_n(&own_mode, __ATOMIC_ACQUIRE) < 0) {
		void *n = fns[NEW] ? fns[NEW] : dlsym(RTLD_NEXT, names[NEW]);
		if (n)
			__atomic_store_n(&own_mode, in_cxx_runtime(n) ? 0 : 1, __ATOMIC_RELEASE);
	}
	guard_leave();
	return fn;
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

/* An operator that does not exist anywhere cannot be called by a linked
 * program; reaching here means a dlsym probe.  Fail like a nothrow new. */
#define NEW_BODY(which, call_args, size)                         \
	void *(*fn)() = (void *(*)())get(which);                  \
	if (unlikely(!fn))                                       \
		return NULL;                                     \
	if (!own())                                              \
		return fn call_args;                             \
	void *p = ALLOC_CALL(fn call_args);                      \
	return account(p, size);

#define DEL_BODY(which, call_args, ptr)                          \
	void (*fn)() = (void (*)())get(which);                    \
	if (unlikely(!fn))                                       \
		return;                                          \
	if (!own()) {                                            \
		fn call_args;                                    \
		return;                                          \
	}                                                        \
	unaccount(ptr);                                          \
	ALLOC_CALL_VOID(fn call_args);

typedef struct { char c; } nothrow_t;

CPROF_EXPORT void *_Znwm(size_t n) { NEW_BODY(NEW, (n), n) }
CPROF_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const nothrow_t *nt) { NEW_BODY(NEW_NT, (n, nt), n) }
CPROF_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t al) { NEW_BODY(NEW_AL, (n, al), n) }
CPROF_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const nothrow_t *nt) { NEW_BODY(NEW_AL_NT, (n, al, nt), n) }
CPROF_EXPORT void *_Znam(size_t n) { NEW_BODY(ANEW, (n), n) }
CPROF_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const nothrow_t *nt) { NEW_BODY(ANEW_NT, (n, nt), n) }
CPROF_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t al) { NEW_BODY(ANEW_AL, (n, al), n) }
CPROF_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const nothrow_t *nt) { NEW_BODY(ANEW_AL_NT, (n, al, nt), n) }

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
