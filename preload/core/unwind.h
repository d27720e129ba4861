/*
 * unwind.h - capturing call stacks, from normal code and from signal
 * handlers.
 *
 * DESIGN
 * Two unwinders (CPROF_UNWIND):
 *  - libunwind (default): DWARF CFI, correct for code built without frame
 *    pointers (all of Debian).  libunwind.so.8 is dlopen'ed RTLD_LOCAL at
 *    init so that its _Unwind_* and backtrace() exports never enter the
 *    global scope: linked normally it would take over the program's C++
 *    exception unwinding.
 *  - fp: a frame-pointer walk checked against the thread's stack bounds;
 *    fast, reads nothing outside the stack, but loses frames in code built
 *    with -fomit-frame-pointer.
 *
 * Contexts:
 *  - unwind_here(): normal context (malloc and lock hooks).  In the
 *    default mode, first the CFI walker (cfi.h): cprof's own frames by
 *    their frame-pointer chain, then one cached rule per return address,
 *    reading only inside the thread's stack bounds (the main thread's are
 *    found at start-up, other threads' at their first unwind).  A stack it
 *    cannot walk whole goes to unw_backtrace, whose per-thread cache lives
 *    in libunwind's dynamic TLS (first touch allocates through the hooks,
 *    harmless here).
 *  - unwind_signal(): async-signal-safe.  Uses only unw_init_local2 and
 *    unw_step (no TLS, no allocation; libunwind's global cache lock is
 *    taken with all signals blocked, so it cannot be held by the thread the
 *    handler interrupted).  Never runs libunwind when the interrupted thread
 *    is inside the dynamic loader (PC in ld.so or inside dl_iterate_phdr):
 *    libunwind calls dl_iterate_phdr, and waiting for the loader's lock
 *    there could invert the lock order with another thread.  Such samples
 *    keep their exact leaf PC only.
 *
 * libunwind's own pipe (its address check) is verified before every use
 * and libunwind dropped for good once the program has taken its
 * descriptors (unwind.c, "libunwind's pipe").
 *
 * The unwind gate: fork and dlclose must not run while some thread is in
 * the middle of libunwind (a child would inherit its locks held; an unwind
 * could read an unmapped object).  Unwinders enter the gate (one atomic
 * increment); closers set `closed` and wait, with sched_yield, for the
 * active count to drain.  An unwinder that finds the gate closed returns no
 * frames and the caller records the synthetic "cprof_stack_unavailable".
 * A closer holds no cprof lock while it waits (fork's handler closes the
 * gate before it takes every lock): a thread inside the gate may need one
 * to get out (pthread_getattr_np's buffer and libunwind's first TLS block
 * come from the boot pool, which marks the heap filter under its shard's
 * lock).  The witness checks it.
 */
#ifndef CPROF_UNWIND_H
#define CPROF_UNWIND_H

#include <ucontext.h>
#include "common.h"

int unwind_init(int mode);
int unwind_mode(void);

/* Frames of the calling thread, starting with the first frame outside
 * libcprof (the program's call site).  Every entry is a return address. */
unsigned unwind_here(uintptr_t *pcs, unsigned max);

/* Frames of the interrupted context; pcs[0] is the exact interrupted PC.
 * Async-signal-safe.  Returns 0 when the gate is closed. */
unsigned unwind_signal(const ucontext_t *uc, uintptr_t *pcs, unsigned max);

bool unwind_pc_in_cprof(uintptr_t pc);
bool unwind_pc_in_loader(uintptr_t pc);

void unwind_gate_close(void);
void unwind_gate_open(void);
/* Between unwind_gate_close and _open, after an object was unmapped: the
 * walkers forget what they cached about its code. */
void unwind_objects_unmapped(void);
/* For other unwinders (stackcopy.c): false when the gate is closed. */
bool unwind_gate_enter(void);
void unwind_gate_leave(void);
void unwind_fork_child(void);

#endif
