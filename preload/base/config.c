/*
 * config.c - strict parsing of the CPROF_* variables.
 *
 * Every value is validated; a bad one keeps the default and produces one
 * line that names the variable and the accepted form (mutrace's habit,
 * without its exit()).  Pure functions: no environment access (config_load
 * reads the environment it is given), no allocation, no I/O, so the parser
 * can be fuzzed (test/fuzz/).
 *
 * The one definition of these rules: the library and cprof-ctl (the cprof
 * command's C half, scripts/cprof-ctl.c) are both linked with this file's
 * object, and test_ctl.py checks that the command and the library agree.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "log.h"

const char *const config_names[] = {
	"CPROF_PROFILES", "CPROF_HEAP_RATE", "CPROF_CPU_HZ", "CPROF_UNWIND",
	"CPROF_SIGNAL", "CPROF_OUTPUT", "CPROF_QUIET", "CPROF_MUTEX_FRACTION",
	"CPROF_BLOCK_RATE", "CPROF_HTTP", "CPROF_HTTP_TOKEN", "CPROF_INTERVAL",
	"CPROF_FOLLOW_EXEC", "CPROF_ROOT_PID", "CPROF_HTTP_TARGETS", "CPROF_EMPTY_FILES", NULL,
};

void config_defaults(struct cprof_config *c)
{
	memset(c, 0, sizeof(*c));
	c->profiles = PROF_DEFAULT;
	c->heap_rate = CPROF_DEFAULT_HEAP_RATE;
	c->cpu_hz = CPROF_DEFAULT_CPU_HZ;
	c->unwind = UNWIND_LIBUNWIND;
	c->dump_signal = SIGUSR2;
	memcpy(c->output, CPROF_DEFAULT_OUTPUT, sizeof(CPROF_DEFAULT_OUTPUT));
	c->mutex_fraction = 1;
	c->block_rate = CPROF_DEFAULT_BLOCK_RATE;
	c->follow_exec = true;
}

/* Unsigned decimal, digits only, no sign, no spaces, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		uint64_t d = (uint64_t)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};
	for (size_t i = 0; i < CPROF_ARRAY_LEN(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static const struct {
	const char *name;
	unsigned bit;
} profile_names[] = {
	{"cpu", PROF_CPU},       {"heap", PROF_HEAP},
	{"allocs", PROF_HEAP},   {"mutex", PROF_MUTEX},
	{"block", PROF_BLOCK},   {"threads", PROF_THREADS},
	{"goroutine", PROF_THREADS}, {"threadcreate", PROF_THREADCREATE},
	{"all", PROF_ALL},       {"none", 0},
};

/* Optimal-string-alignment distance between a (alen) and b, ignoring
 * case, or SIZE_MAX for words too long to matter. */
static size_t distance(const char *a, size_t alen, const char *b)
{
	enum { MAX = 64 };
	size_t blen = strlen(b), d[3][MAX + 1];
	if (alen > MAX || blen > MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= blen; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t *cur = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i + 1) % 3];
		cur[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			char x = a[i - 1], y = b[j - 1];
			x = (char)(x >= 'a' && x <= 'z' ? x - 32 : x);
			y = (char)(y >= 'a' && y <= 'z' ? y - 32 : y);
			size_t best = prev[j - 1] + (x != y);
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && x != y) {
				char px = a[i - 2], py = b[j - 2];
				px = (char)(px >= 'a' && px <= 'z' ? px - 32 : px);
				py = (char)(py >= 'a' && py <= 'z' ? py - 32 : py);
				if (x == py && px == y && prev2[j - 2] + 1 < best)
					best = prev2[j - 2] + 1;
			}
			cur[j] = best;
		}
	}
	return d[alen % 3][blen];
}

const char *config_nearest(const char *word, size_t len, const char *const *words)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	/* At most 2 edits, and fewer than half the word: "cpuu" -> "cpu",
	 * "CPROF_PROFILE" -> "CPROF_PROFILES", never "x" -> "cpu". */
	size_t limit = len / 2 < 2 ? len / 2 : 2;
	for (; *words; words++) {
		size_t dd = distance(word, len, *words);
		if (dd == 0) {
			/* Differs only in case: suggest it. */
			return strncmp(word, *words, len) == 0 ? NULL : *words;
		}
		if (dd <= limit && dd < best_d) {
			best = *words;
			best_d = dd;
		}
	}
	return best;
}

static const char *const profile_words[] = {
	"cpu", "heap", "allocs", "mutex", "block", "threads", "goroutine", "threadcreate", "all", "none", NULL,
};

const char *config_nearest_profile(const char *word)
{
	return config_nearest(word, strlen(word), profile_words);
}

