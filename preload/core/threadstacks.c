/*
 * threadstacks.c - learning every thread's stack without waking the
 * parked ones (see threadstacks.h).
 *
 * Invariants:
 *  - Only the holder of dump_lock collects (slots, the copy buffer).
 *  - A thread whose wait frame is live, or which /proc shows in a system
 *    call or stopped, is never sent a signal.
 *  - Another thread's TLS and stack are read only while its record is
 *    pinned, and its stack only inside the bounds the registry knows.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "labels.h"
#include "threadstacks.h"
#include "cpuprof.h"
#include "log.h"
#include "runtime.h"
#include "stackcopy.h"
#include "stacktab.h"
#include "threads.h"
#include "tstate.h"
#include "unwind.h"

#define BATCH 64
#define BATCH_WAIT_NS 200000000LL
#define COPY_MAX (64 * 1024)

enum { FREE = 0, ASKED = 1, ANSWERED = 2, WRITING = 3 };

struct slot {
	atomic_int tid;
	atomic_int state;
	bool stuck;      /* a handler never finished writing it: not reused */
	unsigned depth;
	uintptr_t pcs[CPROF_MAX_DEPTH];
};

static struct slot slots[BATCH];

void threadstacks_answer(const ucontext_t *uc)
{
	int tid = cprof_tls.tid ? cprof_tls.tid : (int)syscall(SYS_gettid);
	for (int i = 0; i < BATCH; i++) {
		struct slot *s = &slots[i];
		if (atomic_load_explicit(&s->tid, memory_order_acquire) != tid)
			continue;
		int expected = ASKED;
		if (!atomic_compare_exchange_strong(&s->state, &expected, WRITING))
			return;
		s->depth = unwind_signal(uc, s->pcs, CPROF_MAX_DEPTH);
		atomic_store_explicit(&s->state, ANSWERED, memory_order_release);
		return;
	}
}

struct snap {
	int tid;
	char name[16];
	uint32_t created;
	uint32_t labels;
	struct labels_capture foreign;
	unsigned char custom[LABELS_CUSTOM_BYTES];
};

struct snap_ctx {
	struct snap *v;
	size_t n, cap;
};

static void take(struct thread_rec *r, void *arg)
{
	struct snap_ctx *c = arg;
	if (c->n < c->cap) {
		c->v[c->n].tid = r->tid;
		memcpy(c->v[c->n].name, r->name, sizeof(r->name));
		c->v[c->n].created = __atomic_load_n(&r->create_stack, __ATOMIC_RELAXED);
		/* Registry lock held: a record with ts is unregistered before
		 * its thread's TLS goes away (threads.h). */
		c->v[c->n].labels = r->ts ? labels_of(r->ts) : 0;
		c->v[c->n].foreign = (struct labels_capture){0};
		if (r->ts && labels_foreign(r->ts))
			labels_capture(r->ts, &c->v[c->n].foreign, c->v[c->n].custom, LABELS_CUSTOM_BYTES);
		c->n++;
	}
}

/* Does thread tid block signal sig?  From /proc/self/task/TID/status. */
static bool blocks(int tid, int sig)
{
	char path[64];
	cprof_fmt(path, sizeof(path), "/proc/self/task/%d/status", tid);
	return cprof_status_has_signal(path, "SigBlk:", sig);
}

static void sleep_ns(long ns)
{
	struct timespec ts = {0, ns};
	nanosleep(&ts, NULL);
}

/* ---- learning a stack without a signal ------------------------------------------- */

/* What the kernel says about a thread: /proc/self/task/TID/syscall. */
enum kstate { K_UNKNOWN, K_GONE, K_RUNNING, K_STOPPED, K_SYSCALL };

struct kview {
	enum kstate st;
	long nr;               /* K_SYSCALL: the system call */
	uintptr_t sp, pc;      /* K_SYSCALL, K_STOPPED: user stack pointer, resume address */
	char line[200];        /* as read, to tell whether it changed */
};

static bool parse_hex(const char **p, uintptr_t *out)
{
	const char *s = *p;
	uintptr_t v = 0;
	while (*s == ' ')
		s++;
	if (s[0] != '0' || s[1] != 'x')
		return false;
	s += 2;
	const char *start = s;
	for (;; s++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
		if (d < 0)
			break;
		v = v << 4 | (uintptr_t)d;
	}
	*p = s;
	*out = v;
	return s > start;
}

