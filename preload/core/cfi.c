/*
 * cfi.c - the frame-rule cache and the walk (see cfi.h for the design and
 * contexts).
 *
 * Invariants:
 *  - rules[i] is written once, before any cache entry names i (release),
 *    and never changes; rules 0 and 1 are "not simple" and "end", so a
 *    full rule table still caches an answer.
 *  - A cache line's ways fill in order (a CAS into the first empty way):
 *    an empty way ends the search.
 *  - cfi_forget runs with no walker running (unwind gate closed).
 */
#include <elf.h>
#include <link.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "cfi.h"

#define CFI_LINES 1024
#define CFI_WAYS 8
#define CFI_RULES 4096
#define PC_BITS 47
#define ID_BITS 17

/* Rule word: bits 0-1 kind, bit 2 CFA from rbp (else rsp), bit 3 rbp
 * saved, bits 16-31 rbp's offset from the CFA, bits 32-63 the CFA's
 * offset from its register (both signed). */
enum { KIND_NONE, KIND_FRAME, KIND_END, KIND_HARD };
#define RULE_CFA_BP (1u << 2)
#define RULE_BP_SAVED (1u << 3)
#define RULE_HARD ((uint64_t)KIND_HARD)
#define RULE_END ((uint64_t)KIND_END)

static struct {
	_Alignas(64) _Atomic uint64_t e[CFI_WAYS];
} cache[CFI_LINES];

static _Atomic uint64_t rules[CFI_RULES] = {RULE_HARD, RULE_END};
static atomic_uint n_rules = 2;

static inline uint64_t pc_hash(uintptr_t pc)
{
	return (uint64_t)pc * 0x9E3779B97F4A7C15ull;
}

static inline bool cached(uintptr_t pc, uint64_t *rule)
{
	uint64_t h = pc_hash(pc);
	_Atomic uint64_t *line = cache[h >> (64 - 10)].e;
	for (int w = 0; w < CFI_WAYS; w++) {
		uint64_t e = atomic_load_explicit(&line[w], memory_order_acquire);
		if (e >> ID_BITS == pc) {
			*rule = atomic_load_explicit(&rules[e & ((1u << ID_BITS) - 1)],
						     memory_order_relaxed);
			return true;
		}
		if (!e)
			break;
	}
	return false;
}

static unsigned rule_id(uint64_t rule)
{
	unsigned n = atomic_load_explicit(&n_rules, memory_order_acquire);
	if (n > CFI_RULES)
		n = CFI_RULES;
	for (unsigned i = 0; i < n; i++)
		if (atomic_load_explicit(&rules[i], memory_order_relaxed) == rule)
			return i;
	unsigned i = atomic_fetch_add_explicit(&n_rules, 1, memory_order_relaxed);
	if (i >= CFI_RULES)
		return 0; /* full: the walk leaves such frames to libunwind */
	atomic_store_explicit(&rules[i], rule, memory_order_relaxed);
	return i;
}

static void remember(uintptr_t pc, unsigned id)
{
	uint64_t h = pc_hash(pc);
	_Atomic uint64_t *line = cache[h >> (64 - 10)].e;
	uint64_t e = (uint64_t)pc << ID_BITS | id;
	for (int w = 0; w < CFI_WAYS; w++) {
		uint64_t cur = 0;
		if (atomic_compare_exchange_strong_explicit(&line[w], &cur, e, memory_order_release,
							    memory_order_relaxed))
			return;
		if (cur >> ID_BITS == pc)
			return;
	}
	atomic_store_explicit(&line[(h >> 20) % CFI_WAYS], e, memory_order_release);
}

void cfi_forget(void)
{
	for (int l = 0; l < CFI_LINES; l++)
		for (int w = 0; w < CFI_WAYS; w++)
			atomic_store_explicit(&cache[l].e[w], 0, memory_order_relaxed);
}

/* ---- reading unwind data ----------------------------------------------------- */

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static uint8_t u8(struct rd *r)
{
	if (r->p >= r->end) {
		r->bad = true;
		return 0;
	}
	return *r->p++;
}

