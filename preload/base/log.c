/*
 * log.c - "cprof: ..." lines on stderr, formatted without stdio, and the
 * rules that keep each problem to one line (log.h).
 *
 * The formatter is deliberately tiny (the subset cprof's own messages use);
 * glibc's snprintf may allocate and takes locale locks, which cprof cannot
 * afford on the paths it logs from (fork child, exit, writer thread while
 * the program holds malloc locks).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static atomic_bool quiet;

void log_set_quiet(bool q)
{
	atomic_store_explicit(&quiet, q, memory_order_relaxed);
}

static size_t put_uint(char *buf, size_t n, size_t pos, unsigned long long v,
		       unsigned base, unsigned width, char pad)
{
	char tmp[32];
	size_t len = 0;

	do {
		unsigned d = (unsigned)(v % base);
		tmp[len++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v && len < sizeof(tmp));
	while (len < width && len < sizeof(tmp))
		tmp[len++] = pad;
	while (len && pos + 1 < n)
		buf[pos++] = tmp[--len];
	return pos;
}

size_t cprof_vfmt(char *buf, size_t n, const char *fmt, va_list ap)
{
	size_t pos = 0;

	if (n == 0)
		return 0;
	for (const char *p = fmt; *p && pos + 1 < n; p++) {
		if (*p != '%') {
			buf[pos++] = *p;
			continue;
		}
		p++;
		char pad = ' ';
		unsigned width = 0;
		int lng = 0;
		if (*p == '0')
			pad = '0';
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (unsigned)(*p++ - '0');
		long prec = -1; /* %.Ns and %.*s: at most N bytes of the string */
		if (*p == '.') {
			p++;
			prec = 0;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			} else {
				while (*p >= '0' && *p <= '9')
					prec = prec * 10 + (*p++ - '0');
			}
		}
		while (*p == 'l' || *p == 'z') {
			lng = (*p == 'z') ? 2 : lng + 1;
			p++;
		}
		switch (*p) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			for (long k = 0; *s && pos + 1 < n && (prec < 0 || k < prec); k++)
				buf[pos++] = *s++;
			break;
		}
		case 'c':
			buf[pos++] = (char)va_arg(ap, int);
			break;
		case 'd':
		case 'i': {
			long long v = lng >= 2 ? va_arg(ap, long long)
				    : lng == 1 ? va_arg(ap, long)
					       : va_arg(ap, int);
			unsigned long long u = (unsigned long long)v;
			if (v < 0) {
				buf[pos++] = '-';
				u = 0ULL - u;
			}
			pos = put_uint(buf, n, pos, u, 10, width, pad);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v = lng >= 2 ? va_arg(ap, unsigned long long)
					     : lng == 1 ? va_arg(ap, unsigned long)
							: va_arg(ap, unsigned);
			pos = put_uint(buf, n, pos, v, *p == 'x' ? 16 : 10, width, pad);
			break;
		}
		case 'p':
			if (pos + 3 < n) {
				buf[pos++] = '0';
				buf[pos++] = 'x';
			}
			pos = put_uint(buf, n, pos, (uintptr_t)va_arg(ap, void *), 16, 0, ' ');
			break;
		case '%':
			buf[pos++] = '%';
			break;
		case '\0':
			p--;
			break;
		default:
			buf[pos++] = '?';
			break;
		}
	}
	buf[pos] = '\0';
	return pos;
}

