/*
 * stackcopy.c - unwinding a copy of another thread's stack (see
 * stackcopy.h for the design).
 *
 * Invariants:
 *  - Everything here belongs to the one collector holding dump_lock: the
 *    segment table, the libunwind address space, the load state.
 *  - segs[] is only trusted inside the unwind gate, and refreshed inside
 *    the gate before use; access_mem never dereferences an address that is
 *    not inside the copy or a listed segment.
 */
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <string.h>

#include <libunwind.h>

#include "stackcopy.h"
#include "arena.h"
#include "config.h"
#include "log.h"
#include "unwind.h"

/* ---- loaded objects' readable segments ------------------------------------- */

#define MAX_SEGS 8192
#define PAGE 4096UL

struct seg {
	uintptr_t lo, hi;
};

static struct seg *segs;
static size_t nsegs;
static bool segs_valid;
static unsigned long long seen_adds, seen_subs;

struct seg_scan {
	bool started, unchanged;
};

static int seg_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct seg_scan *s = arg;
	if (!s->started) {
		s->started = true;
		bool counters = size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs);
		if (counters && segs_valid && info->dlpi_adds == seen_adds && info->dlpi_subs == seen_subs) {
			s->unchanged = true;
			return 1;
		}
		seen_adds = counters ? info->dlpi_adds : 0;
		seen_subs = counters ? info->dlpi_subs : 0;
		segs_valid = counters; /* without counters: rebuild every time */
		nsegs = 0;
	}
	for (int i = 0; i < info->dlpi_phnum && nsegs < MAX_SEGS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_R) || !ph->p_memsz)
			continue;
		/* The loader maps whole pages with the segment's protection. */
		uintptr_t lo = (info->dlpi_addr + ph->p_vaddr) & ~(PAGE - 1);
		uintptr_t hi = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + PAGE - 1) & ~(PAGE - 1);
		segs[nsegs].lo = lo;
		segs[nsegs].hi = hi;
		nsegs++;
	}
	return 0;
}

/* Inside the gate.  Returns true when the set of objects changed. */
static bool segs_refresh(void)
{
	struct seg_scan s = {0};
	if (!segs) {
		segs = pages_alloc(MAX_SEGS * sizeof(*segs));
		if (!segs)
			return false;
	}
	dl_iterate_phdr(seg_cb, &s);
	if (s.unchanged || !s.started)
		return false;
	/* Insertion sort by lo: a few hundred entries, rebuilt rarely. */
	for (size_t i = 1; i < nsegs; i++) {
		struct seg t = segs[i];
		size_t j = i;
		for (; j > 0 && segs[j - 1].lo > t.lo; j--)
			segs[j] = segs[j - 1];
		segs[j] = t;
	}
	return true;
}

static bool in_segment(uintptr_t addr, size_t len)
{
	size_t lo = 0, hi = nsegs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (segs[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* segs[lo - 1] is the last segment starting at or below addr;
	 * segments can overlap (shared pages), so look back a little. */
	for (size_t k = lo; k > 0 && lo - k < 4; k--)
		if (addr >= segs[k - 1].lo && addr + len <= segs[k - 1].hi && addr + len > addr)
			return true;
	return false;
}

/* ---- libunwind's generic API ------------------------------------------------ */

static struct {
	unw_addr_space_t (*create_addr_space)(unw_accessors_t *, int);
	unw_accessors_t *(*get_accessors)(unw_addr_space_t);
	int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t);
	void (*flush_cache)(unw_addr_space_t, unw_word_t, unw_word_t);
	int (*init_remote)(unw_cursor_t *, unw_addr_space_t, void *);
	int (*step)(unw_cursor_t *);
	int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
} ur;

static unw_addr_space_t as;
static unw_accessors_t local_acc;
static int load_state; /* 0 not tried, 1 loaded, -1 unavailable */
static atomic_int load_fail_said;

struct regs {
	const struct stack_copy *c;
	uintptr_t ip, sp, fp;
	bool fp_known;
};

static int acc_mem(unw_addr_space_t a, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	const struct regs *r = arg;
	const struct stack_copy *c = r->c;
	(void)a;
	if (write)
		return -UNW_EINVAL;
	if (addr >= c->addr && addr - c->addr <= c->len && c->len - (addr - c->addr) >= sizeof(*val)) {
		memcpy(val, c->bytes + (addr - c->addr), sizeof(*val));
		return 0;
	}
	if (in_segment(addr, sizeof(*val))) {
		memcpy(val, (const void *)addr, sizeof(*val));
		return 0;
	}
	return -UNW_EINVAL;
}

static int acc_reg(unw_addr_space_t a, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
	const struct regs *r = arg;
	(void)a;
	if (write)
		return -UNW_EINVAL;
	switch (reg) {
	case UNW_X86_64_RIP: *val = r->ip; return 0;
	case UNW_X86_64_RSP: *val = r->sp; return 0;
	case UNW_X86_64_RBP:
		if (!r->fp_known)
			return -UNW_EBADREG;
		*val = r->fp;
		return 0;
	default: return -UNW_EBADREG;
	}
}

static int acc_fpreg(unw_addr_space_t a, unw_regnum_t reg, unw_fpreg_t *val, int write, void *arg)
{
	return -UNW_EBADREG;
}

static int acc_resume(unw_addr_space_t a, unw_cursor_t *c, void *arg)
{
	return -UNW_EINVAL;
}

static int acc_find_proc_info(unw_addr_space_t a, unw_word_t ip, unw_proc_info_t *pi, int need,
			      void *arg)
{
	return local_acc.find_proc_info(a, ip, pi, need, arg);
}

static void acc_put_unwind_info(unw_addr_space_t a, unw_proc_info_t *pi, void *arg)
{
	if (local_acc.put_unwind_info)
		local_acc.put_unwind_info(a, pi, arg);
}

static int acc_dyn_list(unw_addr_space_t a, unw_word_t *addr, void *arg)
{
	if (!local_acc.get_dyn_info_list_addr)
		return -UNW_ENOINFO;
	return local_acc.get_dyn_info_list_addr(a, addr, arg);
}

static bool load(void)
{
	if (load_state)
		return load_state > 0;
	load_state = -1;
	void *h = dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_LOCAL);
	if (h) {
		ur.create_addr_space = (unw_addr_space_t(*)(unw_accessors_t *, int))dlsym(h, "_Ux86_64_create_addr_space");
		ur.get_accessors = (unw_accessors_t * (*)(unw_addr_space_t)) dlsym(h, "_Ux86_64_get_accessors");
		ur.set_caching_policy = (int (*)(unw_addr_space_t, unw_caching_policy_t))dlsym(h, "_Ux86_64_set_caching_policy");
		ur.flush_cache = (void (*)(unw_addr_space_t, unw_word_t, unw_word_t))dlsym(h, "_Ux86_64_flush_cache");
		ur.init_remote = (int (*)(unw_cursor_t *, unw_addr_space_t, void *))dlsym(h, "_Ux86_64_init_remote");
		ur.step = (int (*)(unw_cursor_t *))dlsym(h, "_Ux86_64_step");
		ur.get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, "_Ux86_64_get_reg");
		unw_addr_space_t *local = (unw_addr_space_t *)dlsym(h, "_Ux86_64_local_addr_space");
		unw_accessors_t *la = NULL;
		if (ur.create_addr_space && ur.get_accessors && ur.set_caching_policy && ur.flush_cache &&
		    ur.init_remote && ur.step && ur.get_reg && local && *local)
			la = ur.get_accessors(*local);
		if (la && la->find_proc_info) {
			local_acc = *la;
			unw_accessors_t acc = {
				.find_proc_info = acc_find_proc_info,
				.put_unwind_info = acc_put_unwind_info,
				.get_dyn_info_list_addr = acc_dyn_list,
				.access_mem = acc_mem,
				.access_reg = acc_reg,
				.access_fpreg = acc_fpreg,
				.resume = acc_resume,
				.get_proc_name = NULL,
			};
			as = ur.create_addr_space(&acc, 0);
			if (as) {
				ur.set_caching_policy(as, UNW_CACHE_GLOBAL);
				load_state = 1;
			}
		}
	}
	if (load_state < 0)
		cprof_warn_once(&load_fail_said,
				"libunwind-x86_64.so.8 could not be loaded (install libunwind8); the stacks "
				"of threads parked in blocking calls are walked by frame pointers");
	return load_state > 0;
}