static uint64_t fixed(struct rd *r, unsigned n)
{
	uint64_t v = 0;
	if ((size_t)(r->end - r->p) < n) {
		r->bad = true;
		r->p = r->end;
		return 0;
	}
	memcpy(&v, r->p, n); /* little-endian */
	r->p += n;
	return v;
}

/* LEB128, unsigned or sign-extended. */
static uint64_t leb(struct rd *r, bool is_signed)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b;
	do {
		b = u8(r);
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
	} while ((b & 0x80) && !r->bad);
	if (is_signed && shift < 64 && (b & 0x40))
		v |= ~0ull << shift;
	return v;
}

static uint64_t uleb(struct rd *r)
{
	return leb(r, false);
}

static int64_t sleb(struct rd *r)
{
	return (int64_t)leb(r, true);
}

static void skip(struct rd *r, uint64_t n)
{
	if (n > (size_t)(r->end - r->p)) {
		r->bad = true;
		r->p = r->end;
		return;
	}
	r->p += n;
}

/* A DW_EH_PE-encoded value.  Relative to the reader's position (pcrel) or
 * to `datarel`; indirect values only when `value_used` is false (the
 * personality routine, skipped). */
static uint64_t encoded(struct rd *r, uint8_t enc, uintptr_t datarel, bool value_used)
{
	uintptr_t here = (uintptr_t)r->p;
	uint64_t v;
	switch (enc & 0x0f) {
	case 0x00: v = fixed(r, 8); break;                      /* absptr */
	case 0x01: v = uleb(r); break;                          /* uleb128 */
	case 0x02: v = fixed(r, 2); break;                      /* udata2 */
	case 0x03: v = fixed(r, 4); break;                      /* udata4 */
	case 0x04: v = fixed(r, 8); break;                      /* udata8 */
	case 0x09: v = (uint64_t)sleb(r); break;                /* sleb128 */
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)fixed(r, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)fixed(r, 4); break;
	case 0x0c: v = fixed(r, 8); break;
	default:
		r->bad = true;
		return 0;
	}
	if (!value_used)
		return 0;
	switch (enc & 0x70) {
	case 0x00:
		break;
	case 0x10:
		v += here;
		break;
	case 0x30:
		if (!datarel)
			r->bad = true;
		v += datarel;
		break;
	default:
		r->bad = true;
	}
	if (enc & 0x80)
		r->bad = true;
	return v;
}

/* ---- the CFA program ------------------------------------------------------------ */

enum { REG_SAME, REG_UNDEF, REG_OFFSET, REG_OTHER };

struct reg_rule {
	uint8_t how;
	int64_t off;
};

struct cfa_state {
	uint64_t cfa_reg;
	int64_t cfa_off;
	bool cfa_expr;
	struct reg_rule bp, sp, ra; /* DWARF registers 6, 7 and 16 */
};

struct cie {
	uint64_t code_align;
	int64_t data_align;
	uint8_t fde_enc;
	bool has_aug;
	const uint8_t *insn, *insn_end;
};

#define STATE_STACK 8

struct run {
	const struct cie *cie;
	const struct cfa_state *init; /* after the CIE's instructions; NULL while running them */
	uint64_t loc, target;
	struct cfa_state s;
	struct cfa_state saved[STATE_STACK];
	int depth;
};

static struct reg_rule *reg_of(struct cfa_state *s, uint64_t reg, struct reg_rule *other)
{
	switch (reg) {
	case 6: return &s->bp;
	case 7: return &s->sp;
	case 16: return &s->ra;
	default: return other;
	}
}

static bool set_reg(struct run *x, uint64_t reg, uint8_t how, int64_t off)
{
	struct reg_rule other, *rr = reg_of(&x->s, reg, &other);
	rr->how = how;
	rr->off = off;
	return true;
}

static bool restore_reg(struct run *x, uint64_t reg)
{
	if (!x->init)
		return false;
	struct reg_rule other, *rr = reg_of(&x->s, reg, &other);
	if (rr != &other)
		*rr = *reg_of((struct cfa_state *)x->init, reg, &other);
	return true;
}

/* Runs instructions until the end or until the location passes the
 * target.  False on an instruction this walker does not follow. */
