/*
 * test_debugfile.c - unit test of encoder/debugfile.c, the search for
 * separate debug files.
 *
 * Includes the module into this translation unit (nothing interposed) and
 * points its debug_root at a mkdtemp directory under /tmp, removed at exit.
 *
 * Covers: which build ids name a file; the order of the candidates (build
 * id, <dir>, <dir>/.debug, <root><dir>); the CRC check; candidates passed
 * over (missing, a directory, a FIFO, shorter than an ELF header, the
 * object itself by path and by identity, paths longer than PATH_MAX,
 * links with a '/'); relative object paths; descriptors kept, taken,
 * closed by debugfile_end and by debugfile_fork_abandon; a mapping kept by
 * the caller; and that no descriptor or mapping is left behind.
 *
 * Exit status: 0 pass, 1 fail.
 */
#include "../../encoder/debugfile.c"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/wait.h>

#include "unit_tmp.h"
#define tmp unit_tmp

static const char *at(const char *fmt, ...)
{
	static char bufs[8][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 8];
	int n = snprintf(b, PATH_MAX, "%s/", tmp);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b + n, PATH_MAX - (size_t)n, fmt, ap);
	va_end(ap);
	return b;
}

static void mkdirs(const char *path)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot create %s\n", path);
		exit(1);
	}
}

/* A file of `size` bytes, every one `fill`; returns its CRC32. */
static uint32_t put(const char *path, unsigned char fill, size_t size)
{
	unsigned char buf[256];
	memset(buf, fill, sizeof(buf));
	FILE *fp = fopen(path, "w");
	if (!fp || fwrite(buf, 1, size, fp) != size || fclose(fp) != 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)size);
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/* Every path the search yields for q, in order, into out (one per line);
 * each candidate's mapping must hold its file's first byte. */
static void all_paths(const struct debugfile_query *q, char *out, size_t outlen)
{
	struct debugfile f;
	size_t len = 0;
	out[0] = '\0';
	debugfile_begin(&f);
	while (debugfile_next(&f, q)) {
		CHECK(f.addr != NULL && f.size >= sizeof(Elf64_Ehdr));
		CHECK_EQ(q->keep_fd, f.fd >= 0);
		len += (size_t)snprintf(out + len, outlen - len, "%s\n", f.path + strlen(tmp));
	}
	CHECK_STR(f.path, "");
	debugfile_end(&f);
	CHECK_EQ(holding_fd, -1);
}

static void test_build_ids(void)
{
	char longest[2 * DEBUGFILE_BUILD_ID_MAX + 3];
	memset(longest, 'a', sizeof(longest));
	longest[2 * DEBUGFILE_BUILD_ID_MAX] = '\0';
	CHECK(debugfile_valid_build_id(longest));
	longest[2 * DEBUGFILE_BUILD_ID_MAX] = 'a';
	longest[2 * DEBUGFILE_BUILD_ID_MAX + 2] = '\0';
	CHECK(!debugfile_valid_build_id(longest));
	CHECK(debugfile_valid_build_id("abcd"));
	CHECK(debugfile_valid_build_id("0123456789abcdef"));
	CHECK(!debugfile_valid_build_id(NULL));
	CHECK(!debugfile_valid_build_id(""));
	CHECK(!debugfile_valid_build_id("ab"));
	CHECK(!debugfile_valid_build_id("abc"));
	CHECK(!debugfile_valid_build_id("abcde"));
	CHECK(!debugfile_valid_build_id("ABCD"));
	CHECK(!debugfile_valid_build_id("abcg"));
	CHECK(!debugfile_valid_build_id("ab/cd"));
}

