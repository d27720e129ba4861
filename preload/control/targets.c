/*
 * targets.c - file_sd target files for scrapers (see targets.h).
 *
 * Invariants:
 *  - published[0] is '\0' unless this process wrote DIR/PID.json; it is
 *    set after the rename and cleared (atomically, by exchange of its
 *    first byte) before the unlink, so the file is removed at most once
 *    and only by the process that wrote it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "targets.h"
#include "log.h"
#include "runtime.h"

static char published[300];
static atomic_bool have_published;

/* JSON string contents: the characters JSON needs escaped are replaced. */
static size_t json_safe(char *out, size_t outlen, const char *s)
{
	size_t n = 0;
	for (; *s && n + 1 < outlen; s++)
		out[n++] = (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) ? '_' : *s;
	out[n] = '\0';
	return n;
}

/* Remove DIR/PID.json files whose process is gone. */
static void sweep(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (pid <= 0 || end == e->d_name || strcmp(end, ".json") != 0)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		char path[600];
		cprof_fmt(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

void targets_publish(const char *hostport)
{
	const char *dir = rt.cfg.http_targets;
	char tmp[320], final[300], exe[600], body[1400];
	int fd;

	if (!dir[0])
		return;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		cprof_warn_tree("CPROF_HTTP_TARGETS=%s: cannot create the directory (%s); no target file", dir,
				strerrordesc_np(errno) ? strerrordesc_np(errno) : "error");
		return;
	}
	sweep(dir);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	char name[64], path[600], target[160];
	json_safe(name, sizeof(name), rt.exe_name[0] ? rt.exe_name : "unknown");
	json_safe(path, sizeof(path), exe);
	json_safe(target, sizeof(target), hostport);
	size_t len = cprof_fmt(body, sizeof(body),
			       "[{\"targets\": [\"%s\"], \"labels\": {\"service_name\": \"%s\", \"pid\": \"%d\", "
			       "\"exe\": \"%s\"}}]\n",
			       target, name, (int)getpid(), path);
	cprof_fmt(final, sizeof(final), "%s/%d.json", dir, (int)getpid());
	cprof_fmt(tmp, sizeof(tmp), "%s/.%d.json.tmp", dir, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	bool ok = fd >= 0 && write(fd, body, len) == (ssize_t)len;
	int err = errno;
	if (fd >= 0 && close(fd) != 0 && ok) {
		ok = false;
		err = errno;
	}
	if (ok && rename(tmp, final) != 0) {
		ok = false;
		err = errno;
	}
	if (!ok) {
		if (fd >= 0)
			unlink(tmp);
		cprof_warn_tree("CPROF_HTTP_TARGETS=%s: cannot write a target file (%s)", dir,
				strerrordesc_np(err) ? strerrordesc_np(err) : "error");
		return;
	}
	memcpy(published, final, strlen(final) + 1);
	atomic_store(&have_published, true);
}

void targets_withdraw(void)
{
	int saved = errno;
	if (atomic_exchange(&have_published, false))
		unlink(published);
	errno = saved;
}

void targets_fork_child(void)
{
	/* The parent's file is the parent's. */
	atomic_store(&have_published, false);
}