static bool run_insns(struct run *x, struct rd *r)
{
	const struct cie *c = x->cie;
	while (r->p < r->end && !r->bad) {
		uint8_t op = u8(r);
		uint64_t reg, delta = 0;
		bool advance = false;
		switch (op >> 6) {
		case 1:
			delta = op & 0x3f;
			advance = true;
			break;
		case 2:
			set_reg(x, op & 0x3f, REG_OFFSET, (int64_t)uleb(r) * c->data_align);
			continue;
		case 3:
			if (!restore_reg(x, op & 0x3f))
				return false;
			continue;
		default:
			break;
		}
		if (!advance) {
			switch (op) {
			case 0x00: /* nop */
				break;
			case 0x01: /* set_loc */
				x->loc = encoded(r, c->fde_enc, 0, true);
				if (x->loc > x->target)
					return !r->bad;
				break;
			case 0x02: delta = fixed(r, 1); advance = true; break;
			case 0x03: delta = fixed(r, 2); advance = true; break;
			case 0x04: delta = fixed(r, 4); advance = true; break;
			case 0x05: /* offset_extended */
				reg = uleb(r);
				set_reg(x, reg, REG_OFFSET, (int64_t)uleb(r) * c->data_align);
				break;
			case 0x06: /* restore_extended */
				if (!restore_reg(x, uleb(r)))
					return false;
				break;
			case 0x07: set_reg(x, uleb(r), REG_UNDEF, 0); break;
			case 0x08: set_reg(x, uleb(r), REG_SAME, 0); break;
			case 0x09: /* register */
				reg = uleb(r);
				(void)uleb(r);
				set_reg(x, reg, REG_OTHER, 0);
				break;
			case 0x0a: /* remember_state: every rule, the CFA's too */
				if (x->depth == STATE_STACK)
					return false;
				x->saved[x->depth++] = x->s;
				break;
			case 0x0b: /* restore_state */
				if (x->depth == 0)
					return false;
				x->s = x->saved[--x->depth];
				break;
			case 0x0c: /* def_cfa */
				x->s.cfa_reg = uleb(r);
				x->s.cfa_off = (int64_t)uleb(r);
				x->s.cfa_expr = false;
				break;
			case 0x0d: x->s.cfa_reg = uleb(r); break;
			case 0x0e: x->s.cfa_off = (int64_t)uleb(r); break;
			case 0x0f: /* def_cfa_expression */
				skip(r, uleb(r));
				x->s.cfa_expr = true;
				break;
			case 0x11: /* offset_extended_sf */
				reg = uleb(r);
				set_reg(x, reg, REG_OFFSET, sleb(r) * c->data_align);
				break;
			case 0x12: /* def_cfa_sf */
				x->s.cfa_reg = uleb(r);
				x->s.cfa_off = sleb(r) * c->data_align;
				x->s.cfa_expr = false;
				break;
			case 0x13: x->s.cfa_off = sleb(r) * c->data_align; break;
			case 0x14: /* val_offset */
			case 0x15: /* val_offset_sf: a LEB128 either way, skipped alike */
				reg = uleb(r);
				(void)uleb(r);
				set_reg(x, reg, REG_OTHER, 0);
				break;
			case 0x10: /* expression */
			case 0x16: /* val_expression */
				reg = uleb(r);
				skip(r, uleb(r));
				set_reg(x, reg, REG_OTHER, 0);
				break;
			case 0x2e: /* GNU_args_size: for landing pads only */
				(void)uleb(r);
				break;
			case 0x2f: /* GNU_negative_offset_extended */
				reg = uleb(r);
				set_reg(x, reg, REG_OFFSET, -((int64_t)uleb(r) * c->data_align));
				break;
			default:
				return false;
			}
		}
		if (advance) {
			x->loc += delta * c->code_align;
			if (x->loc > x->target)
				return !r->bad;
		}
	}
	return !r->bad;
}

/* A reader over the CIE or FDE at p (its 32-bit length read, the reader
 * ending with the record), if the record lies inside [lo, hi).  64-bit
 * records are not followed. */
static bool open_record(struct rd *r, const uint8_t *p, const uint8_t *lo, const uint8_t *hi)
{
	if (p < lo || p >= hi)
		return false;
	*r = (struct rd){p, hi, false};
	uint64_t len = fixed(r, 4);
	if (r->bad || len == 0 || len >= 0xfffffff0u || len > (size_t)(hi - r->p))
		return false;
	r->end = r->p + len;
	return true;
}

