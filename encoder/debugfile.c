/*
 * debugfile.c - the one search for separate debug files (see debugfile.h
 * for the order and the callers).
 *
 * Owns: the candidate paths, opening and mapping each candidate, the
 * .gnu_debuglink CRC check, and the descriptor held while a candidate is
 * examined.  Reading what is inside a debug file is the callers' business.
 *
 * Context: the thread holding the symbols lock (symbols.c and srclines.c
 * both run there), never a signal handler.  Nothing here calls malloc or
 * stdio.
 *
 * Invariants:
 *  - A candidate's path is built in its struct debugfile with its length
 *    checked at every step; one that does not fit in PATH_MAX is passed
 *    over, never truncated.
 *  - Files are opened read-only, close-on-exec, non-blocking (a FIFO at a
 *    candidate's path must not block the writer), without becoming a
 *    controlling terminal; only regular files at least an ELF header long
 *    are mapped, so every byte of the mapping is inside the file.
 *  - A descriptor open here is in holding_fd until it is closed or taken
 *    by the caller, so a fork child can close it (debugfile_fork_abandon).
 *  - Every mapping and descriptor a candidate had is released before the
 *    next one is looked at, except what the caller took.
 */
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "debugfile.h"

/* Where separate debug files live.  Not const so the unit tests, which
 * include this file, can point it at a directory of their own. */
static const char *debug_root = "/usr/lib/debug";

/* The descriptor open in here, for debugfile_fork_abandon(). */
static int holding_fd = -1;

enum { CAND_BUILD_ID, CAND_DIR, CAND_DOT_DEBUG, CAND_ROOT, CAND_END };

void debugfile_fork_abandon(void)
{
	if (holding_fd >= 0)
		close(holding_fd);
	holding_fd = -1;
}

bool debugfile_valid_build_id(const char *id)
{
	size_t n = 0;

	if (!id)
		return false;
	for (; id[n]; n++) {
		char c = id[n];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		if (n >= 2 * DEBUGFILE_BUILD_ID_MAX)
			return false;
	}
	return n >= 4 && n % 2 == 0;
}

/* ---- paths ------------------------------------------------------------- */

struct pathbuf {
	char *buf;
	size_t len;
	bool ok;
};

static void pb_init(struct pathbuf *pb, struct debugfile *f)
{
	pb->buf = f->path;
	pb->buf[0] = '\0';
	pb->len = 0;
	pb->ok = true;
}

static void pb_addn(struct pathbuf *pb, const char *s, size_t n)
{
	if (!pb->ok || n >= sizeof(((struct debugfile *)0)->path) - pb->len) {
		pb->ok = false;
		return;
	}
	memcpy(pb->buf + pb->len, s, n);
	pb->len += n;
	pb->buf[pb->len] = '\0';
}

static void pb_add(struct pathbuf *pb, const char *s)
{
	pb_addn(pb, s, strlen(s));
}

static bool link_usable(const struct debugfile_query *q)
{
	return q->obj_path && q->obj_path[0] && q->link && q->link[0] && !strchr(q->link, '/');
}

/* Writes candidate k's path into f->path; false when q gives no such
 * candidate or it does not fit. */
static bool candidate_path(struct debugfile *f, const struct debugfile_query *q, unsigned k)
{
	struct pathbuf pb;

	pb_init(&pb, f);
	if (k == CAND_BUILD_ID) {
		if (!debugfile_valid_build_id(q->build_id))
			return false;
		pb_add(&pb, debug_root);
		pb_add(&pb, "/.build-id/");
		pb_addn(&pb, q->build_id, 2);
		pb_add(&pb, "/");
		pb_add(&pb, q->build_id + 2);
		pb_add(&pb, ".debug");
		return pb.ok;
	}
	if (!link_usable(q))
		return false;
	const char *path = q->obj_path;
	const char *slash = strrchr(path, '/');
	const char *dir = slash ? path : ".";
	size_t dirlen = slash ? (size_t)(slash - path) : 1;
	switch (k) {
	case CAND_DIR:          /* <dir>/<link> */
		pb_addn(&pb, dir, dirlen);
		pb_add(&pb, "/");
		break;
	case CAND_DOT_DEBUG:    /* <dir>/.debug/<link> */
		pb_addn(&pb, dir, dirlen);
		pb_add(&pb, "/.debug/");
		break;
	case CAND_ROOT:         /* <root><dir>/<link>, absolute paths only */
		if (path[0] != '/')
			return false;
		pb_add(&pb, debug_root);
		pb_addn(&pb, dir, dirlen);
		pb_add(&pb, "/");
		break;
	default:
		return false;
	}
	pb_add(&pb, q->link);
	/* The link naming the object itself. */
	return pb.ok && strcmp(f->path, path) != 0;
}

/* ---- files ------------------------------------------------------------- */

static uint32_t crc_of(const void *p, size_t size)
{
	uLong c = crc32(0L, Z_NULL, 0);
	const unsigned char *b = p;

	for (size_t left = size; left;) {
		uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
		c = crc32(c, b, chunk);
		b += chunk;
		left -= chunk;
	}
	return (uint32_t)c;
}

static void release(struct debugfile *f)
{
	if (f->addr)
		munmap((void *)f->addr, f->size);
	f->addr = NULL;
	f->size = 0;
	if (f->fd >= 0) {
		if (holding_fd == f->fd)
			holding_fd = -1;
		close(f->fd);
	}
	f->fd = -1;
}

/* Opens, checks and maps the file at f->path, candidate k of q. */
static bool open_candidate(struct debugfile *f, const struct debugfile_query *q, unsigned k)
{
	struct stat st;
	bool by_link = k != CAND_BUILD_ID;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return false;
	holding_fd = fd;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr) ||
	    (by_link && q->have_self && st.st_dev == q->self_dev && st.st_ino == q->self_ino))
		goto fail;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	f->addr = p;
	f->size = (size_t)st.st_size;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	if (q->keep_fd) {
		f->fd = fd;
	} else {
		holding_fd = -1;
		close(fd);
	}
	if (by_link && crc_of(f->addr, f->size) != q->link_crc) {
		release(f);
		return false;
	}
	return true;
fail:
	holding_fd = -1;
	close(fd);
	return false;
}

/* ---- interface --------------------------------------------------------- */

void debugfile_begin(struct debugfile *f)
{
	f->path[0] = '\0';
	f->addr = NULL;
	f->size = 0;
	f->dev = 0;
	f->ino = 0;
	f->fd = -1;
	f->next = CAND_BUILD_ID;
}

bool debugfile_next(struct debugfile *f, const struct debugfile_query *q)
{
	release(f);
	while (f->next < CAND_END) {
		unsigned k = f->next++;
		if (candidate_path(f, q, k) && open_candidate(f, q, k))
			return true;
	}
	f->path[0] = '\0';
	return false;
}

int debugfile_take_fd(struct debugfile *f)
{
	int fd = f->fd;

	if (fd >= 0 && holding_fd == fd)
		holding_fd = -1;
	f->fd = -1;
	return fd;
}

void debugfile_end(struct debugfile *f)
{
	release(f);
}
