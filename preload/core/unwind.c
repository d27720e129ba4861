/*
 * unwind.c - stack capture (see unwind.h for the design and contexts).
 *
 * Invariants:
 *  - lu.* are written once by unwind_init() (constructor) before any hook
 *    samples, then only read.
 *  - gate_active[] counts threads inside an unwinder, spread over
 *    GATE_STRIPES cache lines by thread (a thread always uses the same
 *    stripe), so that two threads sampling at once do not pass one line
 *    back and forth; gate_closed > 0 means fork or dlclose is waiting for
 *    the unwinders to drain, and the closer waits until every stripe is
 *    zero.  All are sequentially consistent so that an unwinder that did
 *    not see the gate closed is counted by the closer.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "unwind.h"
#include "cfi.h"
#include "config.h"
#include "lock.h"
#include "log.h"
#include "tstate.h"

static struct {
	int (*getcontext)(unw_context_t *);
	int (*init_local)(unw_cursor_t *, unw_context_t *);
	int (*init_local2)(unw_cursor_t *, unw_context_t *, int);
	int (*step)(unw_cursor_t *);
	int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
	int (*backtrace)(void **, int);
} lu;

/* What every walk reads, on one line: set at start (the gate also by fork
 * and dlclose), so a sample finds one line cold, not four. */
static struct {
	int mode;
	atomic_int gate_closed;            /* see "the gate" */
	uintptr_t self_lo, self_hi;        /* libcprof's executable segment */
	uintptr_t loader_lo, loader_hi;    /* ld.so's executable segment */
} hot __attribute__((aligned(CPROF_CACHELINE))) = {.mode = UNWIND_FP};

/* Unwinds a thread makes without libunwind's trace cache (see unwind_here). */
#define STEP_UNWINDS 16

#define GATE_STRIPES 16
static struct {
	atomic_int n;
} __attribute__((aligned(CPROF_CACHELINE))) gate_active[GATE_STRIPES];

extern const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));

/* Executable PT_LOAD range of an object mapped at `base` whose ELF header
 * is readable in memory. */
static void exec_range(const ElfW(Ehdr) *eh, uintptr_t bias, uintptr_t *lo, uintptr_t *hi)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X)) {
			uintptr_t s = bias + ph[i].p_vaddr;
			if (!*lo || s < *lo)
				*lo = s;
			if (s + ph[i].p_memsz > *hi)
				*hi = s + ph[i].p_memsz;
		}
	}
}

static void find_ranges(void)
{
	const ElfW(Ehdr) *eh = &__ehdr_start;
	/* libcprof is a shared object: its load bias is its header address
	 * minus the first segment's vaddr, which is 0 for ld-built DSOs. */
	exec_range(eh, (uintptr_t)eh, &hot.self_lo, &hot.self_hi);

	uintptr_t base = getauxval(AT_BASE);
	if (base)
		exec_range((const ElfW(Ehdr) *)base, base, &hot.loader_lo, &hot.loader_hi);
}

bool unwind_pc_in_cprof(uintptr_t pc)
{
	return pc - hot.self_lo < hot.self_hi - hot.self_lo;
}

bool unwind_pc_in_loader(uintptr_t pc)
{
	return pc - hot.loader_lo < hot.loader_hi - hot.loader_lo;
}

/*
 * libunwind's pipe.  Its first cursor opens a pipe that it keeps for the
 * life of the process and writes to when a frame falls back to its
 * heuristics (an address check); when that write fails with EBADF, it
 * closes both numbers it recorded and opens a new pipe.  A program that
 * closes every inherited descriptor (closefrom(3)) and opens its own
 * files on those numbers then had them closed under it by the next CPU
 * sample (test/progs/closefrom_cpu.c).  So cprof notes the pipe's two
 * descriptors and inode when it makes that first cursor, at start, and
 * before every use of libunwind checks that both still are that pipe
 * (two fstat calls, async-signal-safe).  Once either is not, libunwind is
 * never entered again: stacks are walked by the CFI walker and frame
 * pointers.  In a single-threaded program the check cannot race with the
 * program (it runs on the program's only thread); in a threaded one,
 * another thread may still take the numbers between the check and
 * libunwind's write.
 */