static void read_kview(int tid, pid_t pid, struct kview *k)
{
	char path[64];
	k->st = K_UNKNOWN;
	cprof_fmt(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	if (cprof_read_file(path, k->line, sizeof(k->line)) <= 0) {
		if (syscall(SYS_tgkill, pid, tid, 0) != 0 && errno == ESRCH)
			k->st = K_GONE;
		return;
	}
	if (strncmp(k->line, "running", 7) == 0) {
		k->st = K_RUNNING;
		return;
	}
	/* "NR a1 a2 a3 a4 a5 a6 SP PC", or "-1 SP PC" outside a system call. */
	const char *p = k->line;
	bool neg = *p == '-';
	long nr = 0;
	if (neg)
		p++;
	if (*p < '0' || *p > '9')
		return;
	for (; *p >= '0' && *p <= '9'; p++)
		nr = nr * 10 + (*p - '0');
	uintptr_t w[8];
	int n = 0;
	while (n < 8 && parse_hex(&p, &w[n]))
		n++;
	if (neg ? n != 2 : n != 8)
		return;
	k->nr = neg ? -nr : nr;
	k->sp = w[n - 2];
	k->pc = w[n - 1];
	k->st = neg ? K_STOPPED : K_SYSCALL;
}

struct quiet {
	uintptr_t *pcs;
	unsigned depth;
	const char *why;       /* no stack: why */
	const char *note;      /* partial stack: why */
};

static unsigned with_root_marker(uintptr_t *pcs, unsigned n)
{
	if (n == CPROF_MAX_DEPTH)
		n--;
	pcs[n++] = CPROF_PC_PARTIAL_STACK;
	return n;
}

/* Copy [sp, min(sp + COPY_MAX, hi)) of a pinned thread into buf.  0 when sp
 * is not inside the stack the registry knows (a fiber, an alternate signal
 * stack): nothing is read then. */
static size_t copy_stack(struct thread_rec *r, uintptr_t sp, unsigned char *buf)
{
	uintptr_t lo, hi;
	if (!buf || !threads_stack_bounds(r, &lo, &hi) || sp < lo || sp >= hi)
		return 0;
	size_t len = hi - sp < COPY_MAX ? hi - sp : COPY_MAX;
	memcpy(buf, (const void *)sp, len);
	return len;
}

/* A wait frame read from a pinned thread's TLS (waitframe.h). */
struct parked_view {
	uintptr_t fn, pc, sp, fp;
	size_t len;            /* bytes of stack copied above sp */
	bool saw_odd;          /* wait_seq was odd at least once */
	bool fields;           /* fn, pc, sp, fp read under one odd wait_seq */
	bool copied;           /* and the copy too */
};

/* The seqlock read: the fields, then the copy, each checked against an
 * unchanged odd wait_seq; one retry. */
static void read_parked(struct thread_rec *r, struct tstate *ts, unsigned char *buf,
			struct parked_view *v)
{
	for (int attempt = 0; attempt < 2 && !v->copied; attempt++) {
		uint32_t s1 = __atomic_load_n(&ts->wait_seq, __ATOMIC_ACQUIRE);
		if (!(s1 & 1))
			return;
		v->saw_odd = true;
		uintptr_t fn = __atomic_load_n(&ts->wait_fn, __ATOMIC_RELAXED);
		uintptr_t pc = __atomic_load_n(&ts->wait_pc, __ATOMIC_RELAXED);
		uintptr_t sp = __atomic_load_n(&ts->wait_sp, __ATOMIC_RELAXED);
		uintptr_t fp = __atomic_load_n(&ts->wait_fp, __ATOMIC_RELAXED);
		atomic_thread_fence(memory_order_acquire);
		if (__atomic_load_n(&ts->wait_seq, __ATOMIC_RELAXED) != s1)
			continue;
		v->fn = fn, v->pc = pc, v->sp = sp, v->fp = fp;
		v->fields = true;
		v->len = copy_stack(r, sp, buf);
		atomic_thread_fence(memory_order_acquire);
		v->copied = __atomic_load_n(&ts->wait_seq, __ATOMIC_RELAXED) == s1;
	}
}

/* The blocking function (exact leaf), then its caller and what unwinds
 * from the copy. */
static void parked_stack(const struct parked_view *v, const unsigned char *buf, struct quiet *q)
{
	q->pcs[0] = v->fn;
	q->depth = 1;
	if (v->copied && v->len) {
		struct stack_copy c = {.addr = v->sp, .len = v->len, .bytes = buf};
		q->depth += stackcopy_unwind(&c, v->pc, true, v->sp, v->fp, true, q->pcs + 1,
					     CPROF_MAX_DEPTH - 1);
	}
	if (q->depth == 1 && !unwind_pc_in_cprof(v->pc))
		q->pcs[q->depth++] = v->pc;
	if (!v->copied || !v->len) {
		q->note = !v->copied ? "moving between blocking calls, partial stack"
				     : "parked on a stack outside its thread's known bounds, partial stack";
		q->depth = with_root_marker(q->pcs, q->depth);
	}
}

/* A thread /proc shows in a system call, or stopped: its resume address,
 * then what unwinds from the copy above its stack pointer (RBP unknown),
 * if the copy was made (len) and /proc still says the same. */
static void kernel_view_stack(int tid, pid_t pid, const struct kview *k, size_t len,
			      const unsigned char *buf, struct quiet *q, struct region *reg)
{
	q->depth = 0;
	if (len) {
		struct kview again;
		read_kview(tid, pid, &again);
		if (strcmp(again.line, k->line) == 0) {
			struct stack_copy c = {.addr = k->sp, .len = len, .bytes = buf};
			q->depth = stackcopy_unwind(&c, k->pc, false, k->sp, 0, false, q->pcs,
						    CPROF_MAX_DEPTH);
		}
	}
	if (!q->depth)
		q->pcs[q->depth++] = k->pc;
	q->depth = with_root_marker(q->pcs, q->depth);
	char note[96];
	if (k->st == K_SYSCALL)
		cprof_fmt(note, sizeof(note), "in system call %ld, partial stack", k->nr);
	else
		cprof_fmt(note, sizeof(note), "stopped, partial stack");
	q->note = region_strdup(reg, note);
	if (!q->note)
		q->note = "partial stack";
}

/* Has tid entered a wrapped blocking call since it was looked at? */
static bool parked_now(int tid)
{
	struct thread_rec *r = threads_pin(tid);
	if (!r)
		return false;
	bool odd = __atomic_load_n(&r->ts->wait_seq, __ATOMIC_ACQUIRE) & 1;
	threads_unpin(r);
	return odd;
}

/*
 * Learn tid's stack without a signal unless it is running.  Returns false
 * when the thread is to be asked by signal.
 */
static bool learn_quietly(int tid, pid_t pid, struct quiet *q, unsigned char *buf,
			  struct region *reg)
{
	struct kview k;
	struct parked_view v = {0};
	size_t klen = 0;

	read_kview(tid, pid, &k);
	if (k.st == K_GONE) {
		q->why = "exited";
		return true;
	}
	/* After /proc: the wait frame is the last thing read before a
	 * signal would be sent. */
	struct thread_rec *r = threads_pin(tid);
	if (r) {
		read_parked(r, r->ts, buf, &v);
		if (!v.fields && (k.st == K_SYSCALL || k.st == K_STOPPED))
			klen = copy_stack(r, k.sp, buf);
		threads_unpin(r);
	}
	if (v.fields) {
		parked_stack(&v, buf, q);
		return true;
	}
	switch (k.st) {
	case K_SYSCALL:
	case K_STOPPED:
		kernel_view_stack(tid, pid, &k, klen, buf, q, reg);
		return true;
	case K_RUNNING:
		if (!v.saw_odd)
			return false;
		/* In and out of wrapped blocking calls: never signalled. */
		q->why = "moving between blocking calls";
		return true;
	default:
		q->why = "state unknown (/proc/self/task unreadable)";
		return true;
	}
}

void threadstacks_collect(struct region *r, thread_stack_fn fn, void *arg)
{
	int sig = cpuprof_signal();
	int self = cprof_tls.tid ? cprof_tls.tid : cprof_gettid();
	pid_t pid = getpid();
	struct snap_ctx c = {0};

	c.cap = threads_count() + 16;
	c.v = region_alloc(r, c.cap * sizeof(*c.v));
	struct quiet *quiet = region_alloc(r, BATCH * sizeof(*quiet));
	uintptr_t(*qpcs)[CPROF_MAX_DEPTH] = region_alloc(r, BATCH * sizeof(*qpcs));
	unsigned char *copybuf = region_alloc(r, COPY_MAX);
	if (!c.v || !quiet || !qpcs)
		return;
	threads_foreach(take, &c);
	for (size_t i = 0; i < c.n; i++) /* outside the registry lock */
		c.v[i].labels = labels_resolve(c.v[i].labels, &c.v[i].foreign, c.v[i].custom);
	for (size_t i = 0; i < c.n; i++)
		if (!c.v[i].name[0]) /* names are read lazily (threads.c) */
			threads_name(c.v[i].tid, c.v[i].name, sizeof(c.v[i].name), false);
	for (int i = 0; i < BATCH; i++)
		if (slots[i].stuck && atomic_load(&slots[i].state) != WRITING)
			slots[i].stuck = false;

	for (size_t base = 0; base < c.n; base += BATCH) {
		size_t m = c.n - base < BATCH ? c.n - base : BATCH;
		const char *why[BATCH] = {0};
		bool done[BATCH] = {0};
		for (size_t i = 0; i < m; i++) {
			int tid = c.v[base + i].tid;
			struct slot *s = &slots[i];
			if (tid != self) {
				struct quiet *q = &quiet[i];
				*q = (struct quiet){.pcs = qpcs[i]};
				if (learn_quietly(tid, pid, q, copybuf, r)) {
					done[i] = true;
					why[i] = q->why;
					continue;
				}
			}
			if (s->stuck) {
				why[i] = "did not answer";
				continue;
			}
			atomic_store(&s->state, FREE);
			atomic_store(&s->tid, 0);
			if (tid == self)
				continue;
			if (!sig) {
				why[i] = "no signal available";
				continue;
			}
			if (blocks(tid, sig)) {
				why[i] = "signal blocked";
				continue;
			}
			/* Last look before the signal: did it park meanwhile? */
			quiet[i] = (struct quiet){.pcs = qpcs[i]};
			if (parked_now(tid) && learn_quietly(tid, pid, &quiet[i], copybuf, r)) {
				done[i] = true;
				why[i] = quiet[i].why;
				continue;
			}
			s->depth = 0;
			atomic_store(&s->state, ASKED);
			atomic_store_explicit(&s->tid, tid, memory_order_release);
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			si.si_signo = sig;
			si.si_code = SI_QUEUE;
			si.si_pid = pid;
			si.si_uid = getuid();
			si.si_value.sival_int = STACK_MAGIC;
			if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &si) != 0) {
				atomic_store(&s->state, FREE);
				why[i] = errno == ESRCH ? "exited" : "signal failed";
			}
		}
		int64_t deadline = cprof_now_ns() + BATCH_WAIT_NS;
		for (;;) {
			bool pending = false;
			for (size_t i = 0; i < m && !pending; i++)
				pending = atomic_load(&slots[i].state) == ASKED ||
					  atomic_load(&slots[i].state) == WRITING;
			if (!pending || cprof_now_ns() > deadline)
				break;
			sleep_ns(200000);
		}
		for (size_t i = 0; i < m; i++) {
			struct slot *s = &slots[i];
			struct thread_stack ts = {.tid = c.v[base + i].tid, .name = c.v[base + i].name,
						  .created = c.v[base + i].created,
						  .labels = c.v[base + i].labels};
			uintptr_t pcs[CPROF_MAX_DEPTH];
			unsigned depth = 0;
			int expected = ASKED;
			if (ts.tid == self) {
				depth = unwind_here(pcs, CPROF_MAX_DEPTH);
			} else if (done[i]) {
				depth = quiet[i].depth;
				memcpy(pcs, quiet[i].pcs, depth * sizeof(uintptr_t));
				ts.note = quiet[i].note;
			} else if (s->stuck) {
				/* reported above */
			} else if (atomic_compare_exchange_strong(&s->state, &expected, FREE)) {
				why[i] = "did not answer";
			} else {
				/* An unwind is in progress: bounded wait, never forever
				 * (the dump lock is held meanwhile). */
				int64_t until = cprof_now_ns() + BATCH_WAIT_NS;
				while (atomic_load(&s->state) == WRITING && cprof_now_ns() < until)
					sleep_ns(100000);
				if (atomic_load(&s->state) == ANSWERED) {
					depth = s->depth;
					memcpy(pcs, s->pcs, depth * sizeof(uintptr_t));
				} else {
					s->stuck = true;
					why[i] = "did not answer";
				}
			}
			if (!s->stuck) {
				atomic_store(&s->tid, 0);
				atomic_store(&s->state, FREE);
			}
			if (depth) {
				ts.stack = stacktab_intern(pcs, depth, ts.tid == self ? 0 : STACK_LEAF_EXACT);
			} else {
				ts.stack = stacktab_synthetic(CPROF_PC_THREAD_NO_REPLY);
				ts.state = why[i] ? why[i] : "no stack";
			}
			if (!ts.name[0])
				ts.name = "?";
			fn(&ts, arg);
		}
	}
}
