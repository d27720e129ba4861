/*
 * cpuprof.c - CPU sampling (see cpuprof.h for the design).
 *
 * Contexts and ownership:
 *  - on_prof(): the signal handler, on any program thread.  Touches only
 *    its TLS, the ring (lock-free claim/publish), and atomic counters.
 *  - cpuprof_timer_start/stop(): registry lock held (threads.c), normal
 *    context.
 *  - cpuprof_drain() and the table: the holder of dump_lock only.
 *  - ended[]: names of threads that ended, filled lock-free by the ending
 *    threads (or the scanner), read and freed by the drain (see there).
 *  - notes[]: CPU time of threads that ran with the signal blocked, the
 *    same way; r->blocked_cpu under the registry lock.
 *  - enabled/sig/period: written by init (and cpuprof_start_window) before
 *    timers exist; read by everyone.
 *
 * The ring's cells are touched only as samples fill them: each cell's
 * sequence word is kept relative to its index (cell_seq/cell_set), so the
 * zero-filled pages mmap gives are already the empty ring (Vyukov's
 * initial seq == index) and start-up writes none of its 2 MiB; a fork
 * child gets zero pages again with madvise(MADV_DONTNEED) instead of
 * copying every page of the parent's ring.
 *
 * Windows: the table keeps cumulative counts per (stack, thread); each
 * consumer of windows (files, an HTTP request) keeps its own base per entry
 * and its own start time, so a dump reports only what happened since that
 * consumer's previous read.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpuprof.h"
#include "arena.h"
#include "cpuwin.h"
#include "labels.h"
#include "tables.h"
#include "log.h"
#include "real.h"
#include "runtime.h"
#include "sampler.h"
#include "stacktab.h"
#include "threads.h"
#include "threadstacks.h"
#include "tstate.h"
#include "unwind.h"

#define TIMER_MAGIC 0x63707266  /* "cprf" in si_value: our timers' signals */
#define RING_SIZE 4096

struct cell {
	atomic_ulong seq;   /* Vyukov's sequence number minus the cell's index */
	int tid;
	uint32_t weight;
	uint32_t depth;
	uint32_t labels;    /* the thread's label set (labels.h) */
	struct labels_capture foreign; /* labels other libraries publish (labels.h) */
	uintptr_t pcs[CPROF_MAX_DEPTH];
};

static struct cell *ring;
/* Custom labels of the sample in the cell of the same index (labels.h):
 * zero pages, touched only by programs that publish custom labels. */
static unsigned char (*custom)[LABELS_CUSTOM_BYTES];
static atomic_ulong enq_pos;

/* The queue's sequence number of the cell at ring position `pos` (stored
 * relative to the cell's index, so that a zero page is an empty cell). */
static inline unsigned long cell_seq(struct cell *c, unsigned long pos)
{
	return atomic_load_explicit(&c->seq, memory_order_acquire) + (pos & (RING_SIZE - 1));
}

static inline void cell_set(struct cell *c, unsigned long pos, unsigned long seq)
{
	atomic_store_explicit(&c->seq, seq - (pos & (RING_SIZE - 1)), memory_order_release);
}

static atomic_ulong deq_pos;
static atomic_int wake_pending;

static atomic_bool enabled;
static int sig;
static int64_t period_ns;

static atomic_ullong n_samples, lost_reentrant, lost_full, lost_gate, n_foreign;
static atomic_int timer_fail_said;

/* ---- the signal handler ---------------------------------------------------- */

static struct cell *ring_claim(unsigned long *pos_out)
{
	unsigned long pos = atomic_load_explicit(&enq_pos, memory_order_relaxed);
	for (int tries = 0; tries < 64; tries++) {
		struct cell *c = &ring[pos & (RING_SIZE - 1)];
		unsigned long seq = cell_seq(c, pos);
		long dif = (long)(seq - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&enq_pos, &pos, pos + 1,
								  memory_order_relaxed, memory_order_relaxed)) {
				*pos_out = pos;
				return c;
			}
		} else if (dif < 0) {
			return NULL; /* full */
		} else {
			pos = atomic_load_explicit(&enq_pos, memory_order_relaxed);
		}
	}
	return NULL;
}

