/*
 * stackcopy.h - unwinding a copy of another thread's stack.
 *
 * DESIGN
 * The threads profile learns the stack of a thread parked in a blocking
 * call without interrupting it (threadstacks.h): the collector copies the
 * thread's stack above a known stack pointer into its own memory and
 * unwinds the copy here, on the collector's thread, from a known
 * register state (pc, sp, and the frame pointer when it is known).  This
 * is what perf does with the user stacks it samples, done in-process.
 *
 * Two unwinders, as for live stacks (unwind.h):
 *  - libunwind's generic ("remote") API, from libunwind-x86_64.so.8 (part
 *    of Debian's libunwind8 like libunwind.so.8), dlopen'ed RTLD_LOCAL on
 *    first use, with an address space of cprof's own whose accessors are:
 *      access_mem  a word inside the copy comes from the copy; a word
 *                  inside a readable PT_LOAD segment of a loaded object
 *                  (.eh_frame_hdr, .eh_frame, code bytes for libunwind's
 *                  signal-frame and PLT checks) from memory; anything
 *                  else fails.  Writes fail.
 *      access_reg  RIP, RSP and RBP from the register state given (RBP
 *                  may be unknown); every other register fails.
 *      find_proc_info, put_unwind_info, get_dyn_info_list_addr
 *                  the local address space's.  Its find_proc_info finds
 *                  the object with dl_iterate_phdr and reads that object's
 *                  eh_frame_hdr header directly (mapped: the loader lists
 *                  it); the search table and the FDEs are then read
 *                  through the address space it is given, ours, so through
 *                  access_mem.  The dynamic-info list (JIT registrations)
 *                  is read through access_mem too: its head lives in
 *                  libunwind.so's data, nodes on the heap are refused and
 *                  libunwind then falls back to the object's tables.
 *    Parsed unwind tables are cached (UNW_CACHE_GLOBAL); the cache is
 *    flushed whenever the set of loaded objects changed.
 *  - frame pointers (CPROF_UNWIND=fp, or no libunwind-x86_64.so.8): the
 *    chain from the given frame pointer, read from the copy only.
 *
 * Memory safety: nothing but the copy and loaded objects' segments is
 * read, and those only inside the unwind gate (unwind.h), so dlclose and
 * fork wait until the unwind is over; the table of segments is refreshed
 * inside the gate whenever dl_iterate_phdr's counters of added and removed
 * objects moved.
 *
 * Contexts: normal context only, on the thread holding dump_lock (one
 * collector at a time: the segment table and libunwind's address space
 * are its own), guard held (libunwind's allocations and mutexes pass
 * straight through the hooks).
 */
#ifndef CPROF_STACKCOPY_H
#define CPROF_STACKCOPY_H

#include "common.h"

struct stack_copy {
	uintptr_t addr;              /* the thread's address of bytes[0] */
	size_t len;
	const unsigned char *bytes;
};

/*
 * Frames over the copy from the register state (pc, sp, fp).  pc_is_return:
 * pc is a return address into the frame at sp (a published wait frame),
 * else the exact address the thread resumes at (the kernel's view of a
 * thread in a system call).  fp_known false: RBP unknown, the unwind stops
 * where a frame needs it.  pcs[0] = pc; frames inside libcprof are left
 * out.  Returns the number of frames; 0 when the unwind gate is closed.
 */
unsigned stackcopy_unwind(const struct stack_copy *c, uintptr_t pc, bool pc_is_return,
			  uintptr_t sp, uintptr_t fp, bool fp_known, uintptr_t *pcs, unsigned max);

#endif
