/*
 * dump.c - the writer thread, the trigger signal and profile files
 * (see dump.h for the design).
 *
 * Contexts:
 *  - on_signal(): the trigger signal's handler; async-signal-safe: a
 *    queued request for an answer (reply.h) is stored in a free slot of
 *    `replies` with a compare-and-swap and plain stores, then one atomic
 *    increment and a futex wake; nothing else, errno preserved.
 *  - writer(): cprof's own thread, all signals blocked, guard held.
 *  - dump_all(): the writer, the exiting thread (atexit); serialised by
 *    files_lock.  Each profile is read from the tables under dump_lock
 *    and rendered outside it (session.h), as HTTP answers are.
 *
 * Invariants:
 *  - dump_wake_word changes on every request, so a wake between the writer's
 *    check and its futex wait is never lost (FUTEX_WAIT compares it).
 *  - finished is set by the exit dump while it holds files_lock and read
 *    under it: no dump starts after the exit dump (see dump.h).
 *  - seq (dump sequence number) only grows within a process; a fork child
 *    starts again from 0, so %n is 1 for every process's first dump (its
 *    files are told apart from the parent's by the pid).
 *  - A reply slot goes FREE -> FILLING (the handler's CAS: only one
 *    handler owns it) -> READY (release store, after pid and word) ->
 *    TAKING (the CAS of the one thread that serves it: the writer, or
 *    the exit dump) -> FREE (after it has read them).  The handler
 *    fills a slot BEFORE it increments requests, so the writer, which
 *    reads requests before it collects the READY slots, answers every
 *    request with a set started after the request arrived.  No slot free
 *    (more than REPLY_SLOTS requests at once): the dump is still made,
 *    that requester gets no answer and times out.
 *  - An answer goes only through a pidfd opened before the requester's
 *    command line was checked (reply.h): never to a pid that may have
 *    changed hands.
 *  - Error reporting: the first failure to write into a directory is
 *    reported with one line; the same failure is not repeated until a
 *    write succeeds again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "reply.h"
#include "builder.h"
#include "session.h"
#include "config.h"
#include "cpuprof.h"
#include "log.h"
#include "mappings.h"
#include "profiles.h"
#include "real.h"
#include "runtime.h"
#include "symbols.h"
#include "targets.h"
#include "threads.h"
#include "tstate.h"

/* Serialises the dumps that write files, so a numbered set is written as
 * one and the newest takes the name.  Held across a whole dump, so fork
 * does not wait for it (lock.h, abandoned classes): a child forked during
 * a dump simply starts its own (dump_fork_child). */
static cprof_mutex_t files_lock;
CPROF_MUTEX_CLASS_ABANDONED(files, LOCK_RANK_FILES, files_lock, NULL);

static atomic_uint requests;
static atomic_ulong seq;
static int trigger_signal;
static atomic_int last_error;   /* errno of the last failed write, 0 after a success */
static atomic_int writer_running;
static atomic_bool finished;     /* the exit dump was made; set under files_lock */

/* Fatal-signal dumps (see dump_install_term): the handler raises
 * term_request and waits on term_done for at most TERM_WAIT. */
static atomic_int term_request, term_done, term_once;
static int term_signals[2] = {SIGTERM, SIGINT};
static atomic_bool term_owned[2];
#define TERM_WAIT_NS 2000000000LL

void dump_request(void)
{
	atomic_fetch_add(&requests, 1);
	dump_wake();
}

/* ---- answered requests (reply.h) ------------------------------------------ */

#define REPLY_SLOTS 16
enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_TAKING };
static struct {
	atomic_int state;
	int pid;
	uint64_t word;
} replies[REPLY_SLOTS];

/* A requester whose identity was checked: the pidfd the answer goes
 * through, and what to answer with. */
struct requester {
	int pidfd;
	int sig;
	uint32_t token;
};

/* Signal handler: async-signal-safe (lock-free atomics and plain stores). */
static void note_request(const siginfo_t *si)
{
	uint64_t w = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
	if (si->si_code != SI_QUEUE || !REPLY_IS_REQUEST(w) || si->si_pid <= 0)
		return;
	for (int i = 0; i < REPLY_SLOTS; i++) {
		int expect = SLOT_FREE;
		if (atomic_compare_exchange_strong(&replies[i].state, &expect, SLOT_FILLING)) {
			replies[i].pid = si->si_pid;
			replies[i].word = w;
			atomic_store_explicit(&replies[i].state, SLOT_READY, memory_order_release);
			return;
		}
	}
}