/* ---- the two walks ---------------------------------------------------------- */

static bool copy_word(const struct stack_copy *c, uintptr_t addr, uintptr_t *val)
{
	if (addr < c->addr || addr - c->addr > c->len || c->len - (addr - c->addr) < sizeof(*val))
		return false;
	memcpy(val, c->bytes + (addr - c->addr), sizeof(*val));
	return true;
}

static unsigned keep(uintptr_t *pcs, unsigned n, uintptr_t pc)
{
	if (!unwind_pc_in_cprof(pc))
		pcs[n++] = pc;
	return n;
}

/* Frame records [fp] = caller's fp, [fp + 8] = return address, read from
 * the copy only, fp strictly increasing. */
static unsigned fp_walk(const struct stack_copy *c, uintptr_t fp, uintptr_t *pcs, unsigned n,
			unsigned max)
{
	while (n < max) {
		uintptr_t next, ret;
		if ((fp & 7) || !copy_word(c, fp, &next) || !copy_word(c, fp + 8, &ret))
			break;
		if (ret < CPROF_PC_SYNTHETIC_MAX)
			break;
		n = keep(pcs, n, ret);
		if (next <= fp)
			break;
		fp = next;
	}
	return n;
}

static unsigned lu_walk(const struct stack_copy *c, struct regs *r, uintptr_t *pcs, unsigned n,
			unsigned max)
{
	unw_cursor_t cur;
	if (ur.init_remote(&cur, as, r) < 0)
		return n;
	while (n < max && ur.step(&cur) > 0) {
		unw_word_t ip;
		if (ur.get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip < CPROF_PC_SYNTHETIC_MAX)
			break;
		n = keep(pcs, n, (uintptr_t)ip);
	}
	return n;
}

unsigned stackcopy_unwind(const struct stack_copy *c, uintptr_t pc, bool pc_is_return,
			  uintptr_t sp, uintptr_t fp, bool fp_known, uintptr_t *pcs, unsigned max)
{
	unsigned n = 0;
	if (max > CPROF_MAX_DEPTH)
		max = CPROF_MAX_DEPTH;
	if (!max)
		return 0;
	bool lu = unwind_mode() == UNWIND_LIBUNWIND && load();
	if (!unwind_gate_enter())
		return 0;
	n = keep(pcs, n, pc);
	if (lu) {
		if (segs_refresh())
			ur.flush_cache(as, 0, 0);
		/* A return address is looked up one byte back, inside the call
		 * (the call may be the last instruction of its function). */
		struct regs r = {.c = c, .ip = pc_is_return ? pc - 1 : pc, .sp = sp, .fp = fp,
				 .fp_known = fp_known};
		n = lu_walk(c, &r, pcs, n, max);
	} else if (fp_known) {
		n = fp_walk(c, fp, pcs, n, max);
	}
	unwind_gate_leave();
	return n;
}