static int lu_pipe[2] = {-1, -1};
static unsigned long lu_pipe_ino;
static atomic_bool lu_lost, lu_lost_said;

static bool is_fifo(int fd, struct stat *st)
{
	return fd >= 0 && fstat(fd, st) == 0 && S_ISFIFO(st->st_mode);
}

/* Before libunwind's first cursor: the lowest free descriptor, which its
 * pipe will take. */
static int lowest_free_fd(void)
{
	int fd = open("/", O_PATH | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	return fd;
}

/* After it: the pipe is at `lowest` and the next free number above. */
static void note_lu_pipe(int lowest)
{
	struct stat a, b;
	if (!is_fifo(lowest, &a))
		return;
	for (int fd = lowest + 1; fd < lowest + 64; fd++) {
		if (is_fifo(fd, &b) && b.st_ino == a.st_ino) {
			lu_pipe[0] = lowest;
			lu_pipe[1] = fd;
			lu_pipe_ino = (unsigned long)a.st_ino;
			return;
		}
	}
}

/* May libunwind run now?  Async-signal-safe. */
static bool lu_usable(void)
{
	struct stat st;
	if (atomic_load_explicit(&lu_lost, memory_order_relaxed))
		return false;
	if (lu_pipe[0] < 0)
		return true; /* not found at start: nothing to check */
	for (int i = 0; i < 2; i++)
		if (!is_fifo(lu_pipe[i], &st) || (unsigned long)st.st_ino != lu_pipe_ino) {
			atomic_store_explicit(&lu_lost, true, memory_order_relaxed);
			return false;
		}
	return true;
}

static int load_libunwind(void)
{
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -1;
	lu.getcontext = (int (*)(unw_context_t *))dlsym(h, "_Ux86_64_getcontext");
	lu.init_local = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(h, "_ULx86_64_init_local");
	lu.init_local2 = (int (*)(unw_cursor_t *, unw_context_t *, int))dlsym(h, "_ULx86_64_init_local2");
	lu.step = (int (*)(unw_cursor_t *))dlsym(h, "_ULx86_64_step");
	lu.get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, "_ULx86_64_get_reg");
	lu.backtrace = (int (*)(void **, int))dlsym(h, "unw_backtrace");
	if (!lu.getcontext || !lu.init_local || !lu.init_local2 || !lu.step || !lu.get_reg ||
	    !lu.backtrace) {
		lu.init_local2 = NULL;
		return -1;
	}
	return 0;
}

/*
 * The CFI walker reads the stack inside the thread's bounds.  For the main
 * thread glibc's pthread_getattr_np finds them in /proc/self/maps: a file
 * to open and parse (0.09 ms of every process's start), and a descriptor
 * that a hook must not take in the middle of the program (they may all be
 * in use, or another thread may be dup2'ing onto the number).  Every frame
 * of the main thread lies below the stack pointer the process started with
 * (__libc_stack_end, from the loader), whose page is mapped; the stack
 * below it reaches down at most RLIMIT_STACK (1 GiB assumed when
 * unlimited).  A walk that would read above is left to libunwind.
 */
extern void *__libc_stack_end;

static void main_stack_bounds(struct tstate *t)
{
	struct rlimit rl;
	uintptr_t hi = ((uintptr_t)__libc_stack_end + 4095) & ~(uintptr_t)4095;
	uintptr_t size = UINT64_C(1) << 30;
	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < size)
		size = rl.rlim_cur;
	if (!t->stack_hi && __libc_stack_end && hi > size) {
		t->stack_lo = hi - size;
		t->stack_hi = hi;
	}
}

