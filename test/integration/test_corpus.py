"""A corpus of real Debian programs run bare and under cprof ("Never harm
the host"): binutils (objdump, readelf), git (init, commit, clone over
file:// with its upload-pack/pack-objects/index-pack children, gc), a
`make -j2` build with every compiler process preloaded, nginx (master and
two workers, which own SIGUSR2), and a Rust program built with Debian's
rustc (threads, a Mutex, a panic caught with catch_unwind).

Each program runs without cprof first: that run is the ground truth.
Under cprof it must give the same stdout, the same stderr once cprof's own
`cprof: ` lines are removed (byte for byte with CPROF_QUIET=1), the same
exit status and the same observable results (files, hashes, responses,
signal dispositions).  The profiles it writes are read as a user reads
them, with `go tool pprof -top` and its default symbolization, and must
name functions the program is known to run."""

import hashlib
import os
import re
import shutil
import signal
import urllib.request

import pprofdec
from checks import free_port, load_checked, wait_port
from harness import *


def without_cprof(text):
    """text minus cprof's lines (git relays a child's as "remote: cprof: ...")."""
    return "".join(l for l in text.splitlines(True) if "cprof: " not in l)


def top_names(path, sample_index=None):
    """Function names `go tool pprof -top` shows for a profile (every node,
    sorted by cum), and the parsed Top."""
    extra = ["-nodefraction=0", "-cum"]
    if sample_index:
        extra.append("-sample_index=" + sample_index)
    top = pprof_top(path, extra)
    return set(top.names()), top


def build_id(path):
    """The GNU build id of an ELF file, as `readelf -n` prints it (bare)."""
    out = run(["readelf", "-n", path], preload=False).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    assert m, out
    return m.group(1)


def same_run(bare, cp, what):
    """Same status, stdout, and stderr apart from cprof's lines."""
    assert cp.returncode == bare.returncode, (what, bare.returncode, cp.returncode)
    assert cp.stdout == bare.stdout, "%s: stdout differs" % what
    assert without_cprof(cp.stderr) == bare.stderr, (what, bare.stderr[-2000:], cp.stderr[-2000:])


def by_command():
    """{command line: [ProfileFile...]} from each profile's comment."""
    out = {}
    for f in profiles():
        p = pprofdec.load(f.path)
        cmd = next((c[len("command: "):] for c in p.comments if c.startswith("command: ")), "")
        out.setdefault(cmd, []).append(f)
    return out


# ---------------------------------------------------------------- binutils

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
LIBSTDCXX = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"


@timeout(120)
def test_objdump_and_readelf():
    """objdump -d on libc and readelf -a -W -C on libstdc++ write the same
    megabytes of text under cprof; their profiles name the main binary
    with its build id, and functions objdump is known to run (libbfd's
    bfd_map_over_sections, the printf family)."""
    need("/usr/bin/objdump", "/usr/bin/readelf", LIBC, LIBSTDCXX)
    env = {"CPROF_CPU_HZ": "1000", "CPROF_HEAP_RATE": "16384"}
    argv = ["objdump", "-d", LIBC]
    bare = run(argv, preload=False)
    assert len(bare.stdout) > 1 << 20, len(bare.stdout)
    cp = run(argv, env=env)
    same_run(bare, cp, "objdump")
    objdump = os.path.realpath(shutil.which("objdump"))
    [cpu] = [f.path for f in profiles(kind="cpu")]
    names, top = top_names(cpu)
    assert top.header_value("File") == os.path.basename(objdump), top.header
    assert top.header_value("Build ID") == build_id(objdump), top.header
    assert "bfd_map_over_sections" in names, sorted(names)
    # glibc's names depend on the symbol tables at hand (printf, __printf,
    # __vfprintf_internal); every disassembled line goes through one.
    assert any("printf" in n for n in names), sorted(names)
    [heap] = [f.path for f in profiles(kind="heap")]
    names, _ = top_names(heap, "alloc_space")
    assert any(n.startswith("bfd_") for n in names), sorted(names)
    for f in profiles():
        load_checked(f.path, pprof_too=False)
        os.unlink(f.path)

    argv = ["readelf", "-a", "-W", "-C", LIBSTDCXX]
    bare = run(argv, preload=False)
    assert "std::" in bare.stdout, bare.stdout[:500]
    cp = run(argv, env=env)
    same_run(bare, cp, "readelf")
    readelf = os.path.realpath(shutil.which("readelf"))
    [cpu] = [f.path for f in profiles(kind="cpu")]
    names, top = top_names(cpu)
    assert top.header_value("Build ID") == build_id(readelf), top.header
    assert any(n.startswith("__libc_start_main") for n in names), sorted(names)
    for f in profiles():
        load_checked(f.path, pprof_too=False)


