/*
 * futex.c - locks built directly on futexes: syscall(SYS_futex, ...).
 *
 * Rust's std::sync::Mutex, RwLock and Condvar (since Rust 1.62), and its
 * thread parking, do not use pthreads: they call the futex system call
 * through libc's syscall().  cprof interposes syscall() itself:
 *
 *  - Every call but SYS_futex goes to the next syscall() (glibc's) by a
 *    three-instruction stub that leaves every argument register and the
 *    stack as the caller set them: the same result, the same errno, and
 *    about a nanosecond added to a system call.
 *
 *  - A private FUTEX_WAIT or FUTEX_WAIT_BITSET is timed, and the time is a
 *    block event at the waiter's stack, as a pthread_cond_wait's is (all
 *    of them: a lock's, a condition variable's, a parked thread's).  One
 *    event per wait in the kernel; a Rust lock call that waits twice (woken,
 *    then beaten to the lock) counts two contentions, with the same total
 *    delay.  The brief spin Rust's locks do before waiting is not seen.
 *
 *  - A private FUTEX_WAKE or FUTEX_WAKE_BITSET is an unlock when threads
 *    wait on that word for a lock: the waker is charged, in the mutex
 *    profile, with the delay those waiters accumulated since the previous
 *    charge (lockprof.c, as for pthread_mutex_unlock), after the wake.
 *
 * Which waits are lock waits: a futex word holds no type, so the value
 * waited on decides (lock_wait below).  2 is a mutex locked with waiters
 * (Drepper's convention, Rust's Mutex); Rust's RwLock readers wait on its
 * state with the write-locked value or a reader count, with waiting bits
 * (-1, which is also a parked thread's value, counts only when the wake
 * is a broadcast, as the RwLock's is).  A condition variable or an
 * RwLock's writer queue waits on a counter, a parked thread on -1: their
 * wakers only notify, like pthread_cond_signal, and are not charged (so a
 * Rust RwLock writer's wait is in the block profile only).
 *
 * Shared (non-private) futexes, other futex operations and everything
 * with the guard held (cprof's own code) or inside a foreign allocator
 * are passed straight through.  cprof's own futex calls do not come here
 * at all (lock.h, cprof_futex).  As for the pthread hooks, the waker's
 * side assumes a normal context.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "lockprof.h"
#include "real.h"
#include "runtime.h"
#include "tstate.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Where the stub sends every other system call: glibc's syscall() once
 * bound (syscall_first binds it). */
