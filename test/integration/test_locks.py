"""Mutex and block profiles with Go's semantics (issue 4)."""

import json
import os
import re

import pprofdec
from checks import kinds_of, load_checked, one, run_prog
from harness import *

LOCK_TYPES = [("contentions", "count"), ("delay", "nanoseconds")]


def test_lock_semantics_unchanged():
    """Every mutex type and every wrapped function returns exactly what it
    returns without cprof: same output line for line, no failures."""
    bare = run([prog("lock_semantics")], preload=False, timeout=60)
    cp = run([prog("lock_semantics")], timeout=60, env={"CPROF_BLOCK_RATE": "1"})
    assert cp.stdout == bare.stdout, "\n".join(
        "%s | %s" % (a, b) for a, b in zip(bare.stdout.splitlines(), cp.stdout.splitlines()) if a != b)
    assert "failures: 0" in cp.stdout
    assert cp.stdout.count("\nok ") > 100


@timeout(120)
def test_block_delay_per_site():
    """The block profile's delay per call site is within 15% of what the
    program measured around its own pthread_mutex_lock calls."""
    cp, truth = run_prog("lock_truth", [2], env={"CPROF_PROFILES": "mutex,block"})
    p = load_checked(one(kind="block"))
    assert p.sample_types == LOCK_TYPES and p.period_type == ("contentions", "count"), p.sample_types
    flat = p.flat("delay")
    for site in ("waiter_x", "waiter_y"):
        eq_within(flat.get(site, 0), truth[site], rel=0.15, what="block delay at " + site)
    # Contentions: at most one per lock call.
    fc = p.flat("contentions")
    assert 0 < fc.get("waiter_x", 0) <= truth["calls_x"] * 1.1, (fc, truth)


@timeout(120)
def test_mutex_charges_the_unlocker():
    """The mutex profile charges the unlock that ended the long critical
    section (long_unlock), not the waiters, with about the waiters' total
    delay."""
    cp, truth = run_prog("lock_truth", [2], env={"CPROF_PROFILES": "mutex,block"})
    path = one(kind="mutex")
    p = load_checked(path)
    flat = p.flat("delay")
    total = sum(flat.values())
    assert flat.get("long_unlock", 0) >= 0.8 * total, flat
    for w in ("waiter_x", "waiter_y"):
        assert flat.get(w, 0) == 0, flat
    waited = truth["waiter_x"] + truth["waiter_y"]
    eq_within(total, waited, rel=0.25, what="mutex delay vs waiters' wait")
    for flag in ("-contentions", "-total_delay", "-mean_delay"):
        top = pprof_top(path, [flag])
        assert "long_unlock" in top.names()[:3], (flag, top.rows[:5])


@timeout(180)
def test_mutex_delay_per_unlock_site():
    """Three holders of 2 ms, 30 us and 5 us critical sections on two
    mutexes, with waiters and a condition variable (lock_holders): the
    mutex profile charges each unlock site within 10% of the delay the
    program itself measured its unlocks ending (the same accounting as
    Go's, done by the program with its own clock and its own spinlock),
    over 3 runs (the waiters' small unlock sites within 10% or 40 ms), and
    the holders' within 25% on each run; the block profile has the
    waits within 10%.  (On a busy machine a thread preempted between the
    program's reading of the clock and cprof's moves a few milliseconds
    from one site to the next: hence the sums over runs.)  Before the fix
    an unlock looked at glibc's futex word, which reads 1 while a waiter
    has not yet marked it or was beaten to the lock: those unlocks were
    skipped and their delay dropped or charged to the next one (the 5 us
    holder got 68 to 81%, the waiters' own unlocks 35 to 293%)."""
    want, got = {}, {}
    for i in range(3):
        d = os.path.join(tmpdir(), "run%d" % i)
        os.makedirs(d)
        cp, truth = run_prog("lock_holders", [3], env={
            "CPROF_PROFILES": "mutex,block", "CPROF_OUTPUT": d + "/cprof.%e.%p.%n.%t.pb.gz"})
        mutex = load_checked(one(d, "mutex"), pprof_too=(i == 0)).flat("delay")
        block = load_checked(one(d, "block"), pprof_too=(i == 0)).cum("delay")
        sites = truth["sites"]
        report = "\n".join("%-16s truth %8.1f ms  profile %8.1f ms" % (k, v / 1e6, mutex.get(k, 0) / 1e6)
                           for k, v in sites.items())
        print(report)
        for site, v in sites.items():
            want[site] = want.get(site, 0) + v
            got[site] = got.get(site, 0) + mutex.get(site, 0)
        for site in ("a_unlock_2ms", "b_unlock_30us", "b_unlock_5us"):
            eq_within(mutex.get(site, 0), sites[site], rel=0.25, abs=3e6,
                      what="mutex delay at %s in one run\n%s" % (site, report))
        # Nothing is charged anywhere but the program's unlock sites.
        eq_within(sum(mutex.values()), sum(sites.values()), rel=0.05, what="mutex total\n" + report)
        eq_within(block.get("waiter_lock", 0), truth["waits"]["A"] + truth["waits"]["B"], rel=0.10,
                  what="block delay of the lock calls")
        eq_within(block.get("cond_wait_site", 0), truth["cond_wait"], rel=0.10, what="block delay of the cond waits")
    report = "\n".join("%-16s truth %8.1f ms  profile %8.1f ms (3 runs)" % (k, want[k] / 1e6, got[k] / 1e6)
                       for k in want)
    print(report)
    for site in want:
        # The waiters' own unlocks are the smallest sites and the most
        # exposed to a waiter preempted while it holds the lock (tens of
        # milliseconds with two cores and another test running).
        slack = 40e6 if site.startswith("waiter_") else 2e6
        eq_within(got[site], want[site], rel=0.10, abs=slack, what="mutex delay at %s\n%s" % (site, report))


