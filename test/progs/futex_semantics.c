/*
 * futex_semantics - syscall() returns the same results and errno with and
 * without cprof (which interposes it to see futex-based locks).
 *
 * Prints one line per check: what syscall() returned and errno.  The test
 * compares the output with a bare run line for line.  Covers: ordinary
 * system calls with 0 to 6 arguments, failures, private and shared
 * futexes (wait on a changed value, timed-out waits, wakes with and without
 * a waiter, a requeue, an invalid operation), and a real wait woken by
 * another thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int word, other;

static void show(const char *what, long r)
{
	printf("%-34s r=%ld errno=%s\n", what, r, r < 0 ? strerrorname_np(errno) : "-");
	errno = 0;
}

static void *waker(void *arg)
{
	struct timespec ts = {0, 50 * 1000 * 1000};
	(void)arg;
	nanosleep(&ts, NULL);
	__atomic_store_n(&word, 2, __ATOMIC_SEQ_CST);
	long n;
	do
		n = syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1);
	while (n == 0); /* until the waiter is asleep */
	return NULL;
}

int main(void)
{
	struct timespec short_ts = {0, 1000 * 1000};
	char buf[16];

	show("getppid == getppid()", syscall(SYS_getppid) == getppid());
	show("close(-1)", syscall(SYS_close, -1));
	show("read(-1, buf, 1)", syscall(SYS_read, -1, buf, 1));
	show("openat(bad path)", syscall(SYS_openat, AT_FDCWD, "/nonexistent/x", O_RDONLY, 0));
	void *m = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mmap(6 args) ok", m != MAP_FAILED);
	show("munmap", syscall(SYS_munmap, m, 4096));
	show("mmap(bad fd)", syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0));
	show("bad syscall number", syscall(100000));

	word = 1;
	show("private wait, value differs", syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL));
	show("private wait, times out", syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 1, &short_ts));
	show("shared wait, times out", syscall(SYS_futex, &word, FUTEX_WAIT, 1, &short_ts));
	word = 2;
	show("private wait 2, times out", syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 2, &short_ts));
	show("bitset wait, bitset 0", syscall(SYS_futex, &word, FUTEX_WAIT_BITSET_PRIVATE, 2, NULL, NULL, 0));
	show("private wake, nobody", syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1));
	show("bitset wake, nobody", syscall(SYS_futex, &word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, ~0u));
	show("requeue, nobody", syscall(SYS_futex, &word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1, &other, 2));
	show("requeue, value differs", syscall(SYS_futex, &word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1, &other, 5));
	show("invalid op", syscall(SYS_futex, &word, 0x7f | FUTEX_PRIVATE_FLAG, 0, NULL));
	show("wait at a bad address", syscall(SYS_futex, (int *)8, FUTEX_WAIT_PRIVATE, 0, NULL));
	show("wake at an unaligned address", syscall(SYS_futex, (char *)&word + 1, FUTEX_WAKE_PRIVATE, 1));

	/* A real wait, woken by another thread. */
	pthread_t th;
	word = 1;
	pthread_create(&th, NULL, waker, NULL);
	long r;
	while ((r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 1, NULL)) == 0 &&
	       __atomic_load_n(&word, __ATOMIC_SEQ_CST) == 1)
		;
	show("woken wait (0 or EAGAIN)", r == 0 || errno == EAGAIN ? 0 : r);
	pthread_join(th, NULL);
	errno = 1234;
	syscall(SYS_getppid);
	printf("errno kept across a successful call: %d\n", errno);
	return 0;
}
