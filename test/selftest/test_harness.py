"""Self-test of the process, file and assertion helpers in test/lib/harness.py
(independent of libcprof.so: nothing here is preloaded)."""

import os
import signal
import time

import harness
from harness import (LIB, eq_within, in_range, profiles, run, start, timeout, tmpdir,
                     wait_for, wait_for_file)


def _raises(fn, *words):
    try:
        fn()
    except AssertionError as e:
        for w in words:
            assert w in str(e), "%r not in %r" % (w, str(e))
        return str(e)
    raise AssertionError("no AssertionError")


def test_env_handling():
    os.environ["LD_PRELOAD"] = "/old.so"
    os.environ["HARNESS_GONE"] = "1"
    e = harness._env({"HARNESS_GONE": None, "X": 3}, preload=True)
    assert e["LD_PRELOAD"] == LIB + ":/old.so", e["LD_PRELOAD"]
    assert e["CPROF_OUTPUT"] == os.path.join(tmpdir(), "cprof.%e.%p.%n.%t.pb.gz")
    assert "HARNESS_GONE" not in e and e["X"] == "3"
    e = harness._env({"LD_PRELOAD": "/j.so", "CPROF_OUTPUT": None}, preload=True)
    assert e["LD_PRELOAD"] == LIB + ":/j.so" and "CPROF_OUTPUT" not in e
    e = harness._env({"LD_PRELOAD": None}, preload=True)
    assert e["LD_PRELOAD"] == LIB
    e = harness._env({"CPROF_OUTPUT": "/x/y"}, preload=True)
    assert e["CPROF_OUTPUT"] == "/x/y"
    e = harness._env(None, preload=False)
    assert e["LD_PRELOAD"] == "/old.so" and "CPROF_OUTPUT" not in e


@timeout(60)
def test_run():
    r = run("sh -c 'echo out; echo err >&2; echo $HV'", env={"HV": "v"}, preload=False)
    assert r.stdout == "out\nv\n" and r.stderr == "err\n" and r.returncode == 0, r
    assert r.elapsed >= 0
    r = run(["cat"], input="hello", preload=False)
    assert r.stdout == "hello"
    r = run(["pwd"], cwd="/", preload=False)
    assert r.stdout.strip() == "/"
    r = run(["sh", "-c", "exit 4"], preload=False, check=False)
    assert r.returncode == 4
    _raises(lambda: run(["sh", "-c", "echo bad-stdout; echo bad-stderr >&2; exit 5"], preload=False),
            "exit 5", "bad-stdout", "bad-stderr")
    _raises(lambda: run(["sh", "-c", "kill -SEGV $$"], preload=False), "killed by SIGSEGV")
    # A timeout kills the whole group, grandchildren included.
    pidfile = os.path.join(tmpdir(), "bg.pid")
    t0 = time.monotonic()
    _raises(lambda: run(["sh", "-c", "sleep 100 & echo $! > %s; echo started; wait" % pidfile],
                        preload=False, timeout=1), "timed out after 1s", "started")
    assert time.monotonic() - t0 < 10
    with open(pidfile) as f:
        pid = int(f.read())
    wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
             open("/proc/%d/stat" % pid).read().split()[2] == "Z", 5, "background sleep to die")


@timeout(60)
def test_start_and_wait():
    p = start(["sh", "-c", "echo ready; echo warn >&2; sleep 0.3; echo data > late.txt; exec sleep 100"],
              preload=False, cwd=tmpdir())
    path = wait_for_file("late.txt", timeout=10)
    assert path == os.path.join(tmpdir(), "late.txt")
    assert wait_for(lambda: "ready" in p.out(), 5, "ready") and "warn" in p.err()
    assert p.poll() is None
    rc = p.stop()
    assert rc == -signal.SIGTERM, rc
    assert "sh -c" in p.describe()
    with start(["sleep", "100"], preload=False) as q:
        assert q.poll() is None
    assert q.poll() is not None
    e = _raises(lambda: wait_for(lambda: False, 0.2, "never"), "timed out after 0.2s waiting for never")
    assert e
    _raises(lambda: wait_for_file("nothing-*.txt", timeout=0.2), "nothing-*.txt")


def test_profiles_naming():
    d = os.path.join(tmpdir(), "profs")
    os.makedirs(d)
    for name in ["cprof.a.out.123.2.heap.pb.gz", "cprof.a.out.123.10.heap.pb.gz",
                 "cprof.a.out.123.1.cpu.pb.gz", "cprof.srv.7.1.mutex.pb.gz",
                 "cprof.srv.7.1.mutex.pb.gz.tmp", "other.pb.gz", "cprof.x.pb.gz"]:
        open(os.path.join(d, name), "w").close()
    ps = profiles(d)
    assert [(p.exe, p.pid, p.n, p.kind) for p in ps] == [
        ("a.out", 123, 1, "cpu"), ("a.out", 123, 2, "heap"), ("a.out", 123, 10, "heap"),
        ("srv", 7, 1, "mutex")], ps
    assert ps[0].path == os.path.join(d, "cprof.a.out.123.1.cpu.pb.gz")
    assert [p.n for p in profiles(d, kind="heap")] == [2, 10]
    assert [p.exe for p in profiles(d, pid=7)] == ["srv"]
    assert [p.kind for p in profiles(d, exe="a.out", kind="cpu")] == ["cpu"]
    assert profiles(tmpdir()) == []


def test_assertions():
    assert eq_within(10, 10) == 10
    eq_within(105, 100, rel=0.05)
    eq_within(103, 100, abs=3)
    eq_within(-98, -100, rel=0.02)
    _raises(lambda: eq_within(106, 100, rel=0.05, what="widgets"), "widgets", "106", "100")
    _raises(lambda: eq_within(11, 10), "11", "10")
    assert in_range(5, 1, 10) == 5
    in_range(5, None, 5)
    _raises(lambda: in_range(11, 1, 10, "x"), "x", "11")