def test_mutex_fraction_and_block_rate_off():
    """CPROF_MUTEX_FRACTION=0 and CPROF_BLOCK_RATE=0 turn the profiles off."""
    run_prog("lock_truth", [0.5], env={"CPROF_MUTEX_FRACTION": "0", "CPROF_BLOCK_RATE": "0"})
    kinds = kinds_of()
    assert "mutex" not in kinds and "block" not in kinds and "cpu" in kinds, kinds


@timeout(120)
def test_mutex_fraction_scales():
    """CPROF_MUTEX_FRACTION=4 keeps about 1 in 4 events, scaled by 4."""
    cp, truth = run_prog("lock_truth", [2], env={"CPROF_MUTEX_FRACTION": "4", "CPROF_PROFILES": "mutex"})
    p = load_checked(one(kind="mutex"))
    total = sum(p.flat("delay").values())
    eq_within(total, truth["waiter_x"] + truth["waiter_y"], rel=0.4, what="scaled mutex delay")


def test_syscall_semantics_unchanged():
    """syscall(), which cprof interposes to see futex-based locks, returns
    what it returns without cprof, with the same errno: ordinary calls of
    0 to 6 arguments, failures, private and shared futex waits and wakes,
    requeues, invalid operations and addresses, a real wait and wake."""
    bare = run([prog("futex_semantics")], preload=False)
    cp = run([prog("futex_semantics")], env={"CPROF_BLOCK_RATE": "1", "CPROF_PROFILES": "mutex,block"})
    assert cp.stdout == bare.stdout, "\n".join(
        "%s | %s" % (a, b) for a, b in zip(bare.stdout.splitlines(), cp.stdout.splitlines()) if a != b)
    assert "errno kept across a successful call: 1234" in cp.stdout, cp.stdout


def rust_prog(name):
    if not os.access("/usr/bin/rustc", os.X_OK):
        raise Skip("rustc not installed (sh scripts/deps.sh test installs it)")
    return prog(name)


@timeout(120)
def test_rust_std_locks():
    """Rust's std Mutex, RwLock and Condvar call futexes directly (no
    pthreads).  Block profile: the waits at each site within 25% of what
    the program measured around its own lock calls.  Mutex profile: the
    Mutex's unlockers (mostly the long holder's) and the RwLock's
    write-unlocker are charged with their waiters' measured waits (at least
    half of them: the waiters' wake-up after the unlock is theirs); the
    Condvar's notifier is not charged for the condition wait.  Before, the mutex profile was empty and the
    block profile showed only Thread::join.  3 runs."""
    path = rust_prog("rust_locks")
    for i in range(3):
        d = os.path.join(tmpdir(), "run%d" % i)
        os.makedirs(d)
        cp = run([path, "2"], env={"CPROF_PROFILES": "mutex,block",
                                   "CPROF_OUTPUT": d + "/cprof.%e.%p.%n.%t.pb.gz"})
        truth = json.loads(cp.stdout.strip().splitlines()[-1])
        block = load_checked(one(d, "block"), pprof_too=(i == 0)).cum("delay")
        mutex = load_checked(one(d, "mutex"), pprof_too=(i == 0)).cum("delay")
        report = "truth %s\nblock %s\nmutex %s" % (
            truth, {k: block.get(k, 0) for k in ("mutex_wait", "rw_read", "cond_wait")},
            {k: mutex.get(k, 0) for k in ("mutex_unlock", "mutex_wait", "rw_write_unlock", "cond_notify")})
        print(report)
        for site in ("mutex_wait", "rw_read", "cond_wait"):
            eq_within(block.get(site, 0), truth[site], rel=0.25, what="block delay at %s\n%s" % (site, report))
        # The waiters also wait behind each other's short sections:
        # their own unlocks (in mutex_wait) are charged for that part.
        # The mutex profile counts each wait up to the unlock that ended
        # it, not the waiter's wake-up after it, which a busy machine
        # stretches: at least half of the measured waits, never more.
        on_mutex = mutex.get("mutex_unlock", 0) + mutex.get("mutex_wait", 0)
        in_range(on_mutex, 0.5 * truth["mutex_wait"], 1.1 * truth["mutex_wait"],
                 what="mutex delay charged to the Mutex's unlockers\n" + report)
        assert mutex.get("mutex_unlock", 0) >= 0.7 * on_mutex, report
        in_range(mutex.get("rw_write_unlock", 0), 0.5 * truth["rw_read"], 1.1 * truth["rw_read"],
                 what="mutex delay charged to the RwLock write unlock\n" + report)
        assert mutex.get("cond_notify", 0) <= 0.1 * truth["cond_wait"], report
