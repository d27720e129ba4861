/*
 * cfi.h - walking the program's frames with the call-frame information of
 * the loaded objects (.eh_frame), one cached rule per return address.
 *
 * DESIGN
 * Why: a heap sample spent two thirds of its instructions in libunwind's
 * unw_backtrace (about 1,400 of 2,850, callgrind, bench/progs/malloc_mix),
 * about 90 per frame, most of it on cprof's own frames, through a cache
 * of 256 KiB per thread whose lines the program evicts between samples.
 * At a call site of x86-64 code the frame rule is, in all but a few
 * functions, one of CFA = rsp + k or CFA = rbp + k, the return address at
 * CFA - 8, rbp unchanged or saved at CFA + j: two loads per frame once the
 * rule is known.  This file knows that rule for each return address and
 * applies it; anything else is left to libunwind, whole.
 *
 * Rules: a 64-bit word (kind; CFA from rsp or rbp and its offset; rbp
 * unchanged or saved at an offset from the CFA).  Kinds: a frame; the end
 * of the stack (the return address is undefined: _start, clone); and "not
 * simple": CFA or register expressions, signal frames, a return address
 * anywhere but CFA - 8, no unwind information.  Rules are interned in a
 * small table and never change once published.
 *
 * Cache: CFI_LINES lines of CFI_WAYS entries, one line per address hash;
 * an entry is one atomic word, pc << 17 | rule id (user-space addresses on
 * x86-64 are below 2^47).  Readers take no lock: an entry is stored with
 * release after its rule, so a reader that finds the address finds its
 * rule.  Writers are the sampling threads after a miss: a CAS into the
 * line's first empty way, or, the line full, a store over one way.
 * Entries are never half-written and a rule for an address never changes
 * while its object stays mapped: cfi_forget() empties the cache when an
 * object is unmapped (dlclose), with the unwind gate closed, so no walker
 * is running.  The cache is shared by every thread: 64 KiB for the
 * process, warm for a new thread.
 *
 * Miss: dl_iterate_phdr finds the object holding the address and its
 * .eh_frame_hdr, whose sorted table gives the FDE; the CIE's and the FDE's
 * instructions run up to the address.  Every read of unwind data stays in
 * the loadable segment that holds .eh_frame_hdr, and happens inside the
 * loader's callback, with the object mapped.
 *
 * Walk: reads only 8-byte words inside [sp, hi), the stack pointer
 * strictly increasing, so it cannot fault or loop.  Returns -1 (the caller
 * walks with libunwind instead) at a frame that is not simple or does not
 * follow those bounds, so a stack is either walked exactly as libunwind
 * walks it or not at all.
 *
 * Contexts: normal context only, inside the unwind gate, never inside the
 * dynamic loader (a miss calls dl_iterate_phdr).  Not async-signal-safe.
 */
#ifndef CPROF_CFI_H
#define CPROF_CFI_H

#include <stdint.h>

/* Frames from the one whose return address is pc (sp: its stack pointer
 * after the return, bp: its rbp), up to max return addresses into pcs,
 * reading the stack only below hi.  The number of addresses, or -1 when
 * some frame needs a general unwinder. */
int cfi_walk(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t hi, uintptr_t *pcs,
	     unsigned max);

/* Empties the cache: an object was unmapped.  Only with no walker running
 * (the unwind gate closed). */
void cfi_forget(void);

#endif