int unwind_init(int want)
{
	find_ranges();
	hot.mode = UNWIND_FP;
	if (want == UNWIND_LIBUNWIND) {
		if (load_libunwind() == 0) {
			hot.mode = UNWIND_LIBUNWIND;
			/* libunwind initialises itself on its first cursor, and
			 * that opens a pipe it keeps (its fallback memory check).
			 * Let it happen now, at start, not at the first sample,
			 * which may come when the program is using every
			 * descriptor its limit allows. */
			unw_context_t ctx;
			unw_cursor_t cur;
			int lowest = lowest_free_fd();
			if (lu.getcontext(&ctx) == 0)
				(void)lu.init_local(&cur, &ctx);
			note_lu_pipe(lowest);
			if (cprof_gettid() == getpid())
				main_stack_bounds(&cprof_tls);
		} else {
			cprof_warn_tree("libunwind.so.8 could not be loaded (install libunwind8); "
					"falling back to frame-pointer unwinding (CPROF_UNWIND=fp)");
		}
	}
	return 0;
}

int unwind_mode(void)
{
	return hot.mode;
}

/* ---- the gate ---------------------------------------------------------- */

/* The calling thread's stripe: its thread-state block's address, hashed
 * (the blocks of neighbouring threads are a stack apart, so their low bits
 * say little). */
static inline atomic_int *gate_stripe(void)
{
	return &gate_active[cprof_hash64((uintptr_t)&cprof_tls) >> 60].n;
}

static bool gate_enter(void)
{
	atomic_int *a = gate_stripe();
	atomic_fetch_add(a, 1);
	if (unlikely(atomic_load(&hot.gate_closed))) {
		atomic_fetch_sub(a, 1);
		return false;
	}
	return true;
}

static void gate_leave(void)
{
	atomic_fetch_sub(gate_stripe(), 1);
}

bool unwind_gate_enter(void)
{
	return gate_enter();
}

void unwind_gate_leave(void)
{
	gate_leave();
}

static bool gate_drained(void)
{
	for (int i = 0; i < GATE_STRIPES; i++)
		if (atomic_load(&gate_active[i].n))
			return false;
	return true;
}

void unwind_gate_close(void)
{
	WITNESS_HOLDS_NONE("unwind gate closed while holding a lock");
	atomic_fetch_add(&hot.gate_closed, 1);
	while (!gate_drained())
		sched_yield();
}

void unwind_gate_open(void)
{
	atomic_fetch_sub(&hot.gate_closed, 1);
}

void unwind_objects_unmapped(void)
{
	cfi_forget();
}

void unwind_fork_child(void)
{
	for (int i = 0; i < GATE_STRIPES; i++)
		atomic_store(&gate_active[i].n, 0);
	atomic_store(&hot.gate_closed, 0);
}

/* ---- frame-pointer walk -------------------------------------------------- */

/*
 * Reads only 16-byte windows [fp, fp+16) that lie inside [lo, hi), with fp
 * strictly increasing and 8-aligned, so it cannot fault or loop.  With no
 * known bounds it reads nothing.
 */
static unsigned fp_walk(uintptr_t fp, uintptr_t lo, uintptr_t hi,
			uintptr_t *pcs, unsigned n, unsigned max)
{
	while (n < max) {
		if (fp < lo || fp > hi - 16 || (fp & 7) || hi <= lo)
			break;
		uintptr_t next = ((const uintptr_t *)fp)[0];
		uintptr_t ret = ((const uintptr_t *)fp)[1];
		if (ret < CPROF_PC_SYNTHETIC_MAX)
			break;
		pcs[n++] = ret;
		if (next <= fp)
			break;
		fp = next;
	}
	return n;
}

/* ---- normal context ---------------------------------------------------------- */

/*
 * libunwind keeps its trace cache pointer in thread-local storage, and
 * being loaded by dlopen its TLS is dynamic: the first unw_backtrace on a
 * thread makes the loader malloc the thread's block, on that thread.  In
 * the program's heap, that one small allocation, made at whatever point
 * the thread took its first sample, moved the program's blocks: one
 * thread of bench/progs/malloc_mix.c took between 19,000 and 46,000 page
 * faults from run to run (23,400 in every bare run), and the kernel time
 * with them.  The first call runs inside own_alloc_begin/end (tstate.h),
 * so the block comes from the boot pool.  (Taking the block at every
 * thread start instead gave every thread one, which glibc frees when a
 * new thread reuses the cached stack, outside its stack-cache lock: a
 * fork in that window left a child that freed it twice.  A boot-pool
 * block freed twice is ignored twice.)
 */
