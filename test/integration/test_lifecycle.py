"""Process lifecycle under cprof (issue 7): children by fork+exec,
posix_spawn, system() and vfork; exec of a static binary; exit from any
thread; _exit, abort and death by signal."""

import os
import re
import shutil
import signal
import time

import pprofdec
from checks import dump_sets, kinds_of, load_checked, one
from harness import *


def pids_with(kind):
    return sorted({f.pid for f in profiles(kind=kind)})


def child_modes():
    return ("forkexec", "spawn", "vfork")


@timeout(90)
def test_children_are_profiled_under_their_own_pid():
    """A program started by the profiled one (fork+exec, posix_spawn,
    vfork+exec, system) is profiled too, into its own files."""
    for mode in child_modes():
        for f in profiles():
            os.unlink(f.path)
        cp = run([prog("lifecycle"), mode, prog("heap_truth")], env={"CPROF_PROFILES": "heap"})
        child = int(cp.stdout.split("child ")[1].split()[0])
        assert "status 0" in cp.stdout, (mode, cp.stdout)
        exes = {(f.exe, f.pid) for f in profiles(kind="heap")}
        assert ("heap_truth", child) in exes and any(e == "lifecycle" for e, _ in exes), (mode, exes)
        p = load_checked(one(kind="heap", pid=child), pprof_too=False)
        assert p.flat("alloc_space").get("site_keep", 0) > 0, (mode, p.summary())
    for f in profiles():
        os.unlink(f.path)
    cp = run([prog("lifecycle"), "system", prog("heap_truth") + " 1 0"], env={"CPROF_PROFILES": "heap"})
    assert "system status 0" in cp.stdout, cp.stdout
    assert "heap_truth" in {f.exe for f in profiles(kind="heap")}, profiles()


def test_fork_child_numbers_its_dumps_from_one():
    """%n starts at 1 in every process: a parent that wrote two dumps
    forks; the child's dump and its exit dump are its 1 and 2 (before the
    fix they continued from the parent's count: 3 and 4), the parent's
    exit dump its 3.  Each numbered set is complete.  (Neither process
    records anything: CPROF_EMPTY_FILES=1 keeps their exit dumps.  At
    the largest rate: at the default, the 4 KiB stdout buffer the parent
    allocates before its exit dump was sampled in about one run in a
    hundred, and that set had a heappeak profile too.)"""
    cp = run([prog("fork_numbers")], env={"CPROF_PROFILES": "heap,cpu", "CPROF_EMPTY_FILES": "1",
                                          "CPROF_HEAP_RATE": str(1 << 40)})
    m = re.search(r"parent (\d+) child (\d+) status 0", cp.stdout)
    assert m, cp.stdout
    parent, child = int(m.group(1)), int(m.group(2))
    sets = dump_sets()
    assert sets == {(parent, 1): {"heap", "cpu"}, (parent, 2): {"heap", "cpu"},
                    (parent, 3): {"heap", "cpu"}, (child, 1): {"heap", "cpu"},
                    (child, 2): {"heap", "cpu"}}, sorted(sets.items())


def test_no_follow_exec():
    """CPROF_FOLLOW_EXEC=0 with CPROF_ROOT_PID: only the root process is
    profiled, not the programs it starts."""
    import subprocess
    cmd = ["bash", "-c", 'export CPROF_ROOT_PID=$$; exec "$0" forkexec "$1"', prog("lifecycle"),
           prog("heap_truth")]
    run(cmd, env={"CPROF_FOLLOW_EXEC": "0", "CPROF_PROFILES": "heap"})
    assert {f.exe for f in profiles(kind="heap")} == {"lifecycle"}, profiles()


def test_exec_of_static_binary():
    """Exec of a statically linked program: one clear line, no hang; the
    static program runs normally (unprofiled)."""
    cp = run([prog("lifecycle"), "exec-static", prog("static_hello")], env={"CPROF_PROFILES": "heap"})
    assert "static hello" in cp.stdout, cp.stdout
    lines = [l for l in cp.stderr.splitlines() if "statically linked" in l]
    assert len(lines) == 1 and "static_hello" in lines[0], cp.stderr


@timeout(60)
def test_exit_from_other_thread_and_busy_exit():
    """exit() from a non-main thread, and exit() while other threads keep
    allocating and locking: exit status kept, profiles written and valid."""
    cp = run([prog("lifecycle"), "thread-exit"], check=False, timeout=30)
    assert cp.returncode == 7, (cp.returncode, cp.stderr)
    for f in profiles():
        load_checked(f.path, pprof_too=False)
    assert pprofdec.load(one(kind="heap")).flat("inuse_space").get("lifecycle_site", 0) > 0
    for f in profiles():
        os.unlink(f.path)
    for i in range(5):
        cp = run([prog("lifecycle"), "busy-exit"], check=False, timeout=30)
        assert cp.returncode == 5, (cp.returncode, cp.stderr)
    assert len(profiles(kind="heap")) == 5
    for f in profiles():
        load_checked(f.path, pprof_too=False)