# ---------------------------------------------------------------- git

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "A U Thor", "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "C O Mitter", "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "LC_ALL": "C", "TZ": "UTC",
}


def write_tree(root, round_):
    """Deterministic file contents: 40 files, some large enough to deltify."""
    for i in range(40):
        with open(os.path.join(root, "f%02d.txt" % i), "a") as f:
            for k in range(200 + 20 * i):
                f.write("file %d line %d round %d %s\n" % (i, k, round_ if k % 50 == 0 else 0,
                                                          hashlib.sha1(b"%d/%d" % (i, k)).hexdigest()))


def git_scenario(work, preload, env):
    """init, three commits, clone over file:// (upload-pack, pack-objects,
    index-pack children), log/fsck of the clone, gc (repack, pack-objects,
    pack-refs, reflog, prune children).  Every git command's stdout and
    stderr go to one pipe (2>&1), as a terminal would show them.  Returns
    [(command, status, output)] and facts read back without cprof."""
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(os.path.join(work, "home"))
    env = dict(GIT_ENV, HOME=os.path.join(work, "home"), **env)
    src, dst = os.path.join(work, "src"), os.path.join(work, "dst")
    steps = [["git", "init", "-b", "main", src]]
    for r in range(3):
        steps.append(("write", r))
        steps.append(["git", "-C", src, "add", "."])
        steps.append(["git", "-C", src, "commit", "-m", "round %d" % r])
    steps += [
        ["git", "clone", "file://" + src, dst],
        ["git", "-C", dst, "log", "--format=%H %T %s"],
        ["git", "-C", dst, "fsck", "--full"],
        ["git", "-C", src, "gc", "--prune=now"],
        ["git", "-C", src, "fsck", "--full"],
    ]
    results = []
    for step in steps:
        if step[0] == "write":
            write_tree(src, step[1])
            continue
        cp = run(["sh", "-c", 'exec "$@" 2>&1', "sh"] + step, env=env, preload=preload, check=False,
                 timeout=120)
        results.append((" ".join(step[:4]), cp.returncode, cp.stdout))
    facts = {}
    for what, cmd in (("src", ["git", "-C", src, "count-objects", "-v"]),
                      ("dst", ["git", "-C", dst, "count-objects", "-v"]),
                      ("head", ["git", "-C", dst, "rev-parse", "HEAD", "HEAD^{tree}"]),
                      ("files", ["git", "-C", dst, "ls-files", "-s"])):
        out = run(cmd, env=env, preload=False).stdout
        # Pack sizes may differ with the delta search's thread timing;
        # object counts may not.
        facts[what] = [l for l in out.splitlines() if not l.startswith("size")]
    return results, facts


def compare_git(bare, cp, strip):
    (bres, bfacts), (cres, cfacts) = bare, cp
    assert [r[:2] for r in cres] == [r[:2] for r in bres], (bres, cres)
    assert all(r[1] == 0 for r in bres), bres
    for (cmd, _, bout), (_, _, cout) in zip(bres, cres):
        assert (without_cprof(cout) if strip else cout) == bout, (cmd, bout, cout)
    assert cfacts == bfacts, (bfacts, cfacts)