/* The CIE at p, inside [lo, hi). */
static bool read_cie(const uint8_t *p, const uint8_t *lo, const uint8_t *hi, struct cie *c)
{
	struct rd r;
	if (!open_record(&r, p, lo, hi))
		return false;
	if (fixed(&r, 4) != 0)
		return false;
	uint8_t version = u8(&r);
	if (version != 1 && version != 3)
		return false;
	char aug[8];
	size_t naug = 0;
	for (;;) {
		uint8_t ch = u8(&r);
		if (r.bad)
			return false;
		if (!ch)
			break;
		if (naug == sizeof(aug))
			return false;
		aug[naug++] = (char)ch;
	}
	if (naug && aug[0] != 'z')
		return false;
	c->code_align = uleb(&r);
	c->data_align = sleb(&r);
	uint64_t ra = version == 1 ? u8(&r) : uleb(&r);
	if (ra != 16)
		return false;
	c->fde_enc = 0;
	c->has_aug = naug > 0;
	if (c->has_aug) {
		uint64_t alen = uleb(&r);
		if (r.bad || alen > (size_t)(r.end - r.p))
			return false;
		struct rd a = {r.p, r.p + alen, false};
		for (size_t i = 1; i < naug; i++) {
			switch (aug[i]) {
			case 'R': c->fde_enc = u8(&a); break;
			case 'L': (void)u8(&a); break;
			case 'P': {
				uint8_t enc = u8(&a);
				(void)encoded(&a, enc, 0, false);
				break;
			}
			default: /* 'S' (a signal frame) and anything unknown */
				return false;
			}
		}
		if (a.bad)
			return false;
		r.p += alen;
	}
	c->insn = r.p;
	c->insn_end = r.end;
	return !r.bad;
}

/* The rule at target (a return address minus one) from the FDE at fde,
 * unwind data in [lo, hi). */
static uint64_t rule_from_fde(const uint8_t *fde, const uint8_t *lo, const uint8_t *hi, uint64_t target)
{
	struct rd r;
	if (!open_record(&r, fde, lo, hi))
		return RULE_HARD;
	const uint8_t *id_at = r.p;
	uint64_t cie_off = fixed(&r, 4);
	if (!cie_off || cie_off > (uintptr_t)id_at)
		return RULE_HARD;
	struct cie c;
	if (!read_cie(id_at - cie_off, lo, hi, &c))
		return RULE_HARD;
	uint64_t begin = encoded(&r, c.fde_enc, 0, true);
	uint64_t range = encoded(&r, c.fde_enc & 0x0f, 0, true);
	if (r.bad || target < begin || target - begin >= range)
		return RULE_HARD; /* no FDE covers the address */
	if (c.has_aug)
		skip(&r, uleb(&r));
	if (r.bad)
		return RULE_HARD;

	struct run x = {.cie = &c, .loc = begin, .target = UINT64_MAX};
	x.s.cfa_reg = UINT64_MAX;
	x.s.ra.how = REG_UNDEF;
	struct rd ci = {c.insn, c.insn_end, false};
	if (!run_insns(&x, &ci))
		return RULE_HARD;
	struct cfa_state init = x.s;
	x.init = &init;
	x.depth = 0;
	x.loc = begin;
	x.target = target;
	if (!run_insns(&x, &r))
		return RULE_HARD;

	const struct cfa_state *s = &x.s;
	if (s->ra.how == REG_UNDEF)
		return RULE_END;
	if (s->cfa_expr || (s->cfa_reg != 6 && s->cfa_reg != 7) || s->sp.how != REG_SAME ||
	    s->ra.how != REG_OFFSET || s->ra.off != -8 || s->cfa_off < INT32_MIN ||
	    s->cfa_off > INT32_MAX || (s->cfa_reg == 7 && s->cfa_off < 8))
		return RULE_HARD;
	uint64_t rule = KIND_FRAME | (uint64_t)(uint32_t)(int32_t)s->cfa_off << 32;
	if (s->cfa_reg == 6)
		rule |= RULE_CFA_BP;
	if (s->bp.how == REG_OFFSET) {
		if (s->bp.off < INT16_MIN || s->bp.off > INT16_MAX)
			return RULE_HARD;
		rule |= RULE_BP_SAVED | (uint64_t)(uint16_t)(int16_t)s->bp.off << 16;
	} else if (s->bp.how != REG_SAME) {
		return RULE_HARD;
	}
	return rule;
}