static int first_backtrace(struct tstate *t, void **buf, int n)
{
	int64_t left = own_alloc_begin();
	int r = lu.backtrace(buf, n);
	own_alloc_end(left);
	t->unw_tls = 1;
	return r;
}

/*
 * The CFI walker (cfi.h) from the first frame outside cprof.  cprof is
 * built with frame pointers, so its own frames at the top of the stack
 * (the hook, the sampler, this function) are passed by their frame chain,
 * without a rule lookup; the walk starts at the return address into the
 * program with the program's stack and frame pointers as they were at
 * the call.  -1 when the stack is not the thread's own (a signal
 * handler's alternate stack, a coroutine's) or some frame needs
 * libunwind.
 */
static int cfi_here(struct tstate *t, uintptr_t *pcs, unsigned max)
{
	/* The thread's stack bounds were taken where no lock of the program's
	 * can be held: the main thread's by unwind_init, every other
	 * thread's by its registration (threads_register_self).  Never here:
	 * this can be a sample of an allocation pthread_getattr_np itself
	 * makes, holding the thread's descriptor lock, which asking it again
	 * would wait on for ever (Rust's std calls it at every thread's
	 * start).  A thread without bounds goes to libunwind. */
	uintptr_t hi = t->stack_hi;
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0), sp = fp;
	if (fp < t->stack_lo || fp >= hi)
		return -1;
	uintptr_t pc;
	for (;;) {
		if (fp < sp || fp > hi - 16 || (fp & 7))
			return -1;
		pc = ((const uintptr_t *)fp)[1];
		sp = fp + 16;
		fp = ((const uintptr_t *)fp)[0];
		if (!unwind_pc_in_cprof(pc))
			break;
	}
	return cfi_walk(pc, sp, fp, hi, pcs, max);
}

/* The walks other than the cached rules' (libunwind's, the frame
 * pointers'), entered with the gate held; they leave it.  Their buffers
 * (libunwind's context and cursor, about 2.5 KiB) are in this frame, not
 * in unwind_here's: a heap sample's stack then reaches no deeper than it
 * must, and every line of stack below the program's own depth is a
 * cache line the sample finds cold. */
static CPROF_NOINLINE unsigned unwind_here_slow(struct tstate *t, uintptr_t *pcs, unsigned max)
{
	void *buf[CPROF_MAX_DEPTH + 16];
	unsigned n = 0, out = 0, i = 0;

	bool lu_ok = hot.mode == UNWIND_LIBUNWIND && !t->in_loader && lu_usable();
	if (hot.mode == UNWIND_LIBUNWIND && !lu_ok && atomic_load(&lu_lost) &&
	    !atomic_exchange(&lu_lost_said, true))
		cprof_warn("the program closed or reused libunwind's descriptors (closefrom?); stacks "
			   "are walked by frame pointers from now on where call-frame information does "
			   "not serve");
	if (lu_ok && t->unwinds >= STEP_UNWINDS) {
		int r;
		if (likely(t->unw_tls)) {
			r = lu.backtrace(buf, (int)CPROF_ARRAY_LEN(buf));
		} else {
			/* The thread's first unw_backtrace: see first_backtrace. */
			r = first_backtrace(t, buf, (int)CPROF_ARRAY_LEN(buf));
		}
		n = r > 0 ? (unsigned)r : 0;
	} else if (lu_ok) {
		/* A thread's first unwinds step without libunwind's per-thread
		 * trace cache: unw_backtrace maps (and the thread's exit unmaps)
		 * a 256 KiB cache, a cost short-lived threads that record one
		 * event should not pay.  Threads that keep sampling switch to
		 * the cached fast path. */
		unw_context_t ctx;
		unw_cursor_t c;
		t->unwinds++;
		if (lu.getcontext(&ctx) == 0 && lu.init_local(&c, &ctx) == 0) {
			do {
				unw_word_t ip;
				if (lu.get_reg(&c, UNW_REG_IP, &ip) < 0 || ip < CPROF_PC_SYNTHETIC_MAX)
					break;
				buf[n++] = (void *)ip;
			} while (n < CPROF_ARRAY_LEN(buf) && lu.step(&c) > 0);
		}
	} else {
		/* Bounds as in cfi_here: none, no frames. */
		uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
		uintptr_t tmp[CPROF_MAX_DEPTH + 16];
		n = fp_walk(sp, sp, t->stack_hi, tmp, 0, CPROF_ARRAY_LEN(tmp));
		for (unsigned k = 0; k < n; k++)
			buf[k] = (void *)tmp[k];
	}
	gate_leave();
	/* Drop cprof's own frames: the hook and its helpers at the top, the
	 * thread start wrapper at the bottom. */
	for (; i < n && out < max; i++)
		if (!unwind_pc_in_cprof((uintptr_t)buf[i]))
			pcs[out++] = (uintptr_t)buf[i];
	return out;
}