@timeout(120)
def test_exit_dump_is_the_last():
    """Dump requests arriving during exit() (a thread sending SIGUSR2 every
    200 us, one more as exit() begins) start no dump after the exit dump:
    _exit would cut it off and leave a numbered set with files missing.
    An exit handler that runs after cprof's (libexitwatch.so) counts
    the files that appear in the 50 ms after the exit dump; every set
    written is complete.  Ten runs (before the fix, 7 in 10 runs had
    files written after the exit dump)."""
    for i in range(10):
        cp = run([prog("exit_dumps")], check=False, timeout=30, env={"CPROF_QUIET": "1"})
        assert cp.returncode == 6, (cp.returncode, cp.stderr)
        m = re.search(r"files at exit (\d+), written after the exit dump (-?\d+)", cp.stdout)
        assert m and int(m.group(1)) >= 6 and m.group(2) == "0", cp.stdout
    sets = dump_sets()
    # The six default profiles: cpu, heap, mutex, block, threads, threadcreate
    # (and heappeak, with a heap sample).
    partial = {key: k for key, k in sets.items() if len(k - {"heappeak"}) != 6}
    assert not partial, partial
    assert len({pid for pid, _ in sets}) == 10


def test_underscore_exit_and_abort():
    """_exit writes nothing (documented) and abort still aborts: neither
    hangs; the exit status is the program's own."""
    cp = run([prog("lifecycle"), "underscore-exit"], check=False)
    assert cp.returncode == 0 and not profiles(), (cp.returncode, profiles())
    cp = run([prog("lifecycle"), "abort"], check=False)
    assert cp.returncode == -signal.SIGABRT, cp.returncode
    assert not [f for f in os.listdir(".") if f.startswith(".cprof-tmp")]


@timeout(60)
def test_death_by_sigterm_and_sigint_writes_profiles():
    """A program that leaves SIGTERM/SIGINT at the default action still dies
    by that signal (same status), after cprof wrote its profiles."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        for f in profiles():
            os.unlink(f.path)
        p = start([prog("alloc_loop"), "60", "2", "default-signals"])
        try:
            wait_for(lambda: "ready" in p.out(), 10, "start")
            time.sleep(0.3)
            t0 = time.time()
            os.kill(p.pid, sig)
            p.wait(20)
            took = time.time() - t0
        finally:
            p.kill_group()
        assert p.returncode == -sig, (sig, p.returncode, p.err())
        assert took < 3, took
        heaps = profiles(kind="heap")
        assert len(heaps) == 1, (sig, profiles())
        pr = load_checked(heaps[0].path, pprof_too=False)
        assert pr.flat("inuse_space").get("leak_site", 0) > 0


@timeout(90)
def test_sigterm_inside_cprof_still_writes_profiles():
    """SIGTERM (default action) that lands while the thread runs cprof's
    own code (every allocation sampled, so the main thread is inside the
    sampler most of the time) is acted on as soon as that code is done: the
    process still dies by SIGTERM, with its profiles.  Before the signal
    was deferred, 15 of 20 such runs died without a profile."""
    for i in range(8):
        for f in profiles():
            os.unlink(f.path)
        p = start([prog("lifecycle"), "alloc-forever"], env={"CPROF_HEAP_RATE": "1", "CPROF_QUIET": "1"})
        try:
            wait_for(lambda: "ready" in p.out(), 10, "start")
            time.sleep(0.2)
            os.kill(p.pid, signal.SIGTERM)
            p.wait(20)
        finally:
            p.kill_group()
        assert p.returncode == -signal.SIGTERM, (i, p.returncode, p.err())
        heaps = profiles(kind="heap")
        assert len(heaps) == 1, (i, profiles(), p.err())
        pr = load_checked(heaps[0].path, pprof_too=False)
        assert pr.flat("alloc_space").get("lifecycle_site", 0) > 0, pr.summary()


def test_dump_request_at_start_not_lost():
    """SIGUSR2 sent the moment the program starts, before cprof's writer
    thread has run at all (the process pinned to one core, so the writer
    waits for the main thread), still gets its dump: two sets of files,
    the signal's and the exit's.  Before the fix, 19 of 20 such runs lost
    the request."""
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    for i in range(5):
        for f in profiles():
            os.unlink(f.path)
        cp = run(pin + [prog("lifecycle"), "signal-at-start"], check=False, env={"CPROF_QUIET": "1"})
        assert cp.returncode == 0, (cp.returncode, cp.stderr)
        assert sorted(f.n for f in profiles(kind="heap")) == [1, 2], (i, profiles())


def test_term_handler_invisible_and_yields():
    """cprof's SIGTERM handler is invisible (a query reports SIG_DFL) and a
    program that installs its own handler gets it (signal_owner checks its
    own SIGUSR2/SIGPROF; here bash installs a SIGTERM trap)."""
    script = "trap 'echo trapped; exit 3' TERM; kill -TERM $$; sleep 1; echo not-reached"
    cp = run(["bash", "-c", script], check=False)
    assert cp.returncode == 3 and "trapped" in cp.stdout, (cp.returncode, cp.stdout, cp.stderr)


def test_last_thread_pthread_exit_ends_process():
    """When main ends with pthread_exit and the last worker returns, the
    process exits with status 0 as without cprof (glibc counts cprof's own
    threads, so cprof ends the process itself), writing its profiles; the
    same for a child forked from a worker whose only thread ends with
    pthread_exit."""
    cp = run([prog("main_pthread_exit")], timeout=20, env={"CPROF_HEAP_RATE": "4096"})
    assert cp.returncode == 0 and "main leaves" in cp.stdout
    assert pprofdec.load(one(kind="heap")).flat("inuse_space").get("worker_site", 0) > 0
    for f in profiles():
        os.unlink(f.path)
    cp = run([prog("main_pthread_exit"), "fork"], timeout=20)
    assert "child status 0" in cp.stdout, cp.stdout
    assert len({f.pid for f in profiles(kind="heap")}) == 2, profiles()


@timeout(150)
def test_fork_storm_while_threads_come_and_go():
    """1,000 forks while six threads create and join threads, allocate and
    lock: every child (which creates a thread and allocates) exits 0 within
    10 s.  Before every lock was in fork's inventory, a child inheriting
    pthread_create's free-list lock hung (4 in 1,000 here)."""
    cp = run([prog("fork_storm"), "1000", "6"], timeout=140,
             env={"CPROF_QUIET": "1", "CPROF_PROFILES": "heap,mutex,threadcreate"})
    assert cp.stdout.strip() == "forks 1000 ok 1000 hung 0", cp.stdout


