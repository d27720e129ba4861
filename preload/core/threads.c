/*
 * threads.c - the thread registry (see threads.h).
 *
 * Invariants:
 *  - `lock` protects `head`, `free_list`, `index` and every record's
 *    membership and timer fields.  Timer syscalls are made with it held
 *    (one syscall each; never blocks).
 *  - A tid appears at most once in the registry.
 *  - Records are never unmapped; a recycled record may be reused for
 *    another thread only after its owner's destructor cleared its TLS
 *    pointer.
 *  - A record with readers > 0 is never removed or recycled; `ts` is set
 *    only for threads whose stack outlives their record (threads.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "labels.h"
#include "threads.h"
#include "arena.h"
#include "cpuprof.h"
#include "lock.h"
#include "log.h"
#include "runtime.h"
#include "tstate.h"
#include "unwind.h"

#define INDEX_SIZE 4096

static spinlock_t lock;
CPROF_LOCK_CLASS(threads, LOCK_RANK_THREADS, lock);
static struct thread_rec *head;
static struct thread_rec *free_list;
static struct thread_rec *index_[INDEX_SIZE];
static size_t count;
static atomic_int internal_count;   /* cprof's own live threads */
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static bool key_ok;

/* Chained hash on tid: the chain link lives beside the record. */
struct rec_ext {
	struct thread_rec rec;
	struct thread_rec *hnext;
};

#define HNEXT(r) (((struct rec_ext *)(r))->hnext)

static unsigned slot(int tid)
{
	return (unsigned)cprof_hash64((uint64_t)tid) & (INDEX_SIZE - 1);
}

static struct thread_rec *find_locked(int tid)
{
	for (struct thread_rec *r = index_[slot(tid)]; r; r = HNEXT(r))
		if (r->tid == tid)
			return r;
	return NULL;
}

static struct thread_rec *new_locked(int tid)
{
	struct thread_rec *r = free_list;
	if (r) {
		free_list = r->next;
	} else {
		r = arena_alloc(sizeof(struct rec_ext));
		if (!r)
			return NULL;
	}
	memset(r, 0, sizeof(struct rec_ext));
	r->tid = tid;
	r->next = head;
	head = r;
	unsigned s = slot(tid);
	HNEXT(r) = index_[s];
	index_[s] = r;
	count++;
	return r;
}