unsigned unwind_here(uintptr_t *pcs, unsigned max)
{
	struct tstate *t = &cprof_tls;

	if (max > CPROF_MAX_DEPTH)
		max = CPROF_MAX_DEPTH;
	if (!gate_enter())
		return 0;
	if (hot.mode == UNWIND_LIBUNWIND && !t->in_loader) {
		/* From the program's call site on (cfi_here passes cprof's
		 * frames at the top), straight into pcs; cprof's thread start
		 * wrapper at the bottom is dropped in place. */
		int r = cfi_here(t, pcs, max);
		if (r >= 0) {
			gate_leave();
			unsigned out = 0;
			for (unsigned k = 0; k < (unsigned)r; k++)
				if (!unwind_pc_in_cprof(pcs[k]))
					pcs[out++] = pcs[k];
			return out;
		}
	}
	return unwind_here_slow(t, pcs, max);
}

/* ---- signal context ------------------------------------------------------- */

unsigned unwind_signal(const ucontext_t *uc, uintptr_t *pcs, unsigned max)
{
	struct tstate *t = &cprof_tls;
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	unsigned n = 0;

	if (max == 0)
		return 0;
	if (max > CPROF_MAX_DEPTH)
		max = CPROF_MAX_DEPTH;
	if (!gate_enter())
		return 0;
	pcs[n++] = pc;
	if (t->in_loader || unwind_pc_in_loader(pc)) {
		/* leaf only: see unwind.h */
	} else if (hot.mode == UNWIND_LIBUNWIND && lu_usable()) {
		unw_cursor_t c;
		if (lu.init_local2(&c, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) == 0) {
			while (n < max && lu.step(&c) > 0) {
				unw_word_t ip;
				if (lu.get_reg(&c, UNW_REG_IP, &ip) < 0 || ip < CPROF_PC_SYNTHETIC_MAX)
					break;
				/* cprof's wrappers in the middle of a stack (the malloc
				 * hook under libc's malloc, the thread start wrapper)
				 * are hidden; a leaf inside cprof is kept: that time
				 * is cprof's and should show. */
				if (!unwind_pc_in_cprof((uintptr_t)ip))
					pcs[n++] = (uintptr_t)ip;
			}
		}
	} else {
		uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
		uintptr_t fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
		if (t->stack_hi && sp >= t->stack_lo && sp < t->stack_hi) {
			unsigned m = fp_walk(fp, sp, t->stack_hi, pcs, n, max);
			for (unsigned i = n; i < m; i++)
				if (!unwind_pc_in_cprof(pcs[i]))
					pcs[n++] = pcs[i];
		}
	}
	gate_leave();
	return n;
}