@timeout(150)
def test_git_init_commit_clone_gc():
    """git's own workflow under cprof, every git process profiled: the same
    output (minus cprof's lines, which clone relays as "remote: cprof: ..."),
    the same commit and tree ids, objects and files.  The clone's and gc's
    children wrote profiles under their own command lines, and pack-objects'
    heap profiles name zlib's deflateInit2_ (it compresses every object)."""
    need("/usr/bin/git")
    work = os.path.join(tmpdir(), "work")
    bare = git_scenario(work, False, {})
    assert any("round 2" in r[2] for r in bare[0]), bare[0]
    # Every process writes its set, even one that happened to record
    # nothing (git pack-refs may take no sample): the test is that each
    # child is profiled under its own command line.
    cp = git_scenario(work, True, {"CPROF_HEAP_RATE": "65536", "CPROF_EMPTY_FILES": "1"})
    compare_git(bare, cp, strip=True)
    cmds = by_command()
    for needle in ("upload-pack", "pack-objects --revs --thin --stdout", "index-pack",
                   "repack", "pack-objects --local", "pack-refs", "reflog expire", "prune"):
        assert any(needle in c for c in cmds), (needle, sorted(cmds))
    packers = [f for c, fs in cmds.items() if "pack-objects" in c for f in fs if f.kind == "heap"]
    assert len(packers) == 2, packers
    for f in packers:
        names, _ = top_names(f.path, "alloc_space")
        assert "deflateInit2_" in names, sorted(names)
    for f in profiles():
        load_checked(f.path, pprof_too=False)


@timeout(150)
def test_git_clone_quiet_is_byte_identical():
    """With CPROF_QUIET=1 every git command's combined output is byte for
    byte the bare run's, through clone and gc (before: clone printed
    "remote: cprof: the program installed its own handler for signal 12"
    for the children git resets signals in before exec)."""
    need("/usr/bin/git")
    work = os.path.join(tmpdir(), "work")
    bare = git_scenario(work, False, {})
    # Every git process's files, those that sampled nothing too.
    cp = git_scenario(work, True, {"CPROF_QUIET": "1", "CPROF_PROFILES": "heap",
                                   "CPROF_EMPTY_FILES": "1"})
    compare_git(bare, cp, strip=False)
    assert len({f.pid for f in profiles(kind="heap")}) >= 20, profiles()


# ---------------------------------------------------------------- make -j2

MAKEFILE = """\
OBJS = main.o m1.o m2.o m3.o m4.o
prog: $(OBJS)
\t$(CC) -o $@ $(OBJS)
%.o: %.c m.h
\t$(CC) -O2 -Wall -c $< -o $@
"""


def write_project(d):
    """Five C files: four modules of 150 functions each (enough for cc1
    to take a visible moment at -O2), one with an unused variable so the
    build has a warning on stderr, and main.c printing their results."""
    os.makedirs(d)
    with open(os.path.join(d, "m.h"), "w") as f:
        f.write("".join("long f%d(long);\n" % i for i in range(1, 5)))
    for i in range(1, 5):
        with open(os.path.join(d, "m%d.c" % i), "w") as f:
            f.write('#include "m.h"\n#include <string.h>\n')
            for k in range(150):
                f.write("static long g%d(long x) { long t = %d; for (long j = 0; j < x %% 17; j++)"
                        " t = t * 31 + j * %d; return t; }\n" % (k, k, i))
            f.write("long f%d(long x)\n{\n" % i)
            if i == 2:
                f.write("\tint unused;\n")
            f.write("\tlong s = 0;\n")
            f.write("".join("\ts += g%d(x + %d);\n" % (k, k) for k in range(150)))
            f.write("\treturn s;\n}\n")
    with open(os.path.join(d, "main.c"), "w") as f:
        f.write('#include <stdio.h>\n#include "m.h"\nint main(void)\n{\n'
                '\tprintf("%ld %ld %ld %ld\\n", f1(10), f2(20), f3(30), f4(40));\n\treturn 0;\n}\n')
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write(MAKEFILE)


def objects(d):
    out = {}
    for name in sorted(os.listdir(d)):
        if name.endswith(".o"):
            with open(os.path.join(d, name), "rb") as f:
                out[name] = f.read()
    return out


