/*
 * threadstacks.c - asking threads for their stacks (see threadstacks.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "threadstacks.h"
#include "cpuprof.h"
#include "log.h"
#include "runtime.h"
#include "stacktab.h"
#include "threads.h"
#include "tstate.h"
#include "unwind.h"

#define BATCH 64
#define BATCH_WAIT_NS 200000000LL

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
		c->n++;
	}
}

/* Does thread tid block signal sig?  From /proc/self/task/TID/status. */
static bool blocks(int tid, int sig)
{
	char path[64], buf[2048];
	cprof_fmt(path, sizeof(path), "/proc/self/task/%d/status", tid);
	if (cprof_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	const char *p = strstr(buf, "SigBlk:");
	if (!p)
		return false;
	p += 7;
	while (*p == ' ' || *p == '\t')
		p++;
	uint64_t mask = 0;
	for (; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
		mask = (mask << 4) | (uint64_t)(*p <= '9' ? *p - '0' : *p - 'a' + 10);
	return (mask >> (sig - 1)) & 1;
}

static void sleep_ns(long ns)
{
	struct timespec ts = {0, ns};
	nanosleep(&ts, NULL);
}

void threadstacks_collect(struct region *r, thread_stack_fn fn, void *arg)
{
	int sig = cpuprof_signal();
	int self = cprof_tls.tid ? cprof_tls.tid : cprof_gettid();
	pid_t pid = getpid();
	struct snap_ctx c = {0};

	c.cap = threads_count() + 16;
	c.v = region_alloc(r, c.cap * sizeof(*c.v));
	if (!c.v)
		return;
	threads_foreach(take, &c);
	for (size_t i = 0; i < c.n; i++)
		if (!c.v[i].name[0]) /* names are read lazily (threads.c) */
			threads_name(c.v[i].tid, c.v[i].name, sizeof(c.v[i].name), false);
	for (int i = 0; i < BATCH; i++)
		if (slots[i].stuck && atomic_load(&slots[i].state) != WRITING)
			slots[i].stuck = false;

	for (size_t base = 0; base < c.n; base += BATCH) {
		size_t m = c.n - base < BATCH ? c.n - base : BATCH;
		const char *why[BATCH] = {0};
		for (size_t i = 0; i < m; i++) {
			int tid = c.v[base + i].tid;
			struct slot *s = &slots[i];
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
			struct thread_stack ts = {.tid = c.v[base + i].tid, .name = c.v[base + i].name};
			uintptr_t pcs[CPROF_MAX_DEPTH];
			unsigned depth = 0;
			int expected = ASKED;
			if (ts.tid == self) {
				depth = unwind_here(pcs, CPROF_MAX_DEPTH);
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
