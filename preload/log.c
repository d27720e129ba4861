/*
 * log.c - "cprof: ..." lines on stderr, formatted without stdio.
 *
 * The formatter is deliberately tiny (the subset cprof's own messages use);
 * glibc's snprintf may allocate and takes locale locks, which cprof cannot
 * afford on the paths it logs from (fork child, exit, writer thread while
 * the program holds malloc locks).
 */
#include <errno.h>
#include <fcntl.h>
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

static void vline(const char *fmt, va_list ap)
{
	char buf[1024];
	int saved = errno;
	size_t len = cprof_fmt(buf, sizeof(buf), "%s", "cprof: ");
	len += cprof_vfmt(buf + len, sizeof(buf) - len - 1, fmt, ap);
	buf[len++] = '\n';
	(void)cprof_write_all(2, buf, len);
	errno = saved;
}

void cprof_info(const char *fmt, ...)
{
	if (atomic_load_explicit(&quiet, memory_order_relaxed))
		return;
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
}

void cprof_warn(const char *fmt, ...)
{
	if (atomic_load_explicit(&quiet, memory_order_relaxed))
		return;
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
}

void cprof_warn_once(atomic_int *flag, const char *fmt, ...)
{
	if (atomic_load_explicit(&quiet, memory_order_relaxed) || atomic_exchange(flag, 1))
		return;
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
}
