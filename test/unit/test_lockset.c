/*
 * Unit test: the lock inventory and the witness (preload/base/lockset.c).
 *
 * Built with CPROF_WITNESS.  Three lock classes of this file (a single
 * lock, a static array, a table mapped at run time) stand for cprof's:
 * fork's prepare handler takes them all in rank order and the parent
 * handler releases them; the child handler leaves them free; the witness
 * accepts rank order and stops the process, naming both locks, on a lock
 * taken out of order, on an array taken out of index order, and on a lock
 * that belongs to no class (each in a child process).  An abandoned class
 * (held for long work, never across a fork) is left alone by prepare; a
 * child that finds it held runs its abandon function and frees it; a
 * thread that forks while holding one is stopped by the witness.
 */
#define CPROF_WITNESS 1
#include <sys/wait.h>

#include "../../preload/base/log.c"
#include "../../preload/base/lockset.c"
#include "unit.h"

static spinlock_t low;
CPROF_LOCK_CLASS(low, LOCK_RANK_THREADS, low);
static struct elem {
	long pad;
	spinlock_t lock;
} arr[4];
CPROF_LOCK_ARRAY(arr, LOCK_RANK_STACKTAB, arr, lock);
static struct elem *table;
CPROF_LOCK_TABLE(table, LOCK_RANK_ARENA, table, struct elem, lock, 3);
static cprof_mutex_t big;
CPROF_MUTEX_CLASS(big, LOCK_RANK_DUMP, big);
static spinlock_t stray;
static cprof_mutex_t slow;
static int abandoned;
static void on_abandon(void)
{
	abandoned++;
}
CPROF_MUTEX_CLASS_ABANDONED(slow, LOCK_RANK_SYMBOLS, slow, on_abandon);

/* Run fn in a child; return what it wrote on stderr and whether it was
 * stopped by SIGABRT. */
static int dies(void (*fn)(void), char *out, size_t outlen)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		fn();
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

static void out_of_rank(void)
{
	spin_lock(&arr[1].lock);
	spin_lock(&low); /* lower rank while holding a higher one */
}

static void out_of_index(void)
{
	spin_lock(&arr[2].lock);
	spin_lock(&arr[1].lock);
}

static void unregistered(void)
{
	spin_lock(&stray);
}

static void fork_holding_abandoned(void)
{
	cprof_mutex_lock(&slow);
	lockset_fork_prepare();
}

static void in_order(void)
{
	cprof_mutex_lock(&big);
	spin_lock(&low);
	spin_lock(&arr[0].lock);
	spin_lock(&arr[3].lock);
	spin_lock(&table[2].lock);
	spin_unlock(&table[2].lock);
	spin_unlock(&arr[3].lock);
	spin_unlock(&arr[0].lock);
	spin_unlock(&low);
	cprof_mutex_unlock(&big);
	/* A trylock may go against the order (it cannot wait)... */
	spin_lock(&arr[2].lock);
	CHECK(spin_trylock(&low));
	spin_unlock(&low);
	spin_unlock(&arr[2].lock);
}

int main(void)
{
	char msg[512];

	CHECK_EQ(lockset_classes(), 5);
	/* The run-time table is not mapped yet: fork skips it. */
	lockset_fork_prepare();
	CHECK_EQ(atomic_load(&low.v), 1);
	CHECK_EQ(atomic_load(&big.v), 1);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(atomic_load(&arr[i].lock.v), 1);
	lockset_fork_parent();
	CHECK_EQ(atomic_load(&low.v), 0);
	CHECK_EQ(atomic_load(&big.v), 0);

	table = calloc(3, sizeof(*table));
	/* Another thread holds the abandoned lock (the word is set by hand:
	 * this thread must not be the holder when it forks). */
	atomic_store(&slow.v, 1);
	lockset_fork_prepare();
	for (int i = 0; i < 3; i++)
		CHECK_EQ(atomic_load(&table[i].lock.v), 1);
	pid_t pid = fork();
	if (pid == 0) {
		lockset_fork_child();
		int bad = atomic_load(&low.v) + atomic_load(&big.v) + atomic_load(&table[1].lock.v) +
			  atomic_load(&slow.v) + (abandoned != 1);
		for (int i = 0; i < 4; i++)
			bad += atomic_load(&arr[i].lock.v);
		/* The witness forgot what the parent held: any order is new. */
		spin_lock(&low);
		spin_unlock(&low);
		_exit(bad);
	}
	lockset_fork_parent();
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(atomic_load(&table[i].lock.v), 0);
	CHECK_EQ(atomic_load(&slow.v), 1); /* untouched in the parent */
	CHECK_EQ(abandoned, 0);
	atomic_store(&slow.v, 0);

	in_order();

	char want[160];
	CHECK(dies(out_of_rank, msg, sizeof(msg)) == 1);
	snprintf(want, sizeof(want), "out of rank order: low[0] (rank %d) while holding arr[1] (rank %d)",
		 LOCK_RANK_THREADS, LOCK_RANK_STACKTAB);
	CHECK(strstr(msg, want) != NULL);
	CHECK(dies(out_of_index, msg, sizeof(msg)) == 1);
	snprintf(want, sizeof(want), "arr[1] (rank %d) while holding arr[2] (rank %d)", LOCK_RANK_STACKTAB,
		 LOCK_RANK_STACKTAB);
	CHECK(strstr(msg, want) != NULL);
	CHECK(dies(fork_holding_abandoned, msg, sizeof(msg)) == 1);
	CHECK(strstr(msg, "fork while holding a lock fork does not take: slow[0]") != NULL);
	CHECK(dies(unregistered, msg, sizeof(msg)) == 1);
	CHECK(strstr(msg, "belongs to no lock class") != NULL);
	if (unit_failures)
		fprintf(stderr, "last message: %s\n", msg);
	return unit_failures ? 1 : 0;
}
