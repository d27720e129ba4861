/*
 * cprof-ctl - the cprof command's C half: the library's own rules, asked
 * from a shell script.
 *
 * DESIGN
 * scripts/cprof (bash) handles options, finding the library and running
 * pprof; every rule the library itself applies it asks this program, which
 * is linked with the library's own objects (preload/config.o, log.o: the
 * same compiled code, not a copy), so the command and the library cannot
 * disagree about what a CPROF_* value means:
 *
 *   version                  the version (the Makefile's VERSION)
 *   check NAME VALUE         config_set(): exit 0 if the library accepts
 *                            VALUE, 1 with its message on stdout if it
 *                            rejects it, 2 if NAME is not a variable
 *   env                      config_load() over this environment, as the
 *                            library reads it at start: its lines on
 *                            stderr ("cprof: ..."), then the effective
 *                            configuration on stdout, NUL-terminated
 *                            KEY=VALUE records
 *   pattern PATTERN          config_check_pattern(): exit 1 with the reason
 *                            on stdout if the library would refuse it
 *   signal VALUE             the signal number CPROF_SIGNAL=VALUE means
 *                            (0 for none); exit 1 if it is rejected
 *   nearest WORD WORDS...    config_nearest(): the "did you mean" word
 *   expand PATTERN EXE PID N TYPE
 *                            the output pattern expanded as the library
 *                            does (config_expand), EXE a path turned into
 *                            %e by config_exe_name ("" -> "*"), %h this
 *                            host; N and TYPE inserted verbatim
 *   elf FILE                 "CLASS TYPE MACHINE INTERP" of an ELF file
 *                            (INTERP 1 when a PT_INTERP header names a
 *                            dynamic loader); exit 1 if not ELF
 *   dump-wait PID SIG TIMEOUT PATTERN EXE
 *                            ask process PID for a dump and wait for the
 *                            set it writes (preload/control/reply.h); print its
 *                            files, one a line
 *
 * dump-wait sends the trigger signal with sigqueue(), the request word
 * naming a real-time answer signal and a random token, and waits (poll on
 * a signalfd for the answer and a pidfd for the process's end) until the
 * library answers with the set's number and kinds, the process ends, or
 * TIMEOUT passes.  The library answers only a process whose command line
 * holds the token argument (reply.h): the first run re-executes itself
 * with that argument added right after "dump-wait" (the library reads only
 * the first 4 KiB of a command line).  Exit status: 0, 1 on failure (one "cprof:"
 * line), 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "reply.h"

#ifndef CPROF_VERSION
#error "CPROF_VERSION comes from the Makefile's VERSION"
#endif

extern char **environ;

static int usage(void)
{
	fprintf(stderr, "usage: cprof-ctl version | check NAME VALUE | env | pattern PATTERN | signal VALUE | "
			"nearest WORD WORDS... | expand PATTERN EXE PID N TYPE | elf FILE | "
			"dump-wait PID SIGNAL TIMEOUT PATTERN EXE\n");
	return 2;
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "cprof: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ---- configuration ---------------------------------------------------------- */