/* The FDE for target in an object's .eh_frame_hdr, through its sorted
 * table (DW_EH_PE_datarel | sdata4 entries, as every linker writes). */
static uint64_t rule_from_hdr(const uint8_t *hdr, const uint8_t *lo, const uint8_t *hi, uint64_t target)
{
	struct rd r = {hdr, hi, false};
	uint8_t version = u8(&r), ptr_enc = u8(&r), count_enc = u8(&r), table_enc = u8(&r);
	if (r.bad || version != 1 || table_enc != 0x3b || ptr_enc == 0xff || count_enc == 0xff)
		return RULE_HARD;
	(void)encoded(&r, ptr_enc, (uintptr_t)hdr, true);
	uint64_t count = encoded(&r, count_enc, (uintptr_t)hdr, true);
	if (r.bad || !count || count > (size_t)(hi - r.p) / 8)
		return RULE_HARD;
	const int32_t *table = (const int32_t *)(const void *)r.p;
	int64_t rel = (int64_t)(target - (uintptr_t)hdr);
	if (rel < table[0])
		return RULE_HARD;
	uint64_t a = 0, b = count; /* table[2a] <= rel < table[2b] */
	while (b - a > 1) {
		uint64_t m = a + (b - a) / 2;
		if (table[2 * m] <= rel)
			a = m;
		else
			b = m;
	}
	return rule_from_fde(hdr + table[2 * a + 1], lo, hi, target);
}

struct lookup {
	uintptr_t target;
	uint64_t rule;
};

static int lookup_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct lookup *q = arg;
	const ElfW(Phdr) *hdr = NULL;
	bool inside = false;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && q->target - (info->dlpi_addr + ph->p_vaddr) < ph->p_memsz)
			inside = true;
		else if (ph->p_type == PT_GNU_EH_FRAME)
			hdr = ph;
	}
	if (!inside)
		return 0;
	if (!hdr)
		return 1; /* no .eh_frame_hdr: RULE_HARD */
	uintptr_t h = info->dlpi_addr + hdr->p_vaddr;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_R) && h - lo < ph->p_filesz) {
			q->rule = rule_from_hdr((const uint8_t *)h, (const uint8_t *)lo,
						(const uint8_t *)lo + ph->p_filesz, q->target);
			break;
		}
	}
	return 1;
}

static uint64_t learn(uintptr_t pc)
{
	struct lookup q = {.target = pc - 1, .rule = RULE_HARD};
	dl_iterate_phdr(lookup_cb, &q);
	remember(pc, rule_id(q.rule));
	return q.rule;
}

/* ---- the walk --------------------------------------------------------------------- */

int cfi_walk(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t hi, uintptr_t *pcs, unsigned max)
{
	unsigned n = 0;
	while (n < max && pc) {
		if (pc >> PC_BITS)
			return -1;
		pcs[n++] = pc;
		uint64_t rule;
		if (!cached(pc, &rule))
			rule = learn(pc);
		if ((rule & 3) == KIND_END)
			return (int)n;
		if ((rule & 3) != KIND_FRAME)
			return -1;
		uintptr_t cfa = ((rule & RULE_CFA_BP) ? bp : sp) + (uintptr_t)(intptr_t)(int32_t)(rule >> 32);
		if (cfa <= sp || cfa > hi || (cfa & 7))
			return -1;
		if (rule & RULE_BP_SAVED) {
			uintptr_t at = cfa + (uintptr_t)(intptr_t)(int16_t)(rule >> 16);
			if (at < sp || at > hi - 8 || (at & 7))
				return -1;
			bp = *(const uintptr_t *)at;
		}
		pc = ((const uintptr_t *)cfa)[-1];
		sp = cfa;
	}
	return (int)n;
}