long syscall_first(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
	__attribute__((visibility("hidden"), used));
long (*cprof_next_syscall)(long, long, long, long, long, long, long)
	__attribute__((visibility("hidden"), used)) = syscall_first;
long cprof_futex_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
	__attribute__((visibility("hidden"), used));

/*
 * The exported syscall().  The variadic arguments are in rsi, rdx, rcx,
 * r8, r9 and the stack, as for a function of seven long parameters, so
 * both targets are entered by a jump with everything in place.  No frame:
 * the unwinder sees the caller's (the default CFI of an entry point).
 */
__asm__(".text\n"
	".globl syscall\n"
	".type syscall, @function\n"
	".p2align 4\n"
	"syscall:\n"
	".cfi_startproc\n"
#ifdef __CET__
	"	endbr64\n"
#endif
	"	cmpq $" STR(SYS_futex) ", %rdi\n"
	"	je cprof_futex_syscall\n"
	"	jmp *cprof_next_syscall(%rip)\n"
	".cfi_endproc\n"
	".size syscall, .-syscall\n");

long syscall_first(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long (*next)(long, ...) = REAL(syscall);
	/* Keep it only once resolution is final (real_resolve may still put
	 * another interposer's definition in its place). */
	if (real_ready())
		__atomic_store_n(&cprof_next_syscall,
				 (long (*)(long, long, long, long, long, long, long))next, __ATOMIC_RELAXED);
	return next(nr, a1, a2, a3, a4, a5, a6);
}

/* Is a wait for `val` a wait for a lock another thread holds (see the top
 * of the file)?  LOCK_WAIT: any wake of the word is an unlock.
 * LOCK_WAIT_BROADCAST: only a wake of more than one thread is (-1 is both
 * Rust's RwLock write-locked with readers and writers waiting, whose
 * readers are woken all at once, and Rust's parked thread, woken alone by
 * an unpark that unlocks nothing). */
enum { NOT_LOCK_WAIT, LOCK_WAIT, LOCK_WAIT_BROADCAST };

CPROF_INLINE int lock_wait(uint32_t val)
{
	if (val == 2)
		return LOCK_WAIT;       /* mutex: locked, with waiters */
	if (val == 0x7fffffffu)
		return LOCK_WAIT;       /* Rust RwLock: write-locked, readers waiting */
	if (val == 0xffffffffu)
		return LOCK_WAIT_BROADCAST; /* ... and writers waiting, or a parked thread */
	/* Rust RwLock: n readers hold it, readers wait behind waiting writers. */
	if ((val >> 30) == 3 && (val & 0x3fffffffu) != 0 && (val & 0x3fffffffu) < 0x10000)
		return LOCK_WAIT;
	return NOT_LOCK_WAIT;
}

/* The side-table key of a wait: the word's address, tagged in its low bit
 * (futex words are 4-byte aligned) for waits only a broadcast unlocks. */
CPROF_INLINE const void *wait_key(long word, int kind)
{
	return (const void *)(word | (kind == LOCK_WAIT_BROADCAST));
}

CPROF_INLINE bool program_context(void)
{
	return (cprof_tls.guard | cprof_tls.in_alloc) == 0;
}

/* A private wait, timed (a block event; a lock wait also registers for
 * the mutex profile). */
CPROF_NOINLINE static long futex_wait_timed(long nr, long a1, long a2, long a3, long a4, long a5,
					    long a6)
{
	long (*next)(long, ...) = REAL(syscall);
	int kind = atomic_load_explicit(&lockprof_mutex_on, memory_order_relaxed)
			   ? lock_wait((uint32_t)a3)
			   : NOT_LOCK_WAIT;
	const void *key = wait_key(a1, kind);
	int saved = errno;
	int64_t t0 = lockprof_wait_begin(key, kind != NOT_LOCK_WAIT);
	errno = saved;
	long r = next(nr, a1, a2, a3, a4, a5, a6);
	saved = errno;
	lockprof_wait_end(key, kind != NOT_LOCK_WAIT, t0);
	errno = saved;
	return r;
}

/* A private wake of a word the waiter filter says may have lock waiters:
 * charge the waker if some wait on it. */
CPROF_NOINLINE static long futex_wake_charged(long nr, long a1, long a2, long a3, long a4, long a5,
					      long a6)
{
	long (*next)(long, ...) = REAL(syscall);
	int saved = errno;
	int64_t delay = lockprof_release_begin((const void *)a1);
	if ((int)a3 > 1)
		delay += lockprof_release_begin(wait_key(a1, LOCK_WAIT_BROADCAST));
	errno = saved;
	long r = next(nr, a1, a2, a3, a4, a5, a6);
	if (delay && r >= 0) {
		saved = errno;
		lockprof_charge(delay);
		errno = saved;
	}
	return r;
}

/* Entered from the stub for SYS_futex only.  Its pass-through path, taken
 * by every futex call that is not profiled (a wake with no lock waiter
 * registered on its word, shared futexes, other operations, cprof's own
 * code), touches no stack and ends in a jump to the real syscall(). */
long cprof_futex_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	int op = (int)a2;
	int cmd = op & FUTEX_CMD_MASK;

	if ((op & FUTEX_PRIVATE_FLAG) && program_context()) {
		if (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET) {
			if (atomic_load_explicit(&lockprof_block_on, memory_order_relaxed) ||
			    atomic_load_explicit(&lockprof_mutex_on, memory_order_relaxed))
				return futex_wait_timed(nr, a1, a2, a3, a4, a5, a6);
		} else if (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET) {
			if ((lockprof_maybe_waited((const void *)a1) ||
			     ((int)a3 > 1 && lockprof_maybe_waited(wait_key(a1, LOCK_WAIT_BROADCAST)))) &&
			    atomic_load_explicit(&lockprof_mutex_on, memory_order_relaxed))
				return futex_wake_charged(nr, a1, a2, a3, a4, a5, a6);
		}
	}
	return cprof_next_syscall(nr, a1, a2, a3, a4, a5, a6);
}