const char *config_profile_name(unsigned bit)
{
	switch (bit) {
	case PROF_CPU: return "cpu";
	case PROF_HEAP: return "heap";
	case PROF_MUTEX: return "mutex";
	case PROF_BLOCK: return "block";
	case PROF_THREADS: return "threads";
	case PROF_THREADCREATE: return "threadcreate";
	default: return "?";
	}
}

int config_parse_profiles(const char *s, unsigned *out, char *bad, size_t badlen)
{
	unsigned mask = 0;
	const char *p = s;

	for (;;) {
		const char *e = p;
		while (*e && *e != ',')
			e++;
		size_t len = (size_t)(e - p);
		if (len) {
			size_t i;
			for (i = 0; i < CPROF_ARRAY_LEN(profile_names); i++) {
				if (strlen(profile_names[i].name) == len &&
				    memcmp(profile_names[i].name, p, len) == 0)
					break;
			}
			if (i == CPROF_ARRAY_LEN(profile_names)) {
				if (badlen) {
					size_t n = len < badlen - 1 ? len : badlen - 1;
					memcpy(bad, p, n);
					bad[n] = '\0';
				}
				return -1;
			}
			mask |= profile_names[i].bit;
		}
		if (!*e)
			break;
		p = e + 1;
	}
	*out = mask;
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signal_names[] = {
	{"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT},
	{"USR1", SIGUSR1}, {"USR2", SIGUSR2},   {"ALRM", SIGALRM},
	{"TERM", SIGTERM}, {"PROF", SIGPROF},   {"VTALRM", SIGVTALRM},
	{"WINCH", SIGWINCH}, {"URG", SIGURG},   {"PWR", SIGPWR},
	{"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},   {"CHLD", SIGCHLD},
	{"CONT", SIGCONT}, {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
};

int config_parse_signal(const char *s)
{
	uint64_t v;

	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	if (parse_u64(s, &v) == 0)
		return (v >= 1 && v < (uint64_t)_NSIG) ? (int)v : -1;
	if (strncmp(s, "RTMIN", 5) == 0) {
		const char *r = s + 5;
		uint64_t off = 0;
		if (*r == '+') {
			if (parse_u64(r + 1, &off) != 0)
				return -1;
		} else if (*r) {
			return -1;
		}
		if (off > (uint64_t)(SIGRTMAX - SIGRTMIN))
			return -1;
		return SIGRTMIN + (int)off;
	}
	for (size_t i = 0; i < CPROF_ARRAY_LEN(signal_names); i++)
		if (strcmp(s, signal_names[i].name) == 0)
			return signal_names[i].sig;
	return -1;
}

int config_check_pattern(const char *p, char *err, size_t errlen)
{
	size_t len = strlen(p);

	if (len == 0) {
		cprof_fmt(err, errlen, "empty pattern");
		return -1;
	}
	if (len >= CPROF_PATTERN_MAX - 64) {
		cprof_fmt(err, errlen, "pattern longer than %u bytes",
			  (unsigned)(CPROF_PATTERN_MAX - 64));
		return -1;
	}
	for (const char *s = p; *s; s++) {
		if (*s != '%')
			continue;
		s++;
		if (!*s || !strchr("epnth%", *s)) {
			cprof_fmt(err, errlen, "unknown escape '%%%c' (known: %%e %%p %%n %%t %%h %%%%)",
				  *s ? *s : '?');
			return -1;
		}
	}
	if (p[len - 1] == '/') {
		cprof_fmt(err, errlen, "pattern names a directory, not a file");
		return -1;
	}
	return 0;
}

size_t config_expand(const char *pattern, const struct config_subst *s, char *out, size_t pos,
		     size_t outlen)
{
	if (!outlen)
		return (size_t)-1;
	for (const char *p = pattern; *p && pos + 1 < outlen; p++) {
		const char *v = NULL;
		if (*p != '%') {
			out[pos++] = *p;
			continue;
		}
		switch (*++p) {
		case 'e': v = s->exe; break;
		case 'p': v = s->pid; break;
		case 'n': v = s->n; break;
		case 't': v = s->type; break;
		case 'h': v = s->host; break;
		case '%': v = "%"; break;
		case '\0': p--; break;
		default: break;
		}
		while (v && *v && pos + 1 < outlen)
			out[pos++] = *v++;
	}
	out[pos] = '\0';
	return pos + 1 < outlen ? pos : (size_t)-1;
}

void config_exe_name(const char *path, char *out, size_t outlen)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!base[0])
		base = "program";
	size_t i = 0;
	for (; base[i] && i + 1 < outlen; i++) {
		char ch = base[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '-' || ch == '_' || ch == '.' || ch == '+';
		out[i] = ok ? ch : '_';
	}
	if (outlen)
		out[i] = '\0';
}

#define BAD(...)                                                       \
	do {                                                           \
		size_t off_ = cprof_fmt(err, errlen, "%s=%s: ", name, value); \
		if (off_ < errlen)                                     \
			cprof_fmt(err + off_, errlen - off_, __VA_ARGS__); \
		return -1;                                             \
	} while (0)

int config_set(struct cprof_config *c, const char *name, const char *value,
	       char *err, size_t errlen)
{
	uint64_t v;
	bool b;

	if (errlen)
		err[0] = '\0';
	if (strcmp(name, "CPROF_PROFILES") == 0) {
		unsigned mask;
		char bad[32];
		if (config_parse_profiles(value, &mask, bad, sizeof(bad)) != 0) {
			const char *near = config_nearest_profile(bad);
			const char *alias = !near                          ? ""
					    : strcmp(near, "goroutine") == 0 ? ", the threads profile"
					    : strcmp(near, "allocs") == 0    ? ", the heap profile"
									     : "";
			char hint[96] = "";
			if (near)
				cprof_fmt(hint, sizeof(hint), " (did you mean '%s'%s?)", near, alias);
			BAD("unknown profile '%s'%s; expected a comma list of cpu,heap,mutex,block,threads,threadcreate (goroutine = threads, allocs = heap; or all, none); using the default",
			    bad, hint);
		}
		c->profiles = mask;
	} else if (strcmp(name, "CPROF_HEAP_RATE") == 0) {
		if (parse_u64(value, &v) != 0 || v > (1ULL << 40))
			BAD("expected bytes between samples as a whole number from 0 (off) to 2^40, 1 = every allocation; using %u",
			    (unsigned)CPROF_DEFAULT_HEAP_RATE);
		c->heap_rate = v;
	} else if (strcmp(name, "CPROF_CPU_HZ") == 0) {
		if (parse_u64(value, &v) != 0 || v < 1 || v > CPROF_MAX_CPU_HZ)
			BAD("expected samples per CPU-second from 1 to %u; using %u",
			    (unsigned)CPROF_MAX_CPU_HZ, (unsigned)CPROF_DEFAULT_CPU_HZ);
		c->cpu_hz = (unsigned)v;
	} else if (strcmp(name, "CPROF_UNWIND") == 0) {
		if (strcmp(value, "libunwind") == 0)
			c->unwind = UNWIND_LIBUNWIND;
		else if (strcmp(value, "fp") == 0)
			c->unwind = UNWIND_FP;
		else
			BAD("expected libunwind or fp; using libunwind");
	} else if (strcmp(name, "CPROF_SIGNAL") == 0) {
		int sig;
		if (strcmp(value, "none") == 0) {
			c->dump_signal = 0;
			return 0;
		}
		sig = config_parse_signal(value);
		if (sig <= 0 || sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV ||
		    sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGPROF)
			BAD("expected a signal name or number (USR2, SIGUSR1, RTMIN+2, 12) other than KILL, STOP, PROF and the fault signals, or none; using USR2");
		c->dump_signal = sig;
	} else if (strcmp(name, "CPROF_OUTPUT") == 0) {
		char why[128];
		if (config_check_pattern(value, why, sizeof(why)) != 0)
			BAD("%s; expected a file pattern such as %s; using the default",
			    why, CPROF_DEFAULT_OUTPUT);
		memcpy(c->output, value, strlen(value) + 1);
	} else if (strcmp(name, "CPROF_QUIET") == 0) {
		if (parse_bool(value, &b) != 0)
			BAD("expected 1 or 0; using 0");
		c->quiet = b;
	} else if (strcmp(name, "CPROF_MUTEX_FRACTION") == 0) {
		if (parse_u64(value, &v) != 0 || v > (1ULL << 32))
			BAD("expected n to keep 1 in n contention events (0 = off); using 1");
		c->mutex_fraction = v;
	} else if (strcmp(name, "CPROF_BLOCK_RATE") == 0) {
		if (parse_u64(value, &v) != 0 || v > (1ULL << 50))
			BAD("expected nanoseconds (waits at least this long are always kept; 0 = off, 1 = every wait); using %u",
			    (unsigned)CPROF_DEFAULT_BLOCK_RATE);
		c->block_rate = v;
	} else if (strcmp(name, "CPROF_HTTP") == 0) {
		size_t len = strlen(value);
		const char *colon = strrchr(value, ':');
		if (len == 0 || len >= sizeof(c->http) || !colon ||
		    parse_u64(colon + 1, &v) != 0 || v > 65535)
			BAD("expected host:port, e.g. 127.0.0.1:6060 (port 0 picks a free one)");
		memcpy(c->http, value, len + 1);
	} else if (strcmp(name, "CPROF_HTTP_TOKEN") == 0) {
		/* A secret: its value is never printed (stderr ends up in logs
		 * that others read), and a token that was set but cannot be
		 * used means no server at all, never one without the password
		 * its owner meant to require. */
		size_t len = strlen(value);
		const char *why = NULL;
		c->http_token[0] = '\0';
		if (len < 8 || len >= sizeof(c->http_token))
			why = "it must be 8 to 255 characters long";
		for (const char *s = value; *s && !why; s++)
			if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 127 || *s == ':')
				why = "it must be printable ASCII without spaces or ':'";
		if (why) {
			c->http_token_bad = true;
			cprof_fmt(err, errlen, "CPROF_HTTP_TOKEN is set but unusable (%s; its value is not shown): "
				  "no HTTP server", why);
			return -1;
		}
		c->http_token_bad = false;
		memcpy(c->http_token, value, len + 1);
	} else if (strcmp(name, "CPROF_HTTP_TARGETS") == 0) {
		size_t len = strlen(value);
		if (len < 2 || len >= sizeof(c->http_targets) - 32 || value[0] != '/')
			BAD("expected an absolute directory path (at most %zu characters); no target files",
			    sizeof(c->http_targets) - 33);
		memcpy(c->http_targets, value, len + 1);
	} else if (strcmp(name, "CPROF_INTERVAL") == 0) {
		if (parse_u64(value, &v) != 0 || v > 86400 * 7)
			BAD("expected seconds between periodic dumps (0 = off, at most a week)");
		c->interval = (unsigned)v;
	} else if (strcmp(name, "CPROF_FOLLOW_EXEC") == 0) {
		if (parse_bool(value, &b) != 0)
			BAD("expected 1 or 0; using 1");
		c->follow_exec = b;
	} else if (strcmp(name, "CPROF_EMPTY_FILES") == 0) {
		if (parse_bool(value, &b) != 0)
			BAD("expected 1 or 0; using 0");
		c->empty_files = b;
	} else if (strcmp(name, "CPROF_ROOT_PID") == 0) {
		if (parse_u64(value, &v) != 0 || v > (1u << 30))
			BAD("expected a process id");
		c->root_pid = (long)v;
	} else {
		return -2;
	}
	return 0;
}

/* getenv() over an explicit environment: the first NAME=. */
static const char *env_get(char *const *envp, const char *name)
{
	size_t len = strlen(name);
	for (char *const *e = envp; e && *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

void config_load(struct cprof_config *c, char *const *envp,
		 void (*say)(const struct cprof_config *c, const char *line, void *arg), void *arg)
{
	char err[512];

	config_defaults(c);
	/* CPROF_QUIET first: it silences the lines about the others too (a
	 * bad value of it is reported by the loop below). */
	const char *q = env_get(envp, "CPROF_QUIET");
	if (q)
		config_set(c, "CPROF_QUIET", q, err, sizeof(err));
	for (const char *const *name = config_names; *name; name++) {
		const char *v = env_get(envp, *name);
		if (v && config_set(c, *name, v, err, sizeof(err)) == -1)
			say(c, err, arg);
	}
	/* A misspelt variable silently doing nothing is a classic trap. */
	for (char *const *e = envp; e && *e; e++) {
		/* CPROF_LIB and CPROF_PPROF are the cprof command's, CPROF_TEST_*
		 * the test suite's, CPROF_SAID cprof's own note to descendants
		 * (log.h). */
		if (strncmp(*e, "CPROF_", 6) != 0 || strncmp(*e, "CPROF_TEST_", 11) == 0 ||
		    strncmp(*e, "CPROF_LIB=", 10) == 0 || strncmp(*e, "CPROF_PPROF=", 12) == 0 ||
		    strncmp(*e, "CPROF_SAID=", 11) == 0)
			continue;
		const char *eq = strchr(*e, '=');
		size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
		bool known = false;
		for (const char *const *name = config_names; *name && !known; name++)
			known = strlen(*name) == len && strncmp(*name, *e, len) == 0;
		if (known)
			continue;
		const char *near = config_nearest(*e, len, config_names);
		if (near)
			cprof_fmt(err, sizeof(err), "unknown variable %.*s ignored (did you mean %s?)", (int)len,
				  *e, near);
		else
			cprof_fmt(err, sizeof(err), "unknown variable %.*s ignored; the variables are listed in cprof(1)",
				  (int)len, *e);
		say(c, err, arg);
	}
}