@timeout(150)
def test_make_j2_build_every_compiler_process_preloaded():
    """`make -j2` of a generated five-file C project with LD_PRELOAD
    exported to make and through it to every gcc, cc1, as, collect2 and
    ld: with CPROF_QUIET=1 the same stdout and stderr (the warning) byte
    for byte, the same object files byte for byte, a program that prints
    the same; one cc1 profiled per source file, whose profiles name GCC's
    own functions (cc1 exports its symbols for plugins)."""
    need("/usr/bin/make", "/usr/bin/gcc")
    src = os.path.join(tmpdir(), "proj")
    write_project(src)
    env = {"CC": "gcc", "MAKEFLAGS": None, "MFLAGS": None, "LC_ALL": "C"}
    bare = run(["make", "-j2", "-s"], cwd=src, preload=False, env=env)
    assert "unused variable" in bare.stderr, bare.stderr
    bare_objs = objects(src)
    assert len(bare_objs) == 5, bare_objs.keys()
    bare_out = run([os.path.join(src, "prog")], preload=False).stdout
    for name in list(bare_objs) + ["prog"]:
        os.unlink(os.path.join(src, name))
    cp = run(["make", "-j2", "-s"], cwd=src,
             env=dict(env, CPROF_QUIET="1", CPROF_CPU_HZ="1000", CPROF_HEAP_RATE="65536"))
    assert (cp.returncode, cp.stdout, cp.stderr) == (bare.returncode, bare.stdout, bare.stderr), cp
    assert objects(src) == bare_objs, "object files differ from the bare build"
    assert run([os.path.join(src, "prog")], preload=False).stdout == bare_out
    exes = {}
    for f in profiles(kind="heap"):
        exes.setdefault(f.exe, set()).add(f.pid)
    assert len(exes.get("cc1", ())) == 5, exes
    assert "make" in exes and any("gcc" in e for e in exes) and any(e.endswith("-as") for e in exes), exes
    assert any(e.startswith("collect2") or "ld" in e for e in exes), exes
    cc1 = profiles(kind="heap", exe="cc1")
    names, top = top_names(cc1[0].path, "alloc_space")
    cc1_path = run(["gcc", "-print-prog-name=cc1"], preload=False).stdout.strip()
    assert top.header_value("Build ID") == build_id(cc1_path), top.header
    assert "toplev::main" in names and "xmalloc" in names, sorted(names)
    cpu_ns = sum(pprofdec.load(f.path).total("cpu") for f in profiles(kind="cpu", exe="cc1"))
    assert cpu_ns > 0, "no CPU sample in any cc1"
    for f in profiles():
        load_checked(f.path, pprof_too=False)


