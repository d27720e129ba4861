"""Longer stress runs (make stress): the same guarantees as the
integration tests, held for longer and under heavier signal rates."""

import os
import signal
import time

import pprofdec
from checks import dump_sets, kinds_of, load_checked, one
from harness import *


def all_valid():
    for f in profiles():
        load_checked(f.path, pprof_too=False)
    assert not [f for f in os.listdir(".") if f.startswith(".cprof-tmp")]


@timeout(240)
def test_python_threading_and_queue_suites():
    """Python's test_threading and test_queue (threads, locks, conditions,
    fork, timeouts) pass under every profile at 1 kHz."""
    if not os.path.exists("/usr/lib/python3.11/test/test_threading.py"):
        raise Skip("libpython3.11-testsuite not installed")
    cp = run(["/usr/bin/python3", "-m", "test", "-q", "test_threading", "test_queue"], timeout=220,
             env={"CPROF_QUIET": "1", "CPROF_CPU_HZ": "1000", "CPROF_BLOCK_RATE": "10000"})
    assert "Tests result: SUCCESS" in cp.stdout, cp.stdout[-3000:]
    all_valid()


@timeout(240)
def test_fork_storm():
    """200 forks from a program whose 4 threads allocate and lock the whole
    time: every child exits normally with its own valid profiles."""
    cp = run([prog("fork_child"), "200"], timeout=220, env={"CPROF_HEAP_RATE": "65536", "CPROF_QUIET": "1"})
    assert cp.stdout.count("status 0") == 200, cp.stdout[-2000:]
    assert len({f.pid for f in profiles(kind="heap")}) == 201
    all_valid()


@timeout(180)
def test_long_dump_storm_with_interval():
    """10 s of SIGUSR2 every millisecond plus CPROF_INTERVAL=1, 8 threads
    allocating: no deadlock, every dump complete."""
    p = start([prog("alloc_loop"), "60", "8"], env={"CPROF_INTERVAL": "1", "CPROF_QUIET": "1"})
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        t0 = time.time()
        while time.time() - t0 < 10:
            os.kill(p.pid, signal.SIGUSR2)
            time.sleep(0.001)
        p.stop(signal.SIGTERM, timeout=60)
        assert p.returncode == 0, p.describe()
    finally:
        p.kill_group()
    by_n = {n: kinds for (_, n), kinds in dump_sets().items()}
    assert sorted(by_n) == list(range(1, len(by_n) + 1)) and len(by_n) > 10, sorted(by_n)
    # The default set: six profiles (and heappeak once the heap has a sample).
    assert all(len(k - {"heappeak"}) == 6 for k in by_n.values()), by_n
    all_valid()


@timeout(180)
def test_cpu_signals_in_every_hook():
    """5 kHz CPU sampling while 8 threads allocate with every allocation
    sampled and lock a shared mutex: signals land inside every hook and
    inside libunwind; nothing breaks and lost samples are accounted."""
    p = start([prog("alloc_loop"), "10", "8"], env={"CPROF_CPU_HZ": "5000", "CPROF_HEAP_RATE": "1",
                                                    "CPROF_QUIET": "1"})
    try:
        p.wait(120)
    finally:
        p.kill_group()
    assert p.returncode == 0, p.describe()
    cpu = load_checked(one(kind="cpu"))
    assert cpu.total("samples") > 1000
    all_valid()


@timeout(180)
def test_exceptions_and_dlopen_under_fast_sampling():
    """C++ exception unwinding and dlopen/dlclose loops while the CPU timer
    fires at 5 kHz and every allocation is sampled."""
    env = {"CPROF_CPU_HZ": "5000", "CPROF_HEAP_RATE": "1", "CPROF_QUIET": "1"}
    for i in range(5):
        cp = run([prog("cxx_exceptions")], env=env, timeout=60)
        assert "caught 8000 of 8000" in cp.stdout
    run([prog("dlopen_loop"), "2000"], env=env, timeout=120)
    all_valid()


@timeout(240)
def test_fifty_thousand_threads():
    """50,000 short-lived threads with every profile on."""
    run([prog("many_threads"), "50000"], env={"CPROF_QUIET": "1"}, timeout=200)
    tc = load_checked(one(kind="threadcreate"))
    assert tc.total("threadcreate") == 50000