size_t cprof_fmt(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t r = cprof_vfmt(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

int cprof_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

long cprof_read_file(const char *path, char *buf, size_t len)
{
	int saved = errno;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;
	if (len)
		buf[0] = '\0';
	if (fd >= 0) {
		do
			n = read(fd, buf, len - 1);
		while (n < 0 && errno == EINTR);
		close(fd);
	}
	if (n < 0) {
		errno = saved;
		return -1;
	}
	buf[n] = '\0';
	errno = saved;
	return n;
}

static size_t format_line(char *buf, size_t n, const char *fmt, va_list ap)
{
	size_t len = cprof_fmt(buf, n, "%s", "cprof: ");
	len += cprof_vfmt(buf + len, n - len - 1, fmt, ap);
	buf[len++] = '\n';
	return len;
}

static void vline(const char *fmt, va_list ap)
{
	char buf[1024];
	int saved = errno;
	size_t len = format_line(buf, sizeof(buf), fmt, ap);
	(void)cprof_write_all(2, buf, len);
	errno = saved;
}

static bool is_quiet(void)
{
	return atomic_load_explicit(&quiet, memory_order_relaxed);
}

void cprof_info(const char *fmt, ...)
{
	if (is_quiet())
		return;
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
}

void cprof_warn(const char *fmt, ...)
{
	if (is_quiet())
		return;
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
}

void cprof_warn_once(atomic_int *flag, const char *fmt, ...)
{
	if (is_quiet() || atomic_exchange(flag, 1))
		return;
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
}

/* ---- warnings that wait for the next dump ----------------------------------- */

enum { LATER_FREE, LATER_TAKEN, LATER_READY, LATER_SAID };

#define LATER_MAX 4

static struct later {
	atomic_int state;
	int pid;          /* the process that made the note */
	int sig;
	const char *fmt;  /* a string literal */
} later[LATER_MAX];

/* Program threads (the sigaction hook, possibly inside a signal handler):
 * fills a static slot, no allocation, no lock. */
void cprof_warn_later_signal(int sig, const char *fmt)
{
	if (is_quiet())
		return;
	for (int i = 0; i < LATER_MAX; i++) {
		int expect = LATER_FREE;
		if (!atomic_compare_exchange_strong(&later[i].state, &expect, LATER_TAKEN))
			continue;
		later[i].pid = (int)getpid();
		later[i].sig = sig;
		later[i].fmt = fmt;
		atomic_store(&later[i].state, LATER_READY);
		return;
	}
}

/* What the process has set sig to now, for the note. */
static const char *disposition_now(int sig)
{
	struct sigaction old;
	if (sigaction(sig, NULL, &old) != 0)
		return "to something else";
	if (old.sa_handler == SIG_DFL)
		return "to SIG_DFL (its default action)";
	if (old.sa_handler == SIG_IGN)
		return "to SIG_IGN (ignored)";
	return "to a handler of its own";
}

/* Before every dump (dump.c, guard held): print this process's notes. */
void cprof_warn_flush_later(void)
{
	int saved = errno;
	int me = (int)getpid();
	for (int i = 0; i < LATER_MAX; i++) {
		int expect = LATER_READY;
		if (later[i].pid != me ||
		    !atomic_compare_exchange_strong(&later[i].state, &expect, LATER_SAID))
			continue;
		const char *name = sigabbrev_np(later[i].sig);
		cprof_warn(later[i].fmt, later[i].sig, name ? name : "?", disposition_now(later[i].sig));
	}
	errno = saved;
}

/* ---- inherited dispositions ---------------------------------------------------- */

bool cprof_status_has_signal(const char *path, const char *field, int sig)
{
	char buf[4096];
	if (sig < 1 || sig > 64 || cprof_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	const char *p = strstr(buf, field);
	if (!p)
		return false;
	p += strlen(field);
	while (*p == ' ' || *p == '\t')
		p++;
	unsigned long long mask = 0;
	for (int digits = 0; digits < 16; digits++, p++) {
		int d = (*p >= '0' && *p <= '9')   ? *p - '0'
			: (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
						   : -1;
		if (d < 0)
			break;
		mask = mask << 4 | (unsigned long long)d;
	}
	return mask >> (sig - 1) & 1;
}

/* Bit sig-1 of the "SigIgn:" mask in /proc/<pid>/status. */
static bool status_ignores(int pid, int sig)
{
	char path[64];
	cprof_fmt(path, sizeof(path), "/proc/%d/status", pid);
	return cprof_status_has_signal(path, "\nSigIgn:", sig);
}

/* Is a file named like this library (".../libcprof.so") mapped in pid?
 * Streams /proc/<pid>/maps through a small buffer, keeping an overlap so a
 * name split across two reads is still found. */
static const char *self_basename(void)
{
	Dl_info info;
	if (!dladdr((void *)self_basename, &info) || !info.dli_fname)
		return NULL;
	const char *base = strrchr(info.dli_fname, '/');
	return base ? base + 1 : info.dli_fname;
}

static bool maps_has_cprof(int pid)
{
	char needle[256], path[64], buf[4096];
	const char *base = self_basename();
	if (!base)
		return false;
	size_t nlen = cprof_fmt(needle, sizeof(needle), "/%s\n", base);
	if (nlen < 3 || nlen + 1 >= sizeof(needle))
		return false;
	cprof_fmt(path, sizeof(path), "/proc/%d/maps", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool found = false;
	size_t keep = 0;
	for (;;) {
		ssize_t r = read(fd, buf + keep, sizeof(buf) - 1 - keep);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		size_t have = keep + (size_t)r;
		buf[have] = '\0';
		if (memmem(buf, have, needle, nlen)) {
			found = true;
			break;
		}
		keep = nlen - 1 < have ? nlen - 1 : have;
		memmove(buf, buf + have - keep, keep);
	}
	close(fd);
	return found;
}

bool log_parent_profiled(void)
{
	int ppid = (int)getppid();
	return ppid > 1 && maps_has_cprof(ppid);
}

bool log_parent_ignores(int sig)
{
	int saved = errno;
	int ppid = (int)getppid();
	bool r = ppid > 0 && status_ignores(ppid, sig) && maps_has_cprof(ppid);
	errno = saved;
	return r;
}

/* ---- lines said once per process tree --------------------------------------- */

#define SAID_VAR "CPROF_SAID"
#define SAID_MAX 16 /* lines remembered; more are said again (harmless) */
#define TOKEN_LEN 16

/* Does the comma-separated list hold token (TOKEN_LEN hex digits)? */
static bool list_has(const char *list, const char *token)
{
	while (list && *list) {
		const char *end = strchrnul(list, ',');
		if (end - list == TOKEN_LEN && memcmp(list, token, TOKEN_LEN) == 0)
			return true;
		list = *end ? end + 1 : end;
	}
	return false;
}

static char said_now[SAID_MAX * (TOKEN_LEN + 1)]; /* said by this image, to publish */

void cprof_warn_tree(const char *fmt, ...)
{
	char buf[1024], token[TOKEN_LEN + 1];
	if (is_quiet())
		return;
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	size_t len = format_line(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ull;
	cprof_fmt(token, sizeof(token), "%016llx", (unsigned long long)h);
	if (!list_has(getenv(SAID_VAR), token)) {
		(void)cprof_write_all(2, buf, len);
		size_t used = strlen(said_now);
		if (!list_has(said_now, token) && used + TOKEN_LEN + 2 <= sizeof(said_now))
			cprof_fmt(said_now + used, sizeof(said_now) - used, "%s%s", used ? "," : "", token);
	}
	errno = saved;
}

void log_publish_said(void)
{
	char buf[SAID_MAX * (TOKEN_LEN + 1) + 1];
	if (!said_now[0])
		return;
	/* Only when preloaded, that is before the program runs: loaded later
	 * (python's ctypes), the constructor must not touch the environment
	 * of a program that is already running. */
	const char *preload = getenv("LD_PRELOAD"), *base = self_basename();
	if (!preload || !base || !strstr(preload, base))
		return;
	int saved = errno;
	/* Keep the newest SAID_MAX: ours, then as many inherited as fit. */
	const char *old = getenv(SAID_VAR);
	size_t len = cprof_fmt(buf, sizeof(buf), "%s", said_now);
	while (old && *old) {
		const char *end = strchrnul(old, ',');
		if (end - old == TOKEN_LEN && !list_has(said_now, old) &&
		    len + TOKEN_LEN + 2 <= sizeof(buf))
			len += cprof_fmt(buf + len, sizeof(buf) - len, ",%.*s", TOKEN_LEN, old);
		old = *end ? end + 1 : end;
	}
	setenv(SAID_VAR, buf, 1);
	said_now[0] = '\0';
	errno = saved;
}