# ---------------------------------------------------------------- nginx

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 2;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fastcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    server {{
        listen 127.0.0.1:{port};
        root {d}/html;
    }}
}}
"""

SIG_LINES = ("SigBlk", "SigIgn", "SigCgt")


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def sig_masks(pid):
    with open("/proc/%d/status" % pid) as f:
        return {k: int(v, 16) for k, v in (l.split(":") for l in f if l.split(":")[0] in SIG_LINES)}


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return sorted(int(c) for c in f.read().split())


def error_log_lines(path):
    """nginx's error log without dates, pids and cprof's lines, sorted (the
    two workers interleave), and without the master's SIGCHLD/SIGIO
    notices (how many depends on how the workers' exits coalesce)."""
    out = []
    with open(path) as f:
        for line in f:
            if "cprof: " in line or "(SIGCHLD) received" in line or "(SIGIO) received" in line:
                continue
            line = re.sub(r"^\S+ \S+ ", "", line.rstrip("\n"))
            out.append(re.sub(r"\d+", "N", line))
    return sorted(out)


def nginx_run(d, preload, requests=200):
    """Start nginx (master + 2 workers) in d, serve html/page.html to
    `requests` urllib requests, read the signal dispositions of the master
    and the workers, send the master SIGUSR2 (nginx's binary upgrade
    signal: nginx logs it and, not daemonized, declines), check it still
    serves, then `nginx -s quit`.  Returns what a user could observe."""
    port = free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(d=d, port=port))
    argv = ["/usr/sbin/nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log")]
    srv = start(argv, preload=preload, env={"CPROF_HEAP_RATE": "4096"}, name="nginx")
    try:
        wait_port(port)
        url = "http://127.0.0.1:%d/page.html" % port
        bodies = set()
        for _ in range(requests):
            with urllib.request.urlopen(url, timeout=10) as r:
                bodies.add((r.status, r.headers["Content-Length"], r.headers["ETag"], r.read()))
        workers = wait_for(lambda: len(children(srv.pid)) == 2 and children(srv.pid), 10, "two workers")
        masks = {"master": sig_masks(srv.pid), "workers": [sig_masks(w) for w in workers]}
        os.kill(srv.pid, signal.SIGUSR2)
        wait_for(lambda: "(SIGUSR2) received" in read(os.path.join(d, "error.log")), 10,
                 "nginx logging SIGUSR2")
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
        quit = run(argv + ["-s", "quit"], preload=False)
        status = srv.wait(30)
    finally:
        srv.kill_group()
    with open(os.path.join(d, "access.log")) as f:
        served = sum(1 for l in f if '"GET /page.html HTTP/1.1" 200' in l)
    return {"bodies": bodies, "masks": masks, "status": status, "served": served,
            "stdout": srv.out(), "stderr": without_cprof(srv.err()), "quit": (quit.stdout, quit.stderr),
            "log": error_log_lines(os.path.join(d, "error.log")), "pids": [srv.pid] + workers}


@timeout(120)
def test_nginx_master_and_workers():
    """nginx (master + 2 workers, its own config on a loopback port) serves
    a static file to 200 requests the same with and without cprof, handles
    SIGUSR2 itself (its handler logs it; no cprof dump happens), and quits
    with status 0 on `nginx -s quit`.  Its signal dispositions are bare's:
    the same blocked and ignored masks, SIGUSR2 caught by nginx in master
    and workers, and only SIGPROF (cprof's CPU timer) and glibc's setxid
    signal (33, installed by the first pthread_create, cprof's writer
    thread) caught in addition.  Master and workers write their profiles
    at exit, once, and they name nginx's own functions: configuration
    parsing in the master, accepting and serving requests in the workers."""
    need("/usr/sbin/nginx")
    runs = {}
    for preload in (False, True):
        d = os.path.join(tmpdir(), "cprof" if preload else "bare")
        os.makedirs(os.path.join(d, "html"))
        with open(os.path.join(d, "html", "page.html"), "wb") as f:
            f.write(b"".join(b"<p>line %d %s</p>\n" % (i, hashlib.sha1(b"%d" % i).hexdigest().encode())
                             for i in range(2000)))
        os.utime(os.path.join(d, "html", "page.html"), (1700000000, 1700000000))
        runs[preload] = nginx_run(d, preload)
    bare, cp = runs[False], runs[True]
    assert len(bare["bodies"]) == 1 and cp["bodies"] == bare["bodies"], (bare["bodies"], cp["bodies"])
    assert bare["served"] == cp["served"] == 201, (bare["served"], cp["served"])
    for k in ("status", "stdout", "stderr", "quit", "log"):
        assert cp[k] == bare[k], (k, bare[k], cp[k])
    assert cp["status"] == 0
    usr2, allowed = 1 << (signal.SIGUSR2 - 1), (1 << (signal.SIGPROF - 1)) | (1 << (33 - 1))
    for who in ("master", "workers"):
        b = bare["masks"][who] if who == "master" else bare["masks"][who][0]
        for c in ([cp["masks"][who]] if who == "master" else cp["masks"][who]):
            assert c["SigBlk"] == b["SigBlk"] and c["SigIgn"] == b["SigIgn"], (who, b, c)
            assert b["SigCgt"] & usr2 and c["SigCgt"] & usr2, (who, hex(b["SigCgt"]), hex(c["SigCgt"]))
            assert (c["SigCgt"] ^ b["SigCgt"]) & ~allowed == 0, (who, hex(b["SigCgt"]), hex(c["SigCgt"]))
    master, workers = cp["pids"][0], cp["pids"][1:]
    heaps = {f.pid: f for f in profiles(kind="heap")}
    assert sorted(heaps) == sorted(cp["pids"]), (cp["pids"], profiles())
    assert {f.n for f in profiles()} == {1}, "a dump besides the exit one: %s" % profiles()
    names, _ = top_names(heaps[master].path, "alloc_space")
    assert "ngx_init_cycle" in names and "ngx_conf_parse" in names, sorted(names)
    seen = set()
    for w in workers:
        names, _ = top_names(heaps[w].path, "alloc_space")
        seen |= names
    # Workers are forked by ngx_spawn_process and allocate a request per
    # request served (ngx_worker_process_cycle itself is not exported).
    assert {"ngx_spawn_process", "ngx_process_events_and_timers", "ngx_event_accept",
            "ngx_http_create_request"} <= seen, sorted(seen)
    for f in profiles():
        load_checked(f.path, pprof_too=False)