static int cmd_check(const char *name, const char *value)
{
	struct cprof_config c;
	char err[512];
	config_defaults(&c);
	int r = config_set(&c, name, value, err, sizeof(err));
	if (r == -2)
		return 2;
	if (r != 0) {
		printf("%s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_signal(const char *value)
{
	struct cprof_config c;
	char err[512];
	config_defaults(&c);
	if (config_set(&c, "CPROF_SIGNAL", value, err, sizeof(err)) != 0)
		return 1;
	printf("%d\n", c.dump_signal);
	return 0;
}

static void say(const struct cprof_config *c, const char *line, void *arg)
{
	(void)arg;
	if (!c->quiet)
		fprintf(stderr, "cprof: %s\n", line);
}

static void record(const char *key, const char *value)
{
	fputs(key, stdout);
	putchar('=');
	fputs(value, stdout);
	putchar('\0');
}

static void record_u(const char *key, unsigned long long v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", v);
	record(key, buf);
}

static int cmd_env(void)
{
	struct cprof_config c;
	config_load(&c, environ, say, NULL);
	record("output", c.output);
	record_u("signal", (unsigned)c.dump_signal);
	/* The signal as the user wrote it, when it is the one in force. */
	const char *sv = getenv("CPROF_SIGNAL");
	record("signal_name", !c.dump_signal ? "none" : sv && config_parse_signal(sv) == c.dump_signal ? sv : "USR2");
	record_u("interval", c.interval);
	record("http", c.http);
	record_u("follow_exec", c.follow_exec);
	record_u("quiet", c.quiet);
	record_u("profiles", c.profiles);
	record_u("heap_rate", c.heap_rate);
	return 0;
}

/* The library's expansion of pattern for the program at exe_path (""
 * when unknown: %e is then "*"), on this host. */
static size_t expand(const char *pattern, const char *exe_path, const char *pid, const char *n,
		     const char *type, char *out, size_t outlen)
{
	char exe[256];
	struct utsname u;
	if (exe_path[0])
		config_exe_name(exe_path, exe, sizeof(exe));
	else
		snprintf(exe, sizeof(exe), "*");
	if (uname(&u) != 0)
		u.nodename[0] = '\0';
	struct config_subst s = {exe, pid, n, type, u.nodename};
	return config_expand(pattern, &s, out, 0, outlen);
}

static int cmd_expand(char **a)
{
	char out[8192];
	expand(a[0], a[1], a[2], a[3], a[4], out, sizeof(out));
	fputs(out, stdout);
	return 0;
}

/* ---- ELF ---------------------------------------------------------------------- */

static unsigned long long le(const unsigned char *p, int n)
{
	unsigned long long v = 0;
	while (n--)
		v = v << 8 | p[n];
	return v;
}

static int cmd_elf(const char *path)
{
	unsigned char h[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	ssize_t n = pread(fd, h, sizeof(h), 0);
	if (n < 20 || memcmp(h, "\177ELF", 4) != 0) {
		close(fd);
		return 1;
	}
	unsigned cls = h[4], type = 0, machine = 0, interp = 0;
	/* Little-endian fields only (x86_64 is the only machine cprof supports). */
	if (h[5] == 1) {
		type = (unsigned)le(h + 16, 2);
		machine = (unsigned)le(h + 18, 2);
	}
	if (h[5] == 1 && cls == 2 && n == 64) {
		unsigned long long phoff = le(h + 32, 8);
		unsigned phentsize = (unsigned)le(h + 54, 2), phnum = (unsigned)le(h + 56, 2);
		if (phentsize >= 8 && phentsize % 4 == 0 && phnum > 0 && phnum < 65535 && phoff > 0 &&
		    phoff < (1ULL << 40)) {
			unsigned char ph[8];
			for (unsigned i = 0; i < phnum && !interp; i++) {
				if (pread(fd, ph, 4, (off_t)(phoff + (unsigned long long)i * phentsize)) != 4)
					break;
				interp = le(ph, 4) == 3; /* PT_INTERP */
			}
		}
	}
	close(fd);
	printf("%u %u %u %u\n", cls, type, machine, interp);
	return 0;
}

/* ---- dump-wait ------------------------------------------------------------------ */

static double parse_seconds(const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || v < 0 || v > 1e7)
		exit(usage());
	return v;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *shown_pattern(const char *pattern, const char *exe, const char *pid)
{
	static char out[8192];
	expand(pattern, exe, pid, "<n>", "<type>", out, sizeof(out));
	return out;
}

/* Print the files of set n: where the pattern names them, or, when their
 * directory failed, under the same name in the fallback directories the
 * library tries (preload/control/dump.c): the directory it started in (its current
 * one, as for a relative pattern), $TMPDIR (the process's, given by the
 * command), /tmp. */
static void print_set(const char *pattern, const char *exe, const char *pid, unsigned long n,
		      unsigned kinds)
{
	char num[32], path[8192], alt[8192 + 4096];
	snprintf(num, sizeof(num), "%lu", n);
	const char *tmp = getenv("TMPDIR");
	char cwd[4096], link[64];
	snprintf(link, sizeof(link), "/proc/%s/cwd", pid);
	ssize_t cl = readlink(link, cwd, sizeof(cwd) - 1);
	cwd[cl > 0 ? cl : 0] = '\0';
	for (unsigned bit = 1; bit <= PROF_THREADCREATE; bit <<= 1) {
		if (!(kinds & bit))
			continue;
		if (expand(pattern, exe, pid, num, config_profile_name(bit), path, sizeof(path)) == (size_t)-1)
			continue;
		struct stat st;
		if (stat(path, &st) == 0) {
			printf("%s\n", path);
			continue;
		}
		const char *base = strrchr(path, '/');
		base = base ? base + 1 : path;
		const char *dirs[] = {cwd[0] == '/' ? cwd : NULL, tmp && tmp[0] == '/' ? tmp : NULL, "/tmp"};
		for (int i = 0; i < 3; i++) {
			if (!dirs[i])
				continue;
			snprintf(alt, sizeof(alt), "%s/%s", dirs[i], base);
			if (stat(alt, &st) == 0) {
				printf("%s\n", alt);
				break;
			}
		}
	}
}

static int cmd_dump_wait(int argc, char **argv)
{
	/* argv: dump-wait [--cprof-reply=SIG:TOKEN] PID SIG TIMEOUT PATTERN EXE.
	 * The token comes first: the library reads the start of the command
	 * line only (4 KiB), and the pattern may be long. */
	bool has_token = argc == 8;
	char **a = argv + (has_token ? 3 : 2);
	const char *pid_s = a[0], *pattern = a[3], *exe = a[4];
	char *end;
	long pid = strtol(pid_s, &end, 10);
	if (*end || pid <= 0 || pid > INT_MAX)
		return usage();
	int sig = atoi(a[1]);
	if (sig <= 0 || sig > SIGRTMAX)
		return usage();
	const char *timeout_s = a[2];
	double timeout = parse_seconds(timeout_s);
	int answer = SIGRTMIN + 1;

	if (!has_token) {
		/* Put the token where the library looks for it: our command line. */
		uint32_t token;
		if (getrandom(&token, sizeof(token), 0) != sizeof(token))
			die("cannot read random bytes: %s", strerror(errno));
		char arg[64];
		snprintf(arg, sizeof(arg), REPLY_ARG_PREFIX "%d:%08x", answer, (unsigned)token);
		char *nargv[9] = {argv[0], argv[1], arg, argv[2], argv[3], argv[4], argv[5], argv[6], NULL};
		execv("/proc/self/exe", nargv);
		die("cannot run %s: %s", "/proc/self/exe", strerror(errno));
	}
	if (strncmp(argv[2], REPLY_ARG_PREFIX, strlen(REPLY_ARG_PREFIX)) != 0)
		return usage();
	unsigned token_u;
	if (sscanf(argv[2] + strlen(REPLY_ARG_PREFIX), "%d:%8x", &answer, &token_u) != 2 ||
	    answer < SIGRTMIN || answer > SIGRTMAX)
		return usage();
	uint32_t token = token_u;

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, answer);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		die("sigprocmask: %s", strerror(errno));
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd: %s", strerror(errno));
	int pfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pfd < 0 && errno == ESRCH)
		die("no process %s", pid_s);

	union sigval v;
	v.sival_ptr = (void *)(uintptr_t)REPLY_REQUEST(answer, token);
	if (sigqueue((pid_t)pid, sig, v) != 0) {
		if (errno == ESRCH)
			die("no process %s", pid_s);
		die("cannot signal process %s: %s", pid_s, strerror(errno));
	}

	int64_t deadline = now_ms() + (int64_t)(timeout * 1000);
	for (;;) {
		struct pollfd fds[2] = {{sfd, POLLIN, 0}, {pfd, POLLIN, 0}};
		int64_t left = deadline - now_ms();
		if (left < 0)
			left = 0;
		/* Without a pidfd (Linux before 5.3), look at the process every 100 ms. */
		int slice = pfd >= 0 ? (int)(left > INT_MAX ? INT_MAX : left) : (int)(left < 100 ? left : 100);
		int r = poll(fds, pfd >= 0 ? 2 : 1, slice);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("poll: %s", strerror(errno));
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_code == SI_QUEUE &&
			    (long)si.ssi_pid == pid && REPLY_ANS_TOKEN(si.ssi_ptr) == (token & 0xffffffu)) {
				unsigned long n = REPLY_ANS_N(si.ssi_ptr);
				if (!n)
					die("process %s wrote no profiles for this request: it is exiting, and its exit "
					    "dump is its last set (profiles matching %s)", pid_s,
					    shown_pattern(pattern, exe, pid_s));
				unsigned kinds = REPLY_ANS_KINDS(si.ssi_ptr);
				if (!kinds)
					die("process %s wrote no profile in set %lu (none is enabled, or every write "
					    "failed: its stderr says why)", pid_s, n);
				print_set(pattern, exe, pid_s, n, kinds);
				return 0;
			}
			continue;
		}
		bool gone = pfd >= 0 ? (fds[1].revents & POLLIN) != 0 : (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
		if (gone) {
			/* An answer sent just before the end is already queued. */
			struct pollfd last = {sfd, POLLIN, 0};
			if (poll(&last, 1, 0) == 1)
				continue;
			die("process %s exited before answering; the profiles it wrote, if any, match %s", pid_s,
			    shown_pattern(pattern, exe, pid_s));
		}
		if (now_ms() >= deadline)
			break;
	}
	die("no new profiles matching %s after %s s (a dump of very many stacks can take longer: --timeout; "
	    "the process's stderr says why a write failed)", shown_pattern(pattern, exe, pid_s), timeout_s);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "version") == 0 && argc == 2) {
		printf("%s\n", CPROF_VERSION);
		return 0;
	}
	if (strcmp(cmd, "check") == 0 && argc == 4)
		return cmd_check(argv[2], argv[3]);
	if (strcmp(cmd, "env") == 0 && argc == 2)
		return cmd_env();
	if (strcmp(cmd, "pattern") == 0 && argc == 3) {
		char why[256];
		if (config_check_pattern(argv[2], why, sizeof(why)) == 0)
			return 0;
		printf("%s\n", why);
		return 1;
	}
	if (strcmp(cmd, "signal") == 0 && argc == 3)
		return cmd_signal(argv[2]);
	if (strcmp(cmd, "nearest") == 0 && argc >= 3) {
		const char *near = config_nearest(argv[2], strlen(argv[2]), (const char *const *)argv + 3);
		if (near)
			fputs(near, stdout);
		return 0;
	}
	if (strcmp(cmd, "expand") == 0 && argc == 7)
		return cmd_expand(argv + 2);
	if (strcmp(cmd, "elf") == 0 && argc == 3)
		return cmd_elf(argv[2]);
	if (strcmp(cmd, "dump-wait") == 0 && (argc == 7 || argc == 8))
		return cmd_dump_wait(argc, argv);
	return usage();
}