static void test_order_and_checks(void)
{
	char got[4 * PATH_MAX];
	const char *obj = at("lib/obj.so");

	mkdirs(at("root/.build-id/ab"));
	mkdirs(at("root%s/lib", tmp));
	mkdirs(at("lib/.debug"));
	put(obj, 'o', 100);

	struct debugfile_query q = { .obj_path = obj, .build_id = "abcdef", .link = "obj.debug" };
	all_paths(&q, got, sizeof(got));
	CHECK_STR(got, "");

	put(at("root/.build-id/ab/cdef.debug"), 'b', 64);
	uint32_t crc = put(at("lib/obj.debug"), 'l', 200);
	put(at("lib/.debug/obj.debug"), 'l', 200);
	put(at("root%s/lib/obj.debug", tmp), 'l', 200);
	q.link_crc = crc;
	all_paths(&q, got, sizeof(got));
	char want[4 * PATH_MAX];
	snprintf(want, sizeof(want), "/root/.build-id/ab/cdef.debug\n/lib/obj.debug\n/lib/.debug/obj.debug\n"
		 "/root%s/lib/obj.debug\n", tmp);
	CHECK_STR(got, want);

	/* The contents are the file's. */
	struct debugfile f;
	debugfile_begin(&f);
	CHECK(debugfile_next(&f, &q));
	CHECK_EQ(f.size, 64);
	CHECK_EQ(((const unsigned char *)f.addr)[63], 'b');
	CHECK(debugfile_next(&f, &q));
	CHECK_EQ(f.size, 200);
	CHECK_EQ(((const unsigned char *)f.addr)[0], 'l');
	debugfile_end(&f);

	/* Without a build id, or with an invalid one: links only. */
	q.build_id = NULL;
	all_paths(&q, got, sizeof(got));
	CHECK(strncmp(got, "/lib/obj.debug\n", 15) == 0);
	q.build_id = "ABCDEF";
	all_paths(&q, got, sizeof(got));
	CHECK(strncmp(got, "/lib/obj.debug\n", 15) == 0);
	q.build_id = "abcdef";

	/* A wrong CRC: no link candidate at all; one file changed: it alone
	 * is passed over. */
	q.link_crc = crc ^ 1;
	all_paths(&q, got, sizeof(got));
	CHECK_STR(got, "/root/.build-id/ab/cdef.debug\n");
	q.link_crc = crc;
	put(at("lib/obj.debug"), 'x', 200);
	all_paths(&q, got, sizeof(got));
	snprintf(want, sizeof(want), "/root/.build-id/ab/cdef.debug\n/lib/.debug/obj.debug\n/root%s/lib/obj.debug\n", tmp);
	CHECK_STR(got, want);

	/* Not regular files, or too short to be ELF: passed over; a FIFO
	 * does not block. */
	unlink(at("root/.build-id/ab/cdef.debug"));
	mkdirs(at("root/.build-id/ab/cdef.debug"));
	unlink(at("lib/obj.debug"));
	CHECK(mkfifo(at("lib/obj.debug"), 0600) == 0);
	put(at("lib/.debug/obj.debug"), 'l', 63);
	all_paths(&q, got, sizeof(got));
	snprintf(want, sizeof(want), "/root%s/lib/obj.debug\n", tmp);
	CHECK_STR(got, want);

	/* The object itself, by identity (a hard link) and by path. */
	struct stat st;
	CHECK(stat(at("root%s/lib/obj.debug", tmp), &st) == 0);
	q.have_self = true;
	q.self_dev = st.st_dev;
	q.self_ino = st.st_ino;
	all_paths(&q, got, sizeof(got));
	CHECK_STR(got, "");
	q.have_self = false;
	uint32_t self_crc = put(at("lib/self.so"), 's', 100);
	struct debugfile_query qs = { .obj_path = at("lib/self.so"), .link = "self.so", .link_crc = self_crc };
	all_paths(&qs, got, sizeof(got));
	CHECK_STR(got, "");

	/* Links that are paths, or empty, and objects without a path: no
	 * link candidates. */
	struct debugfile_query ql = q;
	ql.build_id = NULL;
	ql.link = "../lib/obj.debug";
	all_paths(&ql, got, sizeof(got));
	CHECK_STR(got, "");
	ql.link = "";
	all_paths(&ql, got, sizeof(got));
	CHECK_STR(got, "");
	ql.link = NULL;
	all_paths(&ql, got, sizeof(got));
	CHECK_STR(got, "");
	ql.link = "obj.debug";
	ql.obj_path = NULL;
	all_paths(&ql, got, sizeof(got));
	CHECK_STR(got, "");
	ql.obj_path = "";
	all_paths(&ql, got, sizeof(got));
	CHECK_STR(got, "");
}