static void on_prof(int signo, siginfo_t *si, void *ucv)
{
	int saved = errno;
	struct tstate *t = &cprof_tls;
	(void)signo;

	if (si->si_code == SI_QUEUE && si->si_value.sival_int == STACK_MAGIC) {
		/* A thread stack request.  Like a sample, it runs with the guard
		 * held (libunwind's internal mutex must go straight through the
		 * lock hooks); a thread interrupted inside cprof does not answer
		 * and is reported as such. */
		if (!t->guard) {
			t->guard++;
			atomic_signal_fence(memory_order_seq_cst);
			threadstacks_answer((const ucontext_t *)ucv);
			atomic_signal_fence(memory_order_seq_cst);
			t->guard--;
		}
		goto out;
	}
	if (si->si_code != SI_TIMER || si->si_value.sival_int != TIMER_MAGIC ||
	    !atomic_load_explicit(&enabled, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&n_foreign, 1, memory_order_relaxed);
		goto out;
	}
	uint32_t weight = 1 + (si->si_overrun > 0 ? (uint32_t)si->si_overrun : 0);
	if (t->guard) {
		atomic_fetch_add_explicit(&lost_reentrant, weight, memory_order_relaxed);
		goto out;
	}
	t->guard++;
	atomic_signal_fence(memory_order_seq_cst);
	unsigned long pos;
	struct cell *c = ring ? ring_claim(&pos) : NULL;
	if (!c) {
		atomic_fetch_add_explicit(&lost_full, weight, memory_order_relaxed);
	} else {
		c->tid = t->tid ? t->tid : (int)syscall(SYS_gettid);
		c->weight = weight;
		c->labels = labels_current();
		if (unlikely(labels_foreign(t)))
			labels_capture(t, &c->foreign, custom ? custom[pos & (RING_SIZE - 1)] : NULL,
				       LABELS_CUSTOM_BYTES);
		else
			c->foreign.has_otel = 0, c->foreign.custom_len = 0;
		c->depth = unwind_signal((const ucontext_t *)ucv, c->pcs, CPROF_MAX_DEPTH);
		if (c->depth == 0) {
			atomic_fetch_add_explicit(&lost_gate, weight, memory_order_relaxed);
			c->weight = 0; /* consumed as a no-op */
		}
		cell_set(c, pos, pos + 1);
		atomic_fetch_add_explicit(&n_samples, weight, memory_order_relaxed);
		t->cpu_sampled = 1;
		if (pos - atomic_load_explicit(&deq_pos, memory_order_relaxed) > RING_SIZE * 3 / 4 &&
		    !atomic_exchange_explicit(&wake_pending, 1, memory_order_relaxed))
			dump_wake();
	}
	atomic_signal_fence(memory_order_seq_cst);
	t->guard--;
out:
	errno = saved;
}

/* ---- CPU time of threads that block the CPU signal ------------------------------
 *
 * A thread that blocks the CPU signal cannot be interrupted to unwind
 * (xz starts its workers with every signal blocked), and its timer is
 * paused so that no signal of cprof's waits for the program's sigwait
 * (threads.h).  Its CPU time is still counted, from its own CPU clock, in
 * whole sampling periods: as samples of the synthetic frame
 * cprof_lost_samples with the label cprof_lost=signals_blocked and the
 * thread's name, said once on stderr.  No stack can be had without
 * changing the program's signal mask, which cprof never does.
 *
 * r->blocked_cpu (registry lock) is the thread's CPU time counted so far
 * while paused.  It moves on in three places: the thread itself when it
 * unblocks the signal or ends (its last part, rounded to the nearest
 * period, goes to notes[] for the drain), and the drain, for threads
 * still blocked (whole periods only, so each dump has their time so far
 * and nothing is lost to rounding).
 *
 * notes[] is filled lock-free by threads (claim 0 -> 1 by CAS, publish 2)
 * and emptied by the holder of dump_lock, like ended[] below.
 */