static int sys_pidfd_open(int pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* pidfd of the process that asked, or -1: opened first, then its command
 * line must hold the argument the request word describes (reply.h). */
static int requester_pidfd(int pid, uint64_t w)
{
	char want[64], cmdline[4096];
	int sig = REPLY_REQ_SIG(w);
	if (sig < SIGRTMIN || sig > SIGRTMAX)
		return -1;
	int fd = sys_pidfd_open(pid);
	if (fd < 0)
		return -1;
	char path[64];
	cprof_fmt(path, sizeof(path), "/proc/%d/cmdline", pid);
	long n = cprof_read_file(path, cmdline, sizeof(cmdline));
	size_t wlen = cprof_fmt(want, sizeof(want), REPLY_ARG_PREFIX "%d:%08x", sig, (unsigned)REPLY_REQ_TOKEN(w));
	for (long i = 0; i < n;) {
		size_t len = strlen(cmdline + i);
		if (len == wlen && memcmp(cmdline + i, want, wlen) == 0)
			return fd;
		i += (long)len + 1;
	}
	close(fd);
	return -1;
}

/* Take every READY slot; returns how many requesters were kept in out. */
static int collect_requests(struct requester *out, int max)
{
	int saved = errno, k = 0;
	for (int i = 0; i < REPLY_SLOTS; i++) {
		int expect = SLOT_READY;
		if (!atomic_compare_exchange_strong(&replies[i].state, &expect, SLOT_TAKING))
			continue;
		int pid = replies[i].pid;
		uint64_t w = replies[i].word;
		atomic_store(&replies[i].state, SLOT_FREE);
		if (k >= max)
			continue;
		int fd = requester_pidfd(pid, w);
		if (fd >= 0)
			out[k++] = (struct requester){fd, REPLY_REQ_SIG(w), REPLY_REQ_TOKEN(w)};
	}
	errno = saved;
	return k;
}

/* Answer: set n (0 = none written) with these kinds.  A requester that
 * has ended gets nothing (ESRCH), and no other process can. */
static void answer_requests(struct requester *r, int k, unsigned long n, unsigned kinds)
{
	int saved = errno;
	for (int i = 0; i < k; i++) {
		siginfo_t info;
		memset(&info, 0, sizeof(info));
		info.si_signo = r[i].sig;
		info.si_code = SI_QUEUE;
		info.si_pid = getpid();
		info.si_uid = getuid();
		info.si_value.sival_ptr = (void *)(uintptr_t)REPLY_ANSWER(kinds, r[i].token, n);
#ifdef SYS_pidfd_send_signal
		syscall(SYS_pidfd_send_signal, r[i].pidfd, r[i].sig, &info, 0);
#endif
		close(r[i].pidfd);
	}
	errno = saved;
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	(void)sig;
	(void)uc;
	if (si)
		note_request(si);
	dump_request();
	errno = saved;
}

/*
 * SIGTERM / SIGINT with the default action would kill the process without
 * its profiles.  When (and only when) the program leaves them at SIG_DFL,
 * cprof's handler asks the writer thread for a final dump, waits for it at
 * most TERM_WAIT_NS (a futex wait: async-signal-safe), then restores the
 * default action and re-raises, so the process dies by the same signal as
 * it would have.  The wait is bounded in case the dump needs something the
 * interrupted thread holds.
 *
 * A signal that lands on a thread running cprof code (guard held: it may
 * hold a table lock the dump needs) is deferred, not acted on: the handler
 * notes it in the thread's state and returns, and guard_leave(), when the
 * guard drops to zero, sends it again to the same thread, whose handler
 * then runs outside cprof.  A thread of the program holds the guard only
 * for bounded work (a sample, a dump), so the delay is bounded too.
 */
static void on_term(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	(void)si;
	(void)uc;
	if (cprof_tls.guard) {
		cprof_tls.deferred_sig = (uint8_t)sig;
		errno = saved;
		return;
	}
	if (!atomic_exchange(&term_once, 1) && atomic_load(&writer_running)) {
		atomic_store(&term_request, 1);
		dump_wake();
		int64_t deadline = cprof_now_ns() + TERM_WAIT_NS;
		while (!atomic_load(&term_done)) {
			int64_t left = deadline - cprof_now_ns();
			if (left <= 0)
				break;
			struct timespec ts = {left / 1000000000, left % 1000000000};
			cprof_futex(&term_done, FUTEX_WAIT_PRIVATE, 0, &ts);
		}
	}
	targets_withdraw(); /* the process is about to die: no scraper should look */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	REAL(sigaction)(sig, &dfl, NULL);
	/* Pending until this handler returns and the signal is unblocked. */
	syscall(SYS_tgkill, getpid(), cprof_gettid(), sig);
	errno = saved;
}

bool dump_term_signal_owned(int sig)
{
	for (int i = 0; i < 2; i++)
		if (sig == term_signals[i] && atomic_load(&term_owned[i]))
			return true;
	return false;
}

void dump_term_signal_lost(int sig)
{
	for (int i = 0; i < 2; i++)
		if (sig == term_signals[i])
			atomic_store(&term_owned[i], false);
}

static void install_term(void)
{
	for (int i = 0; i < 2; i++) {
		struct sigaction sa, old;
		int sig = term_signals[i];
		if (sig == rt.cfg.dump_signal || REAL(sigaction)(sig, NULL, &old) != 0 ||
		    old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_term;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (REAL(sigaction)(sig, &sa, NULL) == 0)
			atomic_store(&term_owned[i], true);
	}
}

/* ---- file names ----------------------------------------------------------- */

static size_t append(char *out, size_t pos, size_t outlen, const char *s)
{
	while (*s && pos + 1 < outlen)
		out[pos++] = *s++;
	return pos;
}

int dump_expand(const char *pattern, const char *type, unsigned long n, char *out, size_t outlen)
{
	char pid[24], num[24];
	size_t pos = 0;

	if (!outlen)
		return -1;
	out[0] = '\0';
	if (pattern[0] != '/') {
		pos = append(out, pos, outlen, rt.start_dir[0] ? rt.start_dir : ".");
		if (pos && out[pos - 1] != '/')
			pos = append(out, pos, outlen, "/");
	}
	cprof_fmt(pid, sizeof(pid), "%ld", (long)getpid());
	cprof_fmt(num, sizeof(num), "%lu", n);
	struct config_subst sub = {rt.exe_name, pid, num, type, rt.hostname};
	return config_expand(pattern, &sub, out, pos, outlen) == (size_t)-1 ? -1 : 0;
}

/* "dir/name.pb.gz" + k -> "dir/name-k.pb.gz" */
static void with_suffix(const char *path, unsigned k, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');
	const char *ext = strstr(slash ? slash : path, ".pb.gz");
	if (!ext)
		ext = path + strlen(path);
	size_t stem = (size_t)(ext - path);
	if (stem >= outlen)
		stem = outlen - 1;
	memcpy(out, path, stem);
	cprof_fmt(out + stem, outlen - stem, "-%u%s", k, ext);
}

static int rename_noreplace(const char *from, const char *to)
{
#ifdef SYS_renameat2
	long r = syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */);
	if (r == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	/* Filesystems without RENAME_NOREPLACE: link fails if `to` exists. */
	if (link(from, to) != 0)
		return -1;
	unlink(from);
	return 0;
}

/* Swap the contents of two names atomically; -1 with errno EINVAL or
 * ENOSYS where the filesystem or kernel cannot. */
static int rename_exchange(const char *a, const char *b)
{
#ifdef SYS_renameat2
	return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */);
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* Move the file at `from` to the first free suffixed form of `path`. */
static int move_aside(const char *from, const char *path, char *out, size_t outlen)
{
	for (unsigned k = 1; k < 10000; k++) {
		with_suffix(path, k, out, outlen);
		if (rename_noreplace(from, out) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

int dump_write_file(const char *path, const void *buf, size_t len, char *final, size_t finallen,
		    char *moved, size_t movedlen)
{
	static atomic_uint tmp_counter;
	char tmp[4200], dir[4096];
	const char *slash = strrchr(path, '/');
	size_t dlen = slash ? (size_t)(slash - path) : 0;
	int fd, err;

	if (dlen >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, dlen);
	dir[dlen] = '\0';
	cprof_fmt(tmp, sizeof(tmp), "%s/.cprof-tmp.%ld.%d.%u", dlen ? dir : ".", (long)getpid(),
		  cprof_gettid(), atomic_fetch_add(&tmp_counter, 1));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (cprof_write_all(fd, buf, len) != 0 || close(fd) != 0) {
		err = errno;
		close(fd);
		unlink(tmp);
		errno = err;
		return -1;
	}
	if (moved && movedlen)
		moved[0] = '\0';
	cprof_fmt(final, finallen, "%s", path);
	for (int tries = 0; tries < 8; tries++) {
		if (rename_noreplace(tmp, path) == 0)
			return 0;
		if (errno != EEXIST)
			goto fail;
		/* Taken: the newest takes the name; tmp then holds the older
		 * file, which moves to a free suffixed name. */
		if (rename_exchange(tmp, path) == 0) {
			char aside[4200];
			if (move_aside(tmp, path, aside, sizeof(aside)) == 0) {
				if (moved && movedlen)
					cprof_fmt(moved, movedlen, "%s", aside);
				return 0;
			}
			/* Nowhere to keep the older file: put it back. */
			err = errno;
			if (rename_exchange(tmp, path) != 0) {
				/* Cannot happen short of a concurrent removal;
				 * keep the older file under the temporary name
				 * rather than lose it. */
				errno = err;
				return -1;
			}
			errno = err;
			goto fail;
		}
		if (errno == ENOENT)
			continue; /* removed meanwhile: try the plain rename again */
		if (errno != EINVAL && errno != ENOSYS)
			goto fail;
		/* No RENAME_EXCHANGE here: the new file takes the suffix. */
		if (move_aside(tmp, path, final, finallen) == 0)
			return 0;
		goto fail;
	}
	errno = EEXIST;
fail:
	err = errno;
	unlink(tmp);
	errno = err;
	return -1;
}

/* ---- where files go when the output directory fails ----------------------
 *
 * A profile that cannot be written where the pattern says (the directory
 * does not exist, is not writable, the filesystem is read-only or full) is
 * written under the same name in the first directory that takes it: the
 * directory the program started in, then $TMPDIR (read at start), then
 * /tmp.  Each dump tries the pattern's directory first, so files go back
 * there as soon as it works.  The unusable directory is reported once, at
 * start when it can be checked then, naming where files will go instead. */

static char tmp_dir[256];

static bool dir_failure(int err)
{
	return err == ENOENT || err == ENOTDIR || err == EACCES || err == EPERM ||
	       err == EROFS || err == ENOSPC || err == EDQUOT || err == ENAMETOOLONG;
}

static size_t dir_len(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? (size_t)(slash - path) : 0;
}

/* The i-th fallback directory (NULL past the last). */
static const char *fallback_dir(int i)
{
	switch (i) {
	case 0: return rt.start_dir[0] ? rt.start_dir : NULL;
	case 1: return tmp_dir[0] ? tmp_dir : NULL;
	case 2: return "/tmp";
	default: return NULL;
	}
}

static bool same_dir(const char *path, const char *dir)
{
	size_t n = dir_len(path);
	return strlen(dir) == n && memcmp(path, dir, n) == 0;
}

/* First fallback directory, other than path's own, that is writable now. */
static const char *usable_fallback(const char *path)
{
	for (int i = 0; fallback_dir(i); i++) {
		const char *d = fallback_dir(i);
		if (!same_dir(path, d) && access(d, W_OK | X_OK) == 0)
			return d;
	}
	return NULL;
}

static int write_fallback(const char *path, const void *buf, size_t len, char *final, size_t finallen,
			  char *moved, size_t movedlen)
{
	const char *base = path + dir_len(path) + (strchr(path, '/') ? 1 : 0);
	for (int i = 0; fallback_dir(i); i++) {
		char alt[4200];
		const char *d = fallback_dir(i);
		if (same_dir(path, d))
			continue;
		cprof_fmt(alt, sizeof(alt), "%s/%s", d, base);
		if (dump_write_file(alt, buf, len, final, finallen, moved, movedlen) == 0)
			return 0;
	}
	return -1;
}

static void report_failure(const char *path, int err)
{
	if (atomic_exchange(&last_error, err) == err)
		return; /* same failure as last time: said already */
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 1;
	if (n >= sizeof(dir))
		n = sizeof(dir) - 1;
	memcpy(dir, slash ? path : ".", n);
	dir[n] = '\0';
	const char *why = strerrordesc_np(err);
	cprof_warn("cannot write profiles in %s: %s; the program continues and the next dump will try again",
		   dir, why ? why : "error");
}

/* Written elsewhere: say where, once per failure (as report_failure). */
static void report_fallback(const char *path, int err, const char *final)
{
	if (atomic_exchange(&last_error, err) != err) {
		char dir[4096];
		size_t n = dir_len(path);
		if (n >= sizeof(dir))
			n = sizeof(dir) - 1;
		memcpy(dir, n ? path : ".", n ? n : 1);
		dir[n ? n : 1] = '\0';
		const char *why = strerrordesc_np(err);
		cprof_warn("cannot write profiles in %s: %s; writing them in %.*s instead until it works",
			   dir, why ? why : "error", (int)dir_len(final), final);
	}
	cprof_info("wrote %s", final);
}

/* At start: is the directory the pattern names usable?  Checked only when
 * the directory part is known now (no %n or %t in it). */
static void check_output_dir(void)
{
	const char *env = secure_getenv("TMPDIR");
	if (env && env[0] == '/' && strlen(env) < sizeof(tmp_dir))
		cprof_fmt(tmp_dir, sizeof(tmp_dir), "%s", env);
	const char *slash = strrchr(rt.cfg.output, '/');
	if (slash) {
		for (const char *p = rt.cfg.output; p < slash; p++)
			if (p[0] == '%' && (p[1] == 'n' || p[1] == 't'))
				return;
	}
	char path[4200];
	if (dump_expand(rt.cfg.output, "heap", 1, path, sizeof(path)) != 0)
		return;
	char dir[4096];
	size_t n = dir_len(path);
	if (n == 0 || n >= sizeof(dir))
		return;
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (access(dir, W_OK | X_OK) == 0)
		return;
	int err = errno;
	if (!dir_failure(err))
		return;
	atomic_store(&last_error, err);
	const char *why = strerrordesc_np(err);
	const char *alt = usable_fallback(path);
	/* Start-up, and the same CPROF_OUTPUT in every process of a tree:
	 * said once per tree (log.h); another fallback is another line. */
	if (alt)
		cprof_warn_tree("cannot write profiles in %s: %s; until it can be, they will be written in %s",
				dir, why ? why : "error", alt);
	else
		cprof_warn_tree("cannot write profiles in %s: %s, nor in any fallback directory", dir,
				why ? why : "error");
}

/* ---- dumping -------------------------------------------------------------- */

static int write_kind(struct session *s, const struct profile_kind *k, unsigned long n)
{
	char path[4200], final[4200], moved[4200];
	void *buf;
	size_t len;
	struct dump_ctx d = {.reset = true};

	if (session_proto(s, k, &d, 0, &buf, &len) != 0) {
		cprof_warn("out of memory while encoding the %s profile; skipped", k->name);
		return 0;
	}
	if (dump_expand(rt.cfg.output, k->name, n, path, sizeof(path)) != 0) {
		cprof_warn("output path for the %s profile is too long; skipped", k->name);
		return 0;
	}
	if (dump_write_file(path, buf, len, final, sizeof(final), moved, sizeof(moved)) != 0) {
		int err = errno;
		if (!dir_failure(err) ||
		    write_fallback(path, buf, len, final, sizeof(final), moved, sizeof(moved)) != 0) {
			report_failure(path, err);
			return 0;
		}
		report_fallback(path, err, final);
		return 1;
	}
	atomic_store(&last_error, 0);
	if (moved[0])
		cprof_info("wrote %s (the earlier file of that name is now %s)", final, moved);
	else
		cprof_info("wrote %s", final);
	return 1;
}

/* Writes the set; *set_n and *kinds (may be NULL) get its number (0
 * when no set was made: the exit dump was made already, or found nothing
 * to write) and the kinds written (0 if every write failed). */
static int dump_run(bool final, unsigned long *set_n, unsigned *kinds)
{
	struct region r = {0};
	struct session s;
	int written = 0;
	unsigned done = 0;

	if (set_n)
		*set_n = 0;
	if (kinds)
		*kinds = 0;

	if (atomic_load(&rt.state) == RT_NONE)
		return 0;
	guard_enter();
	cprof_mutex_lock(&files_lock);
	if (atomic_load(&finished)) {
		cprof_mutex_unlock(&files_lock);
		guard_leave();
		return 0;
	}
	if (final)
		atomic_store(&finished, true);
	cprof_warn_flush_later(); /* what the program did that these files lack */
	unsigned long n = atomic_fetch_add(&seq, 1) + 1;
	/* The exit dump of a process that recorded nothing writes nothing
	 * (profiles.h): a tree of short processes leaves no empty files.  A
	 * process that has written a set already (a signal, the interval)
	 * ends its series with the exit set, as always. */
	bool none = final && n == 1 && !rt.cfg.empty_files && !session_has_samples(rt.profiles);
	if (none) {
		/* Said by the top of a profiled tree only: in a build, the
		 * processes below it would say it by the thousand. */
		if (!log_parent_profiled())
			cprof_info("this process recorded nothing, so it wrote no profile "
				   "(CPROF_EMPTY_FILES=1 writes them anyway)");
		cprof_mutex_unlock(&files_lock);
		guard_leave();
		return 0;
	}
	session_begin(&s, &r, false);
	for (size_t i = 0; i < profile_kinds_count; i++) {
		const struct profile_kind *k = &profile_kinds[i];
		if ((rt.profiles & k->bit) && write_kind(&s, k, n)) {
			written++;
			done |= k->bit;
		}
	}
	session_end(&s);
	region_reset(&r);
	cprof_mutex_unlock(&files_lock);
	guard_leave();
	if (set_n)
		*set_n = n;
	if (kinds)
		*kinds = done;
	return written;
}

int dump_all(const char *why)
{
	(void)why;
	return dump_run(false, NULL, NULL);
}

/* A dump on the trigger signal: answers the requests that came with it. */
static void dump_requested(void)
{
	struct requester r[REPLY_SLOTS];
	unsigned long n;
	unsigned kinds;
	int k = collect_requests(r, REPLY_SLOTS);
	dump_run(false, &n, &kinds);
	answer_requests(r, k, n, kinds);
}

int dump_final(void)
{
	/* Requests not picked up yet are answered with the exit set, the
	 * last one this process writes. */
	struct requester r[REPLY_SLOTS];
	unsigned long n;
	unsigned kinds;
	int written = dump_run(true, &n, &kinds);
	guard_enter();
	int k = collect_requests(r, REPLY_SLOTS);
	answer_requests(r, k, n, kinds);
	guard_leave();
	return written;
}

/* ---- the writer thread ----------------------------------------------------- */

#define HOUSEKEEPING_NS 100000000LL

static void *writer(void *arg)
{
	/* Not the current count: a request made between pthread_create and
	 * this thread's first instruction (a loaded machine, a SIGUSR2 sent
	 * as soon as the program is up) would be taken as already served.
	 * requests is 0 until the trigger can first fire, here and in a fork
	 * child (dump_fork_child resets it before starting this thread). */
	unsigned seen = 0;
	int64_t next_interval = rt.cfg.interval ? cprof_now_ns() + (int64_t)rt.cfg.interval * 1000000000 : 0;

	(void)arg;
	cprof_tls.guard = 1; /* for the thread's whole life */
	threads_mark_internal();
	for (;;) {
		int w = atomic_load(&dump_wake_word);
		unsigned req = atomic_load(&requests);
		int64_t now = cprof_now_ns();

		if (atomic_load(&term_request)) {
			dump_all("signal");
			atomic_store(&term_done, 1);
			cprof_futex(&term_done, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
			break;
		}
		if (atomic_load(&rt.state) == RT_STOPPED)
			break;
		if (req != seen) {
			seen = req;
			dump_requested();
			continue;
		}
		if (next_interval && now >= next_interval) {
			dump_all("interval");
			next_interval = cprof_now_ns() + (int64_t)rt.cfg.interval * 1000000000;
			continue;
		}
		cpuprof_housekeeping();
		if (threads_program_gone()) {
			/* What glibc does when the last thread calls pthread_exit
			 * (it counted this thread, so it did not): end the process
			 * with status 0, running atexit handlers, ours included. */
			exit(0);
		}
		int64_t wait = HOUSEKEEPING_NS;
		if (next_interval && next_interval - now < wait)
			wait = next_interval - now;
		struct timespec ts = {.tv_sec = wait / 1000000000, .tv_nsec = wait % 1000000000};
		cprof_futex(&dump_wake_word, FUTEX_WAIT_PRIVATE, w, &ts);
	}
	atomic_store(&writer_running, 0);
	return NULL;
}

int dump_start_writer(void)
{
	pthread_t th;
	pthread_attr_t attr;
	sigset_t all, old;

	if (atomic_exchange(&writer_running, 1))
		return 0;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = REAL(pthread_create)(&th, &attr, writer, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		atomic_store(&writer_running, 0);
		cprof_warn("cannot start the profile writer thread (%s); profiles are written at exit only",
			   strerrordesc_np(r) ? strerrordesc_np(r) : "error");
		return -1;
	}
	pthread_setname_np(th, "cprof-writer");
	return 0;
}

/* ---- the trigger signal ----------------------------------------------------- */

bool dump_signal_is(int sig)
{
	return sig > 0 && sig == trigger_signal;
}

static const char *abbrev(int sig)
{
	const char *a = sigabbrev_np(sig);
	return a ? a : "?";
}

void dump_signal_lost(int sig, enum sig_take how)
{
	static atomic_int said;
	if (!dump_signal_is(sig))
		return;
	trigger_signal = 0;
	if (how == TAKE_HANDLER)
		cprof_warn_once(&said, "the program installed its own handler for signal %d (SIG%s); "
				       "dumps on that signal stop (set CPROF_SIGNAL to another signal)",
				sig, abbrev(sig));
	else if (!atomic_exchange(&said, 1))
		cprof_warn_later_signal(sig, "the program set signal %d (SIG%s) %s; dumps on that signal "
					     "stopped there (set CPROF_SIGNAL to another signal)");
}

int dump_install_signal(int sig)
{
	struct sigaction sa, old;

	if (sig <= 0)
		return 0;
	if (REAL(sigaction)(sig, NULL, &old) != 0)
		return -1;
	if (old.sa_handler != SIG_DFL) {
		/* Ignored from the start: inherited, and said once per tree
		 * (log.h). */
		if (old.sa_handler != SIG_IGN)
			cprof_warn("signal %d (SIG%s) already has a handler in this program; cprof leaves it "
				   "alone and writes profiles at exit (set CPROF_SIGNAL to another signal)",
				   sig, abbrev(sig));
		else if (!log_parent_ignores(sig))
			cprof_warn_tree("signal %d (SIG%s) is ignored in this program (it was started that "
					"way); cprof leaves it alone and writes profiles at exit (set "
					"CPROF_SIGNAL to another signal)", sig, abbrev(sig));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (REAL(sigaction)(sig, &sa, NULL) != 0)
		return -1;
	trigger_signal = sig;
	return 0;
}

int dump_init(void)
{
	if (rt.profiles)
		check_output_dir();
	dump_install_signal(rt.cfg.dump_signal);
	install_term();
	return dump_start_writer();
}

void dump_fork_child(void)
{
	/* The writer thread did not survive the fork; the lock was held by the
	 * forking thread (fork_prepare) and is released by the caller. */
	atomic_store(&writer_running, 0);
	atomic_store(&dump_wake_word, 0);
	atomic_store(&requests, 0);
	atomic_store(&term_request, 0);
	atomic_store(&term_done, 0);
	atomic_store(&term_once, 0);
	atomic_store(&finished, false);
	atomic_store(&seq, 0); /* %n counts this process's dumps */
	for (int i = 0; i < REPLY_SLOTS; i++) /* the parent's requesters asked the parent */
		atomic_store(&replies[i].state, SLOT_FREE);
	dump_start_writer();
}