@timeout(120)
def test_nginx_every_process_serves_and_is_discoverable():
    """CPROF_HTTP=127.0.0.1:0 with CPROF_HTTP_TARGETS: the nginx master and
    each worker it forks serve /debug/pprof on a port of their own and
    announce it in DIR/PID.json (Prometheus file_sd, as Alloy's
    discovery.file and Parca read it).  Each target answers with its own
    process: the workers' cmdline is nginx's "worker process" title, and
    their heap profiles hold the requests they served.  After `nginx -s
    quit` no target file is left, no process said "cannot listen", and no
    worker died (nginx logs a worker that exits on a signal)."""
    import json
    need("/usr/sbin/nginx")
    d = os.path.join(tmpdir(), "nginx")
    targets = os.path.join(tmpdir(), "targets")
    os.makedirs(os.path.join(d, "html"))
    with open(os.path.join(d, "html", "page.html"), "w") as f:
        f.write("<p>hello</p>\n" * 100)
    # A stale file of a process that is gone is swept by the first process.
    os.makedirs(targets)
    with open(os.path.join(targets, "999999999.json"), "w") as f:
        f.write("[]")
    port = free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(d=d, port=port))
    argv = ["/usr/sbin/nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log")]
    srv = start(argv, env={"CPROF_HEAP_RATE": "4096", "CPROF_HTTP": "127.0.0.1:0",
                           "CPROF_HTTP_TARGETS": targets}, name="nginx")
    try:
        wait_port(port)
        for _ in range(100):
            with urllib.request.urlopen("http://127.0.0.1:%d/page.html" % port, timeout=10) as r:
                assert r.status == 200
        workers = wait_for(lambda: len(children(srv.pid)) == 2 and children(srv.pid), 10, "two workers")
        pids = sorted([srv.pid] + workers)
        files = lambda: sorted(n for n in os.listdir(targets) if n.endswith(".json"))
        wait_for(lambda: files() == sorted("%d.json" % p for p in pids), 10,
                 "one target file per nginx process")
        for pid in pids:
            with open(os.path.join(targets, "%d.json" % pid)) as f:
                groups = json.load(f)
            assert len(groups) == 1 and len(groups[0]["targets"]) == 1, groups
            labels = groups[0]["labels"]
            assert labels["pid"] == str(pid) and labels["service_name"] == "nginx", labels
            assert labels["exe"] == "/usr/sbin/nginx", labels
            base = "http://%s/debug/pprof/" % groups[0]["targets"][0]
            with urllib.request.urlopen(base + "cmdline", timeout=10) as r:
                cmdline = r.read().decode()
            assert ("worker process" in cmdline) == (pid != srv.pid), (pid, cmdline)
            with urllib.request.urlopen(base + "heap", timeout=30) as r:
                prof = pprofdec.decode_bytes(r.read(), base)
            pprofdec.validate(prof)
            if pid != srv.pid:
                names = {fn for s in prof.samples() for fn in s.stack}
                assert "ngx_process_events_and_timers" in names, sorted(names)
        quit = run(argv + ["-s", "quit"], preload=False)
        assert srv.wait(30) == 0, srv.describe()
    finally:
        srv.kill_group()
    assert files() == [], files()
    assert "cannot listen" not in srv.err(), srv.err()
    log = read(os.path.join(d, "error.log"))
    assert "exited on signal" not in log, log


