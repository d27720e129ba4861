"""A tree of short-lived processes under cprof (a build, a test suite, a
shell script): it completes, every process that recorded something writes
its profiles, processes that recorded nothing write nothing (unless
CPROF_EMPTY_FILES=1 asks for their files too), and the tree's files read
as one profile of each kind (`cprof top` over many files; pprof adds them
up)."""

import os
import re
import shutil

import pprofdec
from harness import *

CPROF = os.path.join(ROOT, "scripts", "cprof")
KINDS = {"cpu", "heap", "mutex", "block", "threads", "threadcreate"}


def go_env():
    t = tmpdir()
    return {"HOME": t, "GOCACHE": os.path.join(t, ".gocache"), "PPROF_TMPDIR": t}


def run_tree(mids, leaves, busy_every, env=None):
    """Run proc_tree under cprof (the command, so the whole tree inherits
    the variables it sets); return {kind of process: [pids]}."""
    busy = os.path.join(tmpdir(), "tree_busy")
    shutil.copy(prog("proc_tree"), busy)
    e = {"CPROF_LIB": LIB}
    e.update(env or {})
    out = os.path.join(tmpdir(), "cprof.%e.%p.%n.%t.pb.gz")
    cp = run([CPROF, "-q", "-o", out, "--", prog("proc_tree"), mids, leaves, busy_every, busy],
             env=e, preload=False, timeout=300)
    pids = {}
    for line in cp.stdout.splitlines():
        what, pid = line.split()
        pids.setdefault(what, []).append(int(pid))
    total = 1 + mids + mids * leaves
    assert pids.get("processes") == [total], cp.stdout[-2000:]
    assert len(pids["true"]) + len(pids["busy"]) == mids * leaves, pids
    return pids


def samples_of(path):
    p = pprofdec.load(path)
    pprofdec.validate(p)
    return list(p.samples())


@timeout(300)
def test_tree_of_short_processes_writes_only_what_holds_samples():
    """311 processes: 270 /bin/true, 30 busy leaves (CPU and heap samples),
    10 mids and the root.  Every busy leaf writes its complete set, with
    samples in its cpu and heap files; every process that wrote anything
    wrote every profile and recorded something (a sample in one of them,
    or a thread besides the exiting one); the many processes that did
    nothing leave (almost) nothing behind."""
    pids = run_tree(10, 30, 10)
    files = profiles()
    by_pid = {}
    for f in files:
        by_pid.setdefault(f.pid, {})[f.kind] = f.path
    for pid in pids["busy"]:
        assert set(by_pid.get(pid, {})) == KINDS | {"heappeak"}, (pid, by_pid.get(pid))
        for kind in ("cpu", "heap"):
            assert samples_of(by_pid[pid][kind]), by_pid[pid][kind]
    for pid, kinds in by_pid.items():
        # heappeak: once the heap profile has a sample.
        assert set(kinds) - {"heappeak"} == KINDS, (pid, kinds)
        assert ("heappeak" in kinds) == bool(samples_of(kinds["heap"])), (pid, kinds)
        recorded = [k for k in KINDS - {"threads"} if samples_of(kinds[k])]
        assert recorded or len(samples_of(kinds["threads"])) > 1, (pid, kinds)
    # /bin/true runs about 0.1 ms of CPU once cprof's timer is set, with
    # the first expiry uniform in the first 10 ms: a few may be sampled,
    # and then rightly keep their files.
    true_pids = set(pids["true"]) & set(by_pid)
    assert len(true_pids) <= len(pids["true"]) // 10, sorted(true_pids)
    assert len(files) == sum(len(k) for k in by_pid.values()), len(files)


@timeout(300)
def test_tree_reads_as_one_profile():
    """`cprof top` over every cpu file and over every heap file of the
    tree: one profile each, led by the busy leaves' functions."""
    need("go")
    run_tree(4, 10, 2)
    cpu = [f.path for f in profiles(kind="cpu")]
    heap = [f.path for f in profiles(kind="heap")]
    assert len(cpu) >= 20 and len(heap) >= 20, (cpu, heap)
    cp = run([CPROF, "top"] + cpu, env=go_env(), preload=False, timeout=200)
    assert "cprof: adding up %d profiles" % len(cpu) in cp.stderr, cp.stderr[-2000:]
    top = parse_top(cp.stdout)
    assert top.rows and top.rows[0].name == "busy_leaf", cp.stdout[:3000]
    # 20 busy leaves of about 40 ms each.
    assert top.cum("busy_leaf") >= 20 * 30e6, cp.stdout[:3000]
    cp = run([CPROF, "top", "-sample_index=alloc_space"] + heap, env=go_env(), preload=False,
             timeout=200)
    top = parse_top(cp.stdout)
    assert top.type == "alloc_space", top.header
    # 8 MiB allocated by each of 20 leaves, estimated from samples.
    assert 80 << 20 < top.cum("alloc_leaf") < 240 << 20, cp.stdout[:3000]


@timeout(300)
def test_empty_files_when_asked():
    """CPROF_EMPTY_FILES=1: every process writes every profile at exit,
    whether it recorded anything or not."""
    pids = run_tree(2, 5, 5, env={"CPROF_EMPTY_FILES": "1"})
    by_pid = {}
    for f in profiles():
        by_pid.setdefault(f.pid, set()).add(f.kind)
    everyone = pids["root"] + pids["mid"] + pids["true"] + pids["busy"]
    assert len(everyone) == 13, pids
    for pid in everyone:
        assert by_pid.get(pid, set()) - {"heappeak"} == KINDS, (pid, by_pid.get(pid))