def test_every_lock_is_in_the_inventory():
    """Every cprof lock - a spinlock_t or cprof_mutex_t variable or struct
    member anywhere in the library - is declared to the lock inventory
    (CPROF_LOCK_CLASS and friends, preload/base/lock.h) that fork's handlers and
    the witness use; the witness checks the same at run time in the
    sanitizer job."""
    srcs = []
    for d in ("preload/base", "preload/core", "preload/control", "hooks", "encoder"):
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if f.endswith((".c", ".h")) and f != "lock.h":
                srcs.append(os.path.join(ROOT, d, f))
    assert len(srcs) > 60, srcs  # every layer's files, not an empty folder listing
    text = {f: open(f).read() for f in srcs}
    declared = set()
    for t in text.values():
        for m in re.finditer(r"CPROF_(?:LOCK|MUTEX)_(?:CLASS|ARRAY|TABLE)(?:_ABANDONED)?\(\s*\w+\s*,\s*\w+\s*,\s*([^)]*)\)", t):
            declared.update(re.findall(r"\b\w+\b", m.group(1)))
    missing = []
    for f, t in text.items():
        for m in re.finditer(r"\b(?:spinlock_t|cprof_mutex_t)\s+(\w+)\s*(?:\[[^\]]*\])?\s*;", t):
            if m.group(1) not in declared:
                missing.append("%s: %s" % (os.path.relpath(f, ROOT), m.group(1)))
    assert declared and not missing, missing


def test_layers_only_point_down():
    """The folders are layers (docs/architecture.md): the library's objects
    pass scripts/check-layers.sh, and the check does fail on an object that
    uses a symbol defined in a layer above its own (the same pair of
    objects in the other direction passes)."""
    objs = []
    layers = "preload/base preload/core encoder preload/control hooks"
    for layer in layers.split():
        src = os.path.join(ROOT, layer)
        objs += [os.path.join(BUILD, "obj", layer, f[:-2] + ".o")
                 for f in sorted(os.listdir(src)) if f.endswith(".c")]
    assert len(objs) > 40 and all(os.path.exists(o) for o in objs), objs
    check = os.path.join(ROOT, "scripts", "check-layers.sh")
    cp = run(["sh", check, layers] + objs, preload=False, check=False)
    assert cp.returncode == 0, cp.stdout + cp.stderr

    tmp = tmpdir()
    def obj(layer, name, code):
        d = os.path.join(tmp, layer)
        os.makedirs(d, exist_ok=True)
        c = os.path.join(d, name + ".c")
        with open(c, "w") as f:
            f.write(code)
        o = c[:-2] + ".o"
        cc = run(["cc", "-fvisibility=hidden", "-c", c, "-o", o], preload=False, check=False)
        assert cc.returncode == 0, cc.stderr
        return o
    user = 'void up(void);\nvoid low(void) { up(); }\n'
    definer = 'void up(void) {}\n'
    low = obj("preload/base", "low", user)
    high = obj("hooks", "high", definer)
    cp = run(["sh", check, layers, low, high], preload=False, check=False)
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "low.o (preload/base) uses up, defined in" in cp.stdout and "a layer above" in cp.stdout, cp.stdout
    low2 = obj("hooks", "user", user)
    high2 = obj("preload/base", "definer", definer)
    cp = run(["sh", check, layers, low2, high2], preload=False, check=False)
    assert cp.returncode == 0, cp.stdout + cp.stderr