# ---------------------------------------------------------------- Rust

RUST_MAIN = r"""
// Threads, a Mutex, allocations and a panic caught with catch_unwind.
use std::collections::BTreeMap;
use std::panic;
use std::sync::{Arc, Mutex};
use std::thread;

#[inline(never)]
fn build_words(seed: u64, n: usize) -> Vec<String> {
    let mut x = seed;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.push(format!("w{}", (x >> 33) % 1000));
    }
    out
}

#[inline(never)]
fn count_words(shared: &Mutex<BTreeMap<String, u64>>, words: &[String]) {
    for w in words {
        let mut m = shared.lock().unwrap();
        *m.entry(w.clone()).or_insert(0) += 1;
    }
}

#[inline(never)]
fn checked_div(a: u64, b: u64) -> u64 {
    if b == 0 {
        panic!("division by zero: {} / {}", a, b);
    }
    a / b
}

fn main() {
    let shared = Arc::new(Mutex::new(BTreeMap::new()));
    let mut handles = Vec::new();
    for t in 0..4u64 {
        let shared = Arc::clone(&shared);
        handles.push(thread::spawn(move || {
            for round in 0..30u64 {
                let words = build_words(t * 1000 + round, 5000);
                count_words(&shared, &words);
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let m = shared.lock().unwrap();
    let total: u64 = m.values().sum();
    println!("distinct {} total {}", m.len(), total);
    let caught = panic::catch_unwind(|| checked_div(total, 0));
    println!("caught panic: {}", caught.is_err());
    println!("after: {}", checked_div(total, 7));
}
"""


@timeout(120)
def test_rust_threads_mutex_panic():
    """A Rust program built with Debian's rustc (4 threads sharing a Mutex,
    600,000 small allocations, a panic caught with catch_unwind, printed
    with a backtrace): the same stdout, stderr (the panic message and the
    backtrace, which walks the stack with _Unwind_Backtrace) and status
    under cprof; the CPU and heap profiles name the program's functions,
    and threadcreate counts its 4 threads."""
    rustc = need("/usr/bin/rustc")
    src = os.path.join(tmpdir(), "main.rs")
    with open(src, "w") as f:
        f.write(RUST_MAIN)
    exe = os.path.join(tmpdir(), "wordcount")
    run([rustc, "-O", "-g", src, "-o", exe], preload=False, timeout=110,
        env={"RUSTUP_HOME": None, "CARGO_HOME": None})
    env = {"RUST_BACKTRACE": "1"}
    bare = run([exe], preload=False, env=env)
    assert bare.stdout == "distinct 1000 total 600000\ncaught panic: true\nafter: 85714\n", bare.stdout
    assert "panicked at 'division by zero: 600000 / 0'" in bare.stderr and "checked_div" in bare.stderr, \
        bare.stderr
    cp = run([exe], env=dict(env, CPROF_CPU_HZ="1000"))
    same_run(bare, cp, "rust")
    cpu = profiles(kind="cpu")[0].path
    names, _ = top_names(cpu)
    assert "count_words" in names or "main::count_words" in names, sorted(names)
    names, _ = top_names(profiles(kind="heap")[0].path, "alloc_space")
    assert "build_words" in names or "main::build_words" in names, sorted(names)
    tc = pprofdec.load(profiles(kind="threadcreate")[0].path)
    assert tc.total("threadcreate") == 4, tc.summary()
    for f in profiles():
        load_checked(f.path, pprof_too=False)