static void test_relative_and_long_paths(void)
{
	char got[4 * PATH_MAX], cwd[PATH_MAX];

	mkdirs(at("rel/.debug"));
	uint32_t crc = put(at("rel/.debug/r.debug"), 'r', 100);
	put(at("rel/r.so"), 'o', 100);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir(at("rel")) == 0);
	struct debugfile_query q = { .obj_path = "r.so", .link = "r.debug", .link_crc = crc };
	struct debugfile f;
	debugfile_begin(&f);
	CHECK(debugfile_next(&f, &q));
	CHECK_STR(f.path, "./.debug/r.debug");
	CHECK(!debugfile_next(&f, &q));   /* no <root><dir> for a relative path */
	debugfile_end(&f);
	CHECK(chdir(cwd) == 0);

	/* Paths that do not fit are passed over, never truncated. */
	static char longdir[PATH_MAX + 64];
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	memcpy(longdir + sizeof(longdir) - 8, "/obj.so", 8);
	q.obj_path = longdir;
	all_paths(&q, got, sizeof(got));
	CHECK_STR(got, "");
	const char *saved = debug_root;
	debug_root = longdir;
	q.obj_path = NULL;
	q.build_id = "abcdef";
	all_paths(&q, got, sizeof(got));
	CHECK_STR(got, "");
	debug_root = saved;
}

static void test_descriptors(void)
{
	mkdirs(at("fd"));
	uint32_t crc = put(at("fd/x.debug"), 'x', 100);
	struct debugfile_query q = { .obj_path = at("fd/x.so"), .link = "x.debug", .link_crc = crc, .keep_fd = true };
	struct debugfile f;

	/* Kept for the caller, and closed by debugfile_end unless taken. */
	debugfile_begin(&f);
	CHECK(debugfile_next(&f, &q));
	int fd = f.fd;
	CHECK(fd >= 0 && fd_open(fd));
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK_EQ(holding_fd, fd);
	debugfile_end(&f);
	CHECK(!fd_open(fd));
	CHECK_EQ(holding_fd, -1);

	debugfile_begin(&f);
	CHECK(debugfile_next(&f, &q));
	fd = debugfile_take_fd(&f);
	CHECK(fd >= 0);
	CHECK_EQ(holding_fd, -1);
	CHECK_EQ(f.fd, -1);
	debugfile_end(&f);
	CHECK(fd_open(fd));
	CHECK_STR(f.path, at("fd/x.debug"));   /* readable after the end */
	close(fd);

	/* A fork child closes the descriptor held in here. */
	debugfile_begin(&f);
	CHECK(debugfile_next(&f, &q));
	fd = f.fd;
	debugfile_fork_abandon();
	CHECK(!fd_open(fd));
	CHECK_EQ(holding_fd, -1);
	f.fd = -1;
	debugfile_end(&f);

	/* Without keep_fd nothing stays open; a mapping the caller keeps is
	 * not unmapped. */
	q.keep_fd = false;
	debugfile_begin(&f);
	CHECK(debugfile_next(&f, &q));
	CHECK_EQ(f.fd, -1);
	CHECK_EQ(holding_fd, -1);
	const unsigned char *kept = f.addr;
	size_t size = f.size;
	f.addr = NULL;
	debugfile_end(&f);
	CHECK_EQ(kept[99], 'x');
	munmap((void *)kept, size);
}

int main(void)
{
	if (!unit_tmp_make("debugfile"))
		return 1;
	static char root[PATH_MAX];
	snprintf(root, sizeof(root), "%s", at("root"));
	debug_root = root;
	int fds = open_fds();

	test_build_ids();
	test_order_and_checks();
	test_relative_and_long_paths();
	test_descriptors();

	CHECK_EQ(open_fds(), fds);
	CHECK_EQ(holding_fd, -1);
	if (!unit_failures)
		printf("test_debugfile: ok\n");
	UNIT_DONE();
}
