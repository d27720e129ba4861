/*
 * process.c - exec, and the two dynamic-loader entry points cprof watches.
 *
 * exec*: the calling thread's CPU timer is disarmed before the real call,
 * so no profiling signal can be pending when the new image starts with
 * default dispositions (it would kill it), and re-armed if exec fails.
 * Timers of other threads die with them.  A statically linked target
 * ignores LD_PRELOAD: cprof says so in one line instead of letting the
 * child go unprofiled silently.  (glibc's execl* and posix_spawn reach
 * execve internally, without these wrappers; posix_spawn's child is a new
 * task with no timer, and execl* are forwarded to execv* here.)
 *
 * dl_iterate_phdr: marks the thread as inside the loader (its callbacks
 * run under the loader's lock) so the CPU signal handler and the heap
 * sampler avoid libunwind there (unwind.h).
 *
 * dlclose: closes the unwind gate around the real call (no thread may be
 * reading the object's unwind tables while it is unmapped) and remembers
 * the objects that disappeared, so samples taken in them stay symbolized.
 *
 * dlopen and dlsym are deliberately not wrapped (real.h).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "log.h"
#include "mappings.h"
#include "real.h"
#include "runtime.h"
#include "threads.h"
#include "tstate.h"
#include "unwind.h"

/* ---- exec ------------------------------------------------------------------ */

/* Is `path` an ELF executable without an interpreter (static)? */
static bool is_static_elf(const char *path)
{
	ElfW(Ehdr) eh;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool result = false;
	if (fd < 0)
		return false;
	if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    (eh.e_type == ET_EXEC || eh.e_type == ET_DYN) && eh.e_phentsize == sizeof(ElfW(Phdr)) &&
	    eh.e_phnum > 0 && eh.e_phnum < 256) {
		bool interp = false, dynamic = false;
		for (int i = 0; i < eh.e_phnum; i++) {
			ElfW(Phdr) ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (size_t)i * sizeof(ph))) !=
			    (ssize_t)sizeof(ph))
				break;
			interp |= ph.p_type == PT_INTERP;
			dynamic |= ph.p_type == PT_DYNAMIC;
		}
		/* ET_DYN without PT_INTERP is a shared library or a static PIE;
		 * only call it static if it has no PT_DYNAMIC either, or is ET_EXEC. */
		result = !interp && (eh.e_type == ET_EXEC || !dynamic);
	}
	close(fd);
	return result;
}

static void check_target(const char *file, bool search)
{
	char buf[4096];
	const char *path = file;

	if (!file || !rt_running())
		return;
	if (search && !strchr(file, '/')) {
		const char *p = getenv("PATH");
		path = NULL;
		if (!p)
			p = "/bin:/usr/bin";
		while (*p && !path) {
			const char *e = strchr(p, ':');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			cprof_fmt(buf, sizeof(buf), "%.*s/%s", (int)len, p, file);
			if (len && access(buf, X_OK) == 0)
				path = buf;
			p = e ? e + 1 : p + len;
		}
		if (!path)
			return;
	}
	if (is_static_elf(path))
		cprof_warn("%s is statically linked: LD_PRELOAD does not apply, so it runs without profiling",
			   path);
}

/*
 * A vfork child shares its parent's memory and TLS until it execs: its pid
 * differs from the one cprof knows, and no fork handler ran.  Touching the
 * registry from there would pause the *parent* thread's timer record, so
 * a vfork child's exec passes straight through (its parent is suspended
 * and consumes no CPU: no profiling signal can be pending for the child).
 */
static bool vfork_child(void)
{
	return getpid() != rt.pid;
}

#define EXEC_BEGIN(file, search)                     \
	int saved_ = errno;                          \
	bool paused_ = false;                        \
	if (!cprof_tls.guard && rt_running() && !vfork_child()) { \
		guard_enter();                       \
		check_target(file, search);          \
		threads_pause_self();                \
		paused_ = true;                      \
		guard_leave();                       \
	}                                            \
	errno = saved_;

#define EXEC_END()                               \
	if (paused_) {                           \
		saved_ = errno;                  \
		threads_resume_self();           \
		errno = saved_;                  \
	}

CPROF_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_BEGIN(path, false);
	int r = REAL(execve)(path, argv, envp);
	EXEC_END();
	return r;
}

CPROF_EXPORT int execv(const char *path, char *const argv[])
{
	EXEC_BEGIN(path, false);
	int r = REAL(execv)(path, argv);
	EXEC_END();
	return r;
}

CPROF_EXPORT int execvp(const char *file, char *const argv[])
{
	EXEC_BEGIN(file, true);
	int r = REAL(execvp)(file, argv);
	EXEC_END();
	return r;
}

CPROF_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_BEGIN(file, true);
	int r = REAL(execvpe)(file, argv, envp);
	EXEC_END();
	return r;
}

CPROF_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC_BEGIN(NULL, false);
	int r = REAL(fexecve)(fd, argv, envp);
	EXEC_END();
	return r;
}

/* execl, execlp, execle: collect the variadic arguments on the stack (as
 * glibc does) and go through the wrappers above. */
#define COLLECT_ARGS(first, ap, argv, n)                         \
	size_t n = 1;                                            \
	va_start(ap, first);                                     \
	while (va_arg(ap, const char *))                         \
		n++;                                             \
	va_end(ap);                                              \
	const char *argv[n + 1];                                 \
	argv[0] = first;                                         \
	va_start(ap, first);                                     \
	for (size_t i_ = 1; i_ <= n; i_++)                       \
		argv[i_] = va_arg(ap, const char *);

CPROF_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv, n);
	va_end(ap);
	return execv(path, (char *const *)argv);
}

CPROF_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv, n);
	va_end(ap);
	return execvp(file, (char *const *)argv);
}

CPROF_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv, n);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, (char *const *)argv, envp);
}

/* ---- the loader -------------------------------------------------------------- */

CPROF_EXPORT int dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
	cprof_tls.in_loader++;
	int r = REAL(dl_iterate_phdr)(cb, data);
	cprof_tls.in_loader--;
	return r;
}

CPROF_EXPORT int dlclose(void *handle)
{
	if (cprof_tls.guard || !rt_running())
		return REAL(dlclose)(handle);
	/* The guard covers cprof's own work only: the library destructors
	 * dlclose runs are the program's code, and their frees must still be
	 * seen.  (Their allocations sampled while the gate is closed get the
	 * synthetic stack cprof_stack_unavailable.) */
	struct region r = {0};
	guard_enter();
	struct mappings_snapshot *before = mappings_note_before_close(&r);
	unwind_gate_close();
	guard_leave();
	int ret = REAL(dlclose)(handle);
	guard_enter();
	unwind_objects_unmapped();
	unwind_gate_open();
	mappings_note_after_close(before);
	region_reset(&r);
	guard_leave();
	return ret;
}