static void remove_locked(struct thread_rec *r)
{
	for (struct thread_rec **p = &head; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	for (struct thread_rec **p = &index_[slot(r->tid)]; *p; p = &HNEXT(*p)) {
		if (*p == r) {
			*p = HNEXT(r);
			break;
		}
	}
	cpuprof_timer_stop(r);
	r->tid = 0;
	r->ts = NULL;
	r->next = free_list;
	free_list = r;
	count--;
}

static void on_thread_exit(void *arg)
{
	/* pthread key destructor: the thread is ending. */
	(void)arg;
	threads_unregister_self();
}

static void make_key(void)
{
	key_ok = pthread_key_create(&key, on_thread_exit) == 0;
}

int threads_init(void)
{
	pthread_once(&key_once, make_key);
	return key_ok ? 0 : -1;
}

static void read_comm(int tid, char *out, size_t outlen)
{
	char path[64];
	cprof_fmt(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	long n = cprof_read_file(path, out, outlen);
	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
}

struct thread_rec *threads_register_self(bool hooked)
{
	struct tstate *t = &cprof_tls;
	char name[16];

	guard_enter();
	tstate_first_contact(t);
	/* The stack bounds both walkers check every frame against, taken
	 * now, at the thread's start (or cprof's): the unwinder must not ask
	 * for them from inside the program's calls (unwind.c, cfi_here).
	 * The name is read when a sample first needs it (threads_name), by
	 * which time a new thread has usually named itself. */
	tstate_stack_bounds(t);
	name[0] = '\0';
	/* The main thread's name now, by prctl: read later from /proc by the
	 * CPU profile's drain, it would cost a descriptor on cprof's thread
	 * while the program runs (threads_program_gone).  Other threads are
	 * named when a sample first needs it: by then they have usually
	 * named themselves. */
	if (!hooked && t->tid == getpid())
		prctl(PR_GET_NAME, name);
	sigset_t cur;
	bool blocked = cpuprof_signal() && pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 &&
		       sigismember(&cur, cpuprof_signal()) == 1;
	bool unregisters = false;
	if (hooked) {
		pthread_once(&key_once, make_key);
		if (key_ok)
			unregisters = pthread_setspecific(key, (void *)1) == 0;
	}
	/* Its stack may be read while it is pinned: it unregisters before
	 * its stack goes, or (the main thread) its stack never goes. */
	struct tstate *ts = unregisters || t->tid == getpid() ? t : NULL;
	labels_thread_start(t); /* labels other libraries publish on it, if any */
	spin_lock(&lock);
	struct thread_rec *r = find_locked(t->tid);
	if (r && (!r->hooked || hooked)) {
		/* Known already: found by the scanner first, or a stale record
		 * of a dead thread whose tid was reused.  Start afresh. */
		cpuprof_timer_stop(r);
	} else if (!r) {
		r = new_locked(t->tid);
	}
	if (r) {
		r->hooked = hooked;
		r->create_stack = 0;
		r->pth = pthread_self();
		r->paused = blocked;
		if (!r->name[0] || hooked)
			memcpy(r->name, name, sizeof(name));
		if (r->ts != ts)
			r->stack_lo = r->stack_hi = 0;
		r->ts = ts;
		if (!r->internal)
			cpuprof_timer_start(r, true);
	}
	spin_unlock(&lock);
	t->rec = r;
	guard_leave();
	return r;
}

void threads_unregister_self(void)
{
	struct tstate *t = &cprof_tls;
	if (!t->rec)
		return;
	guard_enter();
	spin_lock(&lock);
	struct thread_rec *r = find_locked(t->tid);
	if (r == t->rec && atomic_load(&r->readers)) {
		/* A collector is copying this thread's stack: let it finish
		 * (microseconds) before the stack can be released. */
		r->exiting = true;
		spin_unlock(&lock);
		WITNESS_HOLDS_NONE("waiting for a stack copy while holding a lock");
		while (atomic_load(&r->readers))
			sched_yield();
		spin_lock(&lock);
		r = find_locked(t->tid);
	}
	if (r == t->rec) {
		cpuprof_thread_ended(r, true); /* its last samples keep its name */
		remove_locked(r);
	}
	spin_unlock(&lock);
	t->rec = NULL;
	t->exited = 1;
	guard_leave();
}

void threads_mark_internal(void)
{
	struct tstate *t = &cprof_tls;
	tstate_first_contact(t);
	spin_lock(&lock);
	struct thread_rec *r = find_locked(t->tid);
	if (!r)
		r = new_locked(t->tid);
	if (r) {
		cpuprof_timer_stop(r);
		r->internal = true;
		r->hooked = true;
	}
	spin_unlock(&lock);
	t->rec = r;
	atomic_fetch_add(&internal_count, 1);
}

void threads_internal_exit(void)
{
	atomic_fetch_sub(&internal_count, 1);
}

/*
 * Has every thread of the program ended, leaving only cprof's own?  glibc
 * ends the process (exit(0)) when its last thread calls pthread_exit, but
 * it counts cprof's threads too, so without this check a program whose
 * main thread ends with pthread_exit would never exit.  Cheap first: the
 * link count of /proc/self/task is the number of threads + 2 (the kernel
 * computes it in O(1)); a zombie thread-group leader is still counted, so
 * when nothing but cprof's threads and possibly the leader remain, ask
 * whether the leader still has its memory: /proc/self/task/<pid>/exe
 * resolves only while it does (ENOENT once it has exited).
 *
 * Runs on the writer thread ten times a second, while the program runs:
 * it must not allocate a file descriptor.  A descriptor opened here takes
 * the lowest free number, which a program that closes 2 and then dup2()s
 * onto it (a shell running `cmd 2>&1`) believes no one else can take:
 * its dup2 failed with EBUSY, or silently replaced the file this thread
 * then read and closed (test/progs/fd_juggle.c).  stat() allocates none.
 */
bool threads_program_gone(void)
{
	struct stat st;
	int internal = atomic_load(&internal_count);
	if (stat("/proc/self/task", &st) != 0)
		return false;
	long n = (long)st.st_nlink - 2;
	if (n > internal + 1)
		return false;
	char path[64];
	cprof_fmt(path, sizeof(path), "/proc/self/task/%d/exe", (int)getpid());
	return stat(path, &st) != 0 && errno == ENOENT;
}

/* getdents64 on /proc/self/task: no opendir (it allocates). */
struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static size_t list_tids(int *tids, size_t max)
{
	char buf[8192];
	size_t n = 0;
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (;;) {
		long got = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (got <= 0)
			break;
		for (long off = 0; off < got;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
			off += d->d_reclen;
			int tid = 0;
			const char *s = d->d_name;
			if (*s < '0' || *s > '9')
				continue;
			for (; *s >= '0' && *s <= '9'; s++)
				tid = tid * 10 + (*s - '0');
			if (n < max)
				tids[n++] = tid;
		}
	}
	close(fd);
	return n;
}

void threads_scan(void)
{
	enum { MAXSCAN = 65536 };
	static int tids[MAXSCAN]; /* only the writer thread or init scans */
	pid_t pid = getpid();
	/* Listing the threads opens /proc/self/task, a descriptor (see
	 * threads_program_gone): only when the kernel counts threads the
	 * registry does not know. */
	struct stat st;
	bool list = true;
	if (stat("/proc/self/task", &st) == 0) {
		spin_lock(&lock);
		list = (size_t)st.st_nlink - 2 != count;
		spin_unlock(&lock);
	}
	size_t n = list ? list_tids(tids, MAXSCAN) : 0;

	spin_lock(&lock);
	for (size_t i = 0; i < n; i++) {
		struct thread_rec *r = find_locked(tids[i]);
		if (!r) {
			r = new_locked(tids[i]);
			if (!r)
				break;
			r->hooked = false;
		}
		/* Also arms threads that registered before CPU profiling started
		 * (created by another library's constructor, before cprof's). */
		if (!r->internal && !r->has_timer)
			cpuprof_timer_start(r, tids[i] == cprof_tls.tid && cprof_tls.tid);
	}
	/* Every thread was listed above, or the registry knows them all:
	 * arm its records the same way. */
	for (struct thread_rec *r = head; !list && r; r = r->next)
		if (!r->internal && !r->has_timer)
			cpuprof_timer_start(r, r->tid == cprof_tls.tid && cprof_tls.tid);
	/* Drop foreign records whose thread is gone. */
	for (struct thread_rec *r = head, *next; r; r = next) {
		next = r->next;
		if (!r->hooked && !r->internal && !atomic_load(&r->readers) &&
		    syscall(SYS_tgkill, pid, r->tid, 0) != 0 && errno == ESRCH) {
			cpuprof_thread_ended(r, false);
			remove_locked(r);
		}
	}
	/* Names of threads that have none yet (a descriptor each: only in a
	 * scan that had to list). */
	for (struct thread_rec *r = head; list && r; r = r->next)
		if (!r->name[0] && !r->internal)
			read_comm(r->tid, r->name, sizeof(r->name));
	spin_unlock(&lock);
}

void threads_name(int tid, char *out, size_t outlen, bool refresh)
{
	out[0] = '\0';
	spin_lock(&lock);
	struct thread_rec *r = find_locked(tid);
	if (r && !refresh && r->name[0]) {
		cprof_fmt(out, outlen, "%s", r->name);
		spin_unlock(&lock);
		return;
	}
	spin_unlock(&lock);
	char name[16];
	read_comm(tid, name, sizeof(name));
	if (!name[0])
		cprof_fmt(name, sizeof(name), "tid %d", tid);
	cprof_fmt(out, outlen, "%s", name);
	spin_lock(&lock);
	r = find_locked(tid);
	if (r)
		memcpy(r->name, name, sizeof(name));
	spin_unlock(&lock);
}

void threads_set_name(pthread_t th, const char *name)
{
	spin_lock(&lock);
	for (struct thread_rec *r = head; r; r = r->next) {
		/* Threads that registered themselves, the main thread among
		 * them (the scanner's records have no pthread_t). */
		if (r->pth && pthread_equal(r->pth, th)) {
			cprof_fmt(r->name, sizeof(r->name), "%s", name);
			break;
		}
	}
	spin_unlock(&lock);
}

struct thread_rec *threads_pin(int tid)
{
	spin_lock(&lock);
	struct thread_rec *r = find_locked(tid);
	if (r && r->ts && !r->exiting && !r->internal)
		atomic_fetch_add(&r->readers, 1);
	else
		r = NULL;
	spin_unlock(&lock);
	return r;
}

void threads_unpin(struct thread_rec *r)
{
	atomic_fetch_sub(&r->readers, 1);
}

bool threads_stack_bounds(struct thread_rec *r, uintptr_t *lo, uintptr_t *hi)
{
	if (!r->stack_hi) {
		/* The thread is pinned, so its pthread_t is valid; for the main
		 * thread glibc reads /proc/self/maps (once per process). */
		pthread_attr_t attr;
		void *addr;
		size_t size;
		if (pthread_getattr_np(r->pth, &attr) != 0)
			return false;
		if (pthread_attr_getstack(&attr, &addr, &size) == 0 && size) {
			r->stack_lo = (uintptr_t)addr;
			r->stack_hi = (uintptr_t)addr + size;
		}
		pthread_attr_destroy(&attr);
	}
	*lo = r->stack_lo;
	*hi = r->stack_hi;
	return *hi != 0;
}

void threads_foreach(threads_fn fn, void *arg)
{
	spin_lock(&lock);
	for (struct thread_rec *r = head; r; r = r->next)
		if (!r->internal)
			fn(r, arg);
	spin_unlock(&lock);
}

bool threads_others_alive(void)
{
	int self = cprof_tls.tid ? cprof_tls.tid : cprof_gettid();
	bool found = false;
	spin_lock(&lock);
	for (struct thread_rec *r = head; r && !found; r = r->next)
		found = !r->internal && r->tid != self;
	spin_unlock(&lock);
	return found;
}

size_t threads_count(void)
{
	return __atomic_load_n(&count, __ATOMIC_RELAXED);
}

/* ---- pausing a thread's own timer ------------------------------------------- */

void threads_pause_self(void)
{
	int tid = cprof_tls.tid ? cprof_tls.tid : cprof_gettid();
	spin_lock(&lock);
	struct thread_rec *r = find_locked(tid);
	if (r && !r->paused) {
		r->paused = true;
		cpuprof_pause(r);
	}
	spin_unlock(&lock);
}

void threads_resume_self(void)
{
	int tid = cprof_tls.tid ? cprof_tls.tid : cprof_gettid();
	spin_lock(&lock);
	struct thread_rec *r = find_locked(tid);
	if (r && r->paused) {
		r->paused = false;
		cpuprof_resume(r);
	}
	spin_unlock(&lock);
}

/* ---- threadcreate: stack -> count, under the registry lock ----------------------- */

#define CREATE_MAX 65536

static struct {
	uint32_t stack;
	uint64_t count;
} *creates;
static uint32_t ncreates;

void threads_note_create(uint32_t stack)
{
	spin_lock(&lock);
	if (!creates)
		creates = pages_alloc(sizeof(*creates) * CREATE_MAX);
	if (creates) {
		uint32_t i;
		for (i = 0; i < ncreates && creates[i].stack != stack; i++)
			;
		if (i < ncreates) {
			creates[i].count++;
		} else if (ncreates < CREATE_MAX) {
			creates[ncreates].stack = stack;
			creates[ncreates].count = 1;
			ncreates++;
		}
	}
	spin_unlock(&lock);
}

void threads_foreach_create(threads_create_fn fn, void *arg)
{
	spin_lock(&lock);
	uint32_t n = ncreates;
	spin_unlock(&lock);
	for (uint32_t i = 0; i < n; i++)
		fn(i + 1, creates[i].stack, creates[i].count, arg);
}



void threads_fork_child(void)
{
	atomic_store(&internal_count, 0); /* the writer is restarted after this */
	/* Only the forking thread exists now: keep its record, drop the
	 * rest (their timers did not survive the fork). */
	int self = cprof_gettid();
	for (struct thread_rec *r = head, *next; r; r = next) {
		next = r->next;
		r->has_timer = false;
		if (r != cprof_tls.rec)
			remove_locked(r);
	}
	if (cprof_tls.rec) {
		struct thread_rec *r = cprof_tls.rec;
		atomic_store(&r->readers, 0);
		r->exiting = false;
		/* Re-index under the child's tid. */
		for (struct thread_rec **p = &index_[slot(r->tid)]; *p; p = &HNEXT(*p)) {
			if (*p == r) {
				*p = HNEXT(r);
				break;
			}
		}
		r->tid = self;
		HNEXT(r) = index_[slot(self)];
		index_[slot(self)] = r;
		if (!r->name[0]) /* the child's only thread: as for a main thread */
			prctl(PR_GET_NAME, r->name);
	}
	cprof_tls.tid = self;
}