#define NOTES_MAX 256

struct note {
	atomic_int state; /* 0 free, 1 being filled, 2 published */
	int tid;
	uint64_t count;   /* sampling periods */
	char name[16];    /* empty: the registry's name for tid */
};

static struct note notes[NOTES_MAX];
static atomic_int n_notes;
static atomic_int blocked_said;

static int64_t own_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Another thread's CPU time (-1 if it is gone). */
static int64_t thread_cpu_ns(int tid)
{
	struct timespec ts;
	clockid_t clk = (clockid_t)((~(unsigned)tid << 3) | 6); /* CPUCLOCK_PERTHREAD | SCHED */
	if (clock_gettime(clk, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void note_blocked(int tid, const char *name, uint64_t count)
{
	if (!count)
		return;
	for (unsigned i = 0; i < NOTES_MAX; i++) {
		struct note *e = &notes[((unsigned)tid + i) % NOTES_MAX];
		int free_ = 0;
		if (atomic_load_explicit(&e->state, memory_order_relaxed) != 0 ||
		    !atomic_compare_exchange_strong(&e->state, &free_, 1))
			continue;
		atomic_fetch_add(&n_notes, 1);
		e->tid = tid;
		e->count = count;
		cprof_fmt(e->name, sizeof(e->name), "%s", name ? name : "");
		atomic_store_explicit(&e->state, 2, memory_order_release);
		return;
	}
	atomic_fetch_add_explicit(&lost_full, count, memory_order_relaxed); /* nowhere to note it */
}

/* The calling thread stops being paused (it unblocked the signal) or
 * ends: count its CPU time since blocked_cpu.  Registry lock held. */
static void blocked_settle(struct thread_rec *r)
{
	int64_t d = own_cpu_ns() - r->blocked_cpu;
	if (d <= 0 || !atomic_load(&enabled))
		return;
	note_blocked(r->tid, r->name[0] ? r->name : NULL, (uint64_t)((d + period_ns / 2) / period_ns));
}

/* Drain: threads still paused, whole periods so far (registry lock held,
 * by threads_foreach). */
#define BLOCKED_BATCH 256
static struct {
	int tid;
	uint64_t count;
} batch[BLOCKED_BATCH]; /* dump_lock */
static unsigned nbatch;

static void blocked_step(struct thread_rec *r, void *arg)
{
	(void)arg;
	if (!r->paused || !r->has_timer || nbatch == BLOCKED_BATCH)
		return;
	int64_t cpu = thread_cpu_ns(r->tid);
	if (cpu < 0)
		return;
	if (cpu < r->blocked_cpu) {
		r->blocked_cpu = cpu; /* a fork child's clock restarts */
		return;
	}
	uint64_t n = (uint64_t)((cpu - r->blocked_cpu) / period_ns);
	if (!n)
		return;
	r->blocked_cpu += (int64_t)n * period_ns;
	batch[nbatch].tid = r->tid;
	batch[nbatch].count = n;
	nbatch++;
}

static void blocked_add(int tid, const char *name, uint64_t count)
{
	char buf[32];
	if (!name || !name[0]) {
		threads_name(tid, buf, sizeof(buf), false);
		name = buf;
	}
	cpuwin_add(stacktab_synthetic(CPROF_PC_LOST_SAMPLES), cpuwin_name_id(name), 0, count);
	if (!atomic_exchange(&blocked_said, 1))
		cprof_warn("thread %d (%s) runs with the CPU profiling signal blocked: its CPU time is "
			   "counted without stacks, under cprof_lost_samples (cprof_lost=signals_blocked)",
			   tid, name);
}

/* dump_lock held. */
static void blocked_drain(void)
{
	if (atomic_load_explicit(&n_notes, memory_order_acquire)) {
		for (unsigned i = 0; i < NOTES_MAX; i++) {
			struct note *e = &notes[i];
			if (atomic_load_explicit(&e->state, memory_order_acquire) != 2)
				continue;
			blocked_add(e->tid, e->name, e->count);
			atomic_store_explicit(&e->state, 0, memory_order_release);
			atomic_fetch_sub(&n_notes, 1);
		}
	}
	if (!atomic_load(&enabled))
		return;
	nbatch = 0;
	threads_foreach(blocked_step, NULL);
	for (unsigned i = 0; i < nbatch; i++)
		blocked_add(batch[i].tid, NULL, batch[i].count);
}

/* ---- timers ------------------------------------------------------------------ */

static void random_first(struct timespec *ts)
{
	/* Uniform in (0, period]. */
	uint64_t r = sampler_rand(&cprof_tls.rng);
	int64_t ns = 1 + (int64_t)(r % (uint64_t)period_ns);
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
}

static int arm(int id, bool first)
{
	struct itimerspec its;
	its.it_interval.tv_sec = period_ns / 1000000000;
	its.it_interval.tv_nsec = period_ns % 1000000000;
	if (first)
		random_first(&its.it_value);
	else
		its.it_value = its.it_interval;
	return (int)syscall(SYS_timer_settime, id, 0, &its, NULL);
}

void cpuprof_timer_start(struct thread_rec *r, bool self)
{
	struct sigevent sev;
	int id;

	if (!atomic_load(&enabled) || r->has_timer || r->internal)
		return;
	if (!cprof_tls.rng)
		tstate_first_contact(&cprof_tls);
	clockid_t clk = self ? CLOCK_THREAD_CPUTIME_ID
			     : (clockid_t)((~(unsigned)r->tid << 3) | 6); /* CPUCLOCK_PERTHREAD | SCHED */
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = sig;
	sev.sigev_value.sival_int = TIMER_MAGIC;
	sev._sigev_un._tid = r->tid;
	if (syscall(SYS_timer_create, clk, &sev, &id) != 0) {
		if (errno != EINVAL && errno != ESRCH) /* EINVAL/ESRCH: thread already gone */
			cprof_warn_once(&timer_fail_said,
					"cannot create a CPU timer for thread %d (%s); some threads are not sampled",
					r->tid, strerrordesc_np(errno) ? strerrordesc_np(errno) : "error");
		return;
	}
	if (!r->paused && arm(id, true) != 0) {
		syscall(SYS_timer_delete, id);
		return;
	}
	if (r->paused) /* started with the signal blocked: counted from now */
		r->blocked_cpu = self ? own_cpu_ns() : thread_cpu_ns(r->tid);
	r->timer = id;
	r->has_timer = true;
}

void cpuprof_timer_stop(struct thread_rec *r)
{
	if (!r->has_timer)
		return;
	syscall(SYS_timer_delete, r->timer);
	r->has_timer = false;
}

void cpuprof_pause(struct thread_rec *r)
{
	struct itimerspec zero;
	if (!r->has_timer)
		return;
	memset(&zero, 0, sizeof(zero));
	syscall(SYS_timer_settime, r->timer, 0, &zero, NULL);
	r->blocked_cpu = own_cpu_ns();
}

void cpuprof_resume(struct thread_rec *r)
{
	if (r->has_timer && !r->paused) {
		blocked_settle(r);
		arm(r->timer, false);
	}
}

static void stop_timer(struct thread_rec *r, void *arg)
{
	(void)arg;
	cpuprof_timer_stop(r);
}

void cpuprof_stop_window(void)
{
	/* Back to "CPU profile off": used after an HTTP profile window when
	 * the cpu profile was not enabled at start. */
	if (!atomic_exchange(&enabled, false))
		return;
	threads_foreach(stop_timer, NULL);
}

void cpuprof_signal_lost(enum sig_take how)
{
	static atomic_int said;
	bool was_on = atomic_exchange(&enabled, false);
	if (!sig)
		return;
	/* Deleting a timer also discards its pending signal, so none reaches
	 * the handler the program is about to install (or kills it, under the
	 * default action). */
	threads_foreach(stop_timer, NULL);
	int lost = sig;
	sig = 0; /* no more thread stack requests on it either (the threads
		  * profile then says "no signal available" for each thread) */
	rt.cpu_signal = 0;
	if (!was_on)
		return;
	const char *name = sigabbrev_np(lost) ? sigabbrev_np(lost) : "?";
	if (how == TAKE_HANDLER)
		cprof_warn_once(&said, "the program installed its own handler for signal %d (SIG%s), which "
				       "CPU profiling was using; the CPU profile stops here", lost, name);
	else if (!atomic_exchange(&said, 1))
		cprof_warn_later_signal(lost, "the program set signal %d (SIG%s), which CPU profiling was "
					      "using, %s; the CPU profile stopped there");
}

/* ---- names of threads that ended --------------------------------------------------
 *
 * A thread's registry record goes when the thread ends, but its last
 * samples may still be in the ring, up to 100 ms of them: named from the
 * registry at the next drain, they would read "tid N" (1 to 4% of a
 * short-lived worker's samples).  So a thread that ends after taking
 * samples leaves its name here, with the ring position `until` past its
 * last sample (read after its timer was deleted, which also discards a
 * pending expiry): the drain names a sample of that tid at a position
 * before `until` from here, and frees the slot once it has drained past
 * `until`.  A sample taken later by a new thread that reuses the tid is
 * at a later position and is named from the registry.
 *
 * Lock-free: producers (ending threads, the scanner) claim a free slot
 * 0 -> 1 by CAS, fill it and publish it (2); the one consumer, the holder
 * of dump_lock, reads published slots and frees them (0).  With every
 * slot taken, a name is lost (its samples read "tid N"), nothing else.
 */
#define ENDED_MAX 512

struct ended {
	atomic_int state; /* 0 free, 1 being filled, 2 published */
	int tid;
	unsigned long until;
	char name[16];
};

static struct ended ended[ENDED_MAX];
static atomic_int n_ended; /* slots not free: the drain skips the search at 0 */

void cpuprof_thread_ended(struct thread_rec *r, bool self)
{
	char name[16];

	if (self && r->paused && r->has_timer)
		blocked_settle(r);
	cpuprof_timer_stop(r);
	if (self ? !cprof_tls.cpu_sampled : !r->name[0])
		return;
	memcpy(name, r->name, sizeof(name));
	if (!name[0] && prctl(PR_GET_NAME, name, 0, 0, 0) != 0)
		return;
	name[sizeof(name) - 1] = '\0';
	for (unsigned i = 0; i < ENDED_MAX; i++) {
		struct ended *e = &ended[((unsigned)r->tid + i) % ENDED_MAX];
		int free_ = 0;
		if (atomic_load_explicit(&e->state, memory_order_relaxed) != 0 ||
		    !atomic_compare_exchange_strong(&e->state, &free_, 1))
			continue;
		atomic_fetch_add(&n_ended, 1);
		e->tid = r->tid;
		e->until = atomic_load(&enq_pos);
		memcpy(e->name, name, sizeof(name));
		atomic_store_explicit(&e->state, 2, memory_order_release);
		return;
	}
}

/* The slot an ended thread left for a sample of `tid` at ring position
 * `pos`, or NULL.  dump_lock held. */
static const struct ended *ended_find(int tid, unsigned long pos)
{
	for (unsigned i = 0; i < ENDED_MAX; i++) {
		struct ended *e = &ended[((unsigned)tid + i) % ENDED_MAX];
		if (atomic_load_explicit(&e->state, memory_order_acquire) == 2 && e->tid == tid &&
		    (long)(pos - e->until) < 0)
			return e;
	}
	return NULL;
}

/* Free the slots whose threads' samples are all drained.  dump_lock held. */
static void ended_retire(unsigned long drained)
{
	for (unsigned i = 0; i < ENDED_MAX; i++) {
		struct ended *e = &ended[i];
		if (atomic_load_explicit(&e->state, memory_order_acquire) == 2 &&
		    (long)(drained - e->until) >= 0) {
			atomic_store_explicit(&e->state, 0, memory_order_release);
			atomic_fetch_sub(&n_ended, 1);
		}
	}
}

/* ---- the table ------------------------------------------------------------------ */

void cpuprof_drain(void)
{
	unsigned long pos = atomic_load_explicit(&deq_pos, memory_order_relaxed);
	int last_tid = -1;
	uint32_t last_name = 0;
	unsigned long last_until = pos; /* last_name holds for positions before this */

	if (!ring)
		return;
	for (;;) {
		struct cell *c = &ring[pos & (RING_SIZE - 1)];
		if (cell_seq(c, pos) != pos + 1)
			break;
		if (c->weight) {
			if (c->tid != last_tid || (long)(pos - last_until) >= 0) {
				const struct ended *e = NULL;
				if (atomic_load_explicit(&n_ended, memory_order_relaxed))
					e = ended_find(c->tid, pos);
				if (e) {
					last_name = cpuwin_name_id(e->name);
					last_until = e->until;
				} else {
					char name[32];
					threads_name(c->tid, name, sizeof(name), false);
					/* It may have ended meanwhile: its slot is
					 * published before its record goes. */
					if (atomic_load_explicit(&n_ended, memory_order_acquire) &&
					    (e = ended_find(c->tid, pos)) != NULL)
						cprof_fmt(name, sizeof(name), "%s", e->name);
					last_name = cpuwin_name_id(name);
					last_until = e ? e->until : pos + ULONG_MAX / 2;
				}
				last_tid = c->tid;
			}
			uint32_t stack = stacktab_intern(c->pcs, c->depth, STACK_LEAF_EXACT);
			uint32_t set = c->labels;
			if (c->foreign.has_otel || c->foreign.custom_len)
				set = labels_resolve(set, &c->foreign, custom ? custom[pos & (RING_SIZE - 1)] : NULL);
			cpuwin_add(stack, last_name, set, c->weight);
		}
		cell_set(c, pos, pos + RING_SIZE);
		pos++;
		atomic_store_explicit(&deq_pos, pos, memory_order_relaxed);
	}
	atomic_store_explicit(&wake_pending, 0, memory_order_relaxed);
	if (atomic_load_explicit(&n_ended, memory_order_relaxed))
		ended_retire(pos);
	blocked_drain();
	cpuwin_set_lost(atomic_load(&lost_reentrant), atomic_load(&lost_full), atomic_load(&lost_gate));
}

void cpuprof_housekeeping(void)
{
	static unsigned ticks;
	if (cprof_mutex_trylock(&dump_lock)) {
		cpuprof_drain();
		cprof_mutex_unlock(&dump_lock);
	}
	if (atomic_load(&enabled) && ++ticks % 10 == 0)
		threads_scan();
}

/* ---- setup ------------------------------------------------------------------------- */

static bool signal_free(int s)
{
	struct sigaction old;
	return REAL(sigaction)(s, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
	       !(old.sa_flags & SA_SIGINFO);
}

static int choose_signal(void)
{
	struct sigaction old;
	if (signal_free(SIGPROF))
		return SIGPROF;
	/* Ignored from the start: inherited, and said once per tree (log.h). */
	bool ignored = REAL(sigaction)(SIGPROF, NULL, &old) == 0 && old.sa_handler == SIG_IGN;
	for (int s = SIGRTMAX; s >= SIGRTMIN + 2; s--) {
		if (s != rt.cfg.dump_signal && signal_free(s)) {
			if (!ignored)
				cprof_warn("the program handles SIGPROF; CPU profiling uses signal %d "
					   "(SIGRTMAX-%d) instead", s, SIGRTMAX - s);
			else if (!log_parent_ignores(SIGPROF))
				cprof_warn_tree("the program ignores SIGPROF; CPU profiling uses signal %d "
						"(SIGRTMAX-%d) instead", s, SIGRTMAX - s);
			return s;
		}
	}
	cprof_warn("no free signal for CPU profiling (SIGPROF and every real-time signal are taken); "
		   "the CPU profile is off");
	return 0;
}

static int install(void)
{
	struct sigaction sa;
	if (sig)
		return 0;
	int s = choose_signal();
	if (!s)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_prof;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (REAL(sigaction)(s, &sa, NULL) != 0)
		return -1;
	sig = s;
	rt.cpu_signal = s;
	return 0;
}

static int setup_ring(void)
{
	if (ring)
		return 0;
	/* Zero pages: every cell empty (cell_seq), none touched yet. */
	struct cell *r = pages_alloc(sizeof(struct cell) * RING_SIZE);
	if (!r)
		return -1;
	custom = pages_alloc(sizeof(*custom) * RING_SIZE); /* NULL: no custom labels */
	ring = r;
	return 0;
}

int cpuprof_start_window(void)
{
	if (atomic_load(&enabled))
		return 0;
	period_ns = 1000000000LL / (rt.cfg.cpu_hz ? rt.cfg.cpu_hz : CPROF_DEFAULT_CPU_HZ);
	if (setup_ring() != 0 || install() != 0)
		return -1;
	atomic_store(&enabled, true);
	/* Timers for every known thread, then for the ones /proc shows. */
	struct thread_rec *self = cprof_tls.rec;
	if (self)
		threads_register_self(self->hooked);
	threads_scan();
	return 0;
}

int cpuprof_init(void)
{
	cpuwin_init(cprof_now_ns(), cprof_realtime_ns());
	/* The signal serves thread stack requests too, so it is installed
	 * whenever profiling runs; timers only for the CPU profile. */
	install();
	if (!(rt.profiles & PROF_CPU))
		return 0;
	return cpuprof_start_window();
}

bool cpuprof_enabled(void)
{
	return atomic_load(&enabled);
}

int cpuprof_signal(void)
{
	return sig;
}

int64_t cpuprof_period_ns(void)
{
	return period_ns ? period_ns : 1000000000LL / CPROF_DEFAULT_CPU_HZ;
}

void cpuprof_fork_child(void)
{
	/* Timers are not inherited and the ring may hold the parent's samples
	 * (or a slot claimed by a thread that no longer exists): start over. */
	if (ring && madvise(ring, sizeof(struct cell) * RING_SIZE, MADV_DONTNEED) != 0)
		for (unsigned long i = 0; i < RING_SIZE; i++)
			atomic_store_explicit(&ring[i].seq, 0, memory_order_relaxed);
	atomic_store(&enq_pos, 0);
	atomic_store(&deq_pos, 0);
	atomic_store(&wake_pending, 0);
	atomic_store(&lost_reentrant, 0);
	atomic_store(&lost_full, 0);
	atomic_store(&lost_gate, 0);
	for (unsigned i = 0; i < ENDED_MAX; i++)
		atomic_store_explicit(&ended[i].state, 0, memory_order_relaxed);
	atomic_store(&n_ended, 0);
	for (unsigned i = 0; i < NOTES_MAX; i++)
		atomic_store_explicit(&notes[i].state, 0, memory_order_relaxed);
	atomic_store(&n_notes, 0);
	cpuwin_fork_child(cprof_now_ns(), cprof_realtime_ns());
	if (atomic_load(&enabled) && cprof_tls.rec) {
		cprof_tls.rec->has_timer = false;
		cpuprof_timer_start(cprof_tls.rec, true); /* restarts blocked_cpu if paused */
	}
}

void cpuprof_stats(struct cpuprof_stats *s)
{
	s->samples = atomic_load(&n_samples);
	s->lost_reentrant = atomic_load(&lost_reentrant);
	s->lost_full = atomic_load(&lost_full);
	s->lost_gate = atomic_load(&lost_gate);
	s->foreign_signals = atomic_load(&n_foreign);
}
