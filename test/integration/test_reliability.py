"""Reliability scenarios (issue 7): loading, signals, unwinding, threads,
output failures.  Each asserts the program behaves exactly as without
cprof and that every profile written is complete and valid."""

import os
import shutil
import signal
import subprocess
import time

import pprofdec
from checks import all_valid, dump_sets, kinds_of, load_checked, one, same_as_bare
from harness import *

KINDS = {"cpu", "heap", "mutex", "block", "threads", "threadcreate"}  # the default set


# ---- loading -------------------------------------------------------------------

@timeout(90)
def test_dlopen_dlclose_loop_keeps_names():
    """200 dlopen/use/dlclose rounds of a plugin while threads allocate:
    no crash, and samples taken in the unloaded library still name its
    functions (its mapping is remembered at dlclose)."""
    cp = same_as_bare([prog("dlopen_loop"), "200"], env={"CPROF_CPU_HZ": "1000", "CPROF_HEAP_RATE": "65536"})
    heap = load_checked(one(kind="heap"))
    assert heap.flat("inuse_space").get("plugin_alloc", 0) > 0, heap.summary()
    plug = [m for m in heap.mappings if m["filename"].endswith("libplugin.so")]
    assert plug and all(m["build_id"] for m in plug), heap.mappings
    cpu = load_checked(one(kind="cpu"))
    assert cpu.flat("cpu").get("plugin_burn", 0) > 0, cpu.summary()
    all_valid()


def test_rtld_deepbind_library():
    """An RTLD_DEEPBIND library binds malloc to glibc directly, bypassing the
    hooks: it works exactly as without cprof (its allocations are simply
    not seen; documented) and frees across the boundary are safe."""
    same_as_bare([prog("dlopen_loop"), "100", "deepbind"])
    all_valid()


def test_ldd_trace_mode():
    """`LD_PRELOAD=libcprof.so ldd /bin/true` lists libraries as usual (ldd
    is a shell script: its own processes are profiled like any other, and
    the loader in trace mode runs nothing of the traced program)."""
    bare = run(["ldd", "/bin/true"], preload=False)
    cp = run(["ldd", "/bin/true"])
    names = lambda s: {l.split("(")[0].strip() for l in s.splitlines()}
    # The preloaded library and its dependencies are listed too, as ldd
    # does for any LD_PRELOAD; everything else is unchanged.
    assert names(bare.stdout) <= names(cp.stdout), (bare.stdout, cp.stdout)
    assert any("libcprof.so" in l for l in cp.stdout.splitlines()), cp.stdout
    assert all(l.startswith(("cprof: wrote ", "cprof: this process recorded nothing"))
               for l in cp.stderr.splitlines()), cp.stderr
    assert {f.exe for f in profiles()} <= {"bash", "dash", "sh"}, profiles()
    all_valid()


def test_python_ctypes_load():
    """python3 loading libcprof through ctypes (not preloaded): no crash;
    cprof says the allocation hooks are not in effect; the CPU profile
    still works."""
    code = ("import ctypes, time\n"
            "lib = ctypes.CDLL(%r)\n"
            "t = time.time()\n"
            "x = 0\n"
            "while time.time() - t < 0.5: x += 1\n"
            "print('ok', lib.cprof_dump() >= 0)\n") % LIB
    cp = run(["/usr/bin/python3", "-c", code], preload=False, env={"CPROF_OUTPUT": os.getcwd() + "/cprof.%e.%p.%n.%t.pb.gz"})
    assert "ok True" in cp.stdout, (cp.stdout, cp.stderr)
    assert "allocations do not reach libcprof" in cp.stderr, cp.stderr
    cpus = profiles(kind="cpu")
    assert [f.n for f in cpus] == [1, 2], profiles()
    assert pprofdec.load(cpus[0].path).total("samples") > 10


# ---- signals -------------------------------------------------------------------

@timeout(60)
def test_sigwait_thread_never_sees_profiling_signals():
    """All signals blocked in every thread, one sigwait thread: the
    profiling timers never deliver their signal to sigwait; SIGTERM ends the
    program normally and profiles are written."""
    p = start([prog("sigwait_only")], env={"CPROF_CPU_HZ": "1000"})
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        time.sleep(1.5)
        os.kill(p.pid, signal.SIGTERM)
        p.wait(20)
    finally:
        p.kill_group()
    got = [l for l in p.out().splitlines() if l.startswith("got ")]
    assert got == ["got %d" % signal.SIGTERM], p.out()
    assert p.returncode == 0
    assert "heap" in kinds_of()
    all_valid()


def test_sigaltstack_program():
    """A program recovering from 20,000 deliberate SIGSEGVs on a small
    alternate signal stack runs exactly as without cprof, with CPU samples
    arriving at 1 kHz."""
    same_as_bare([prog("altstack"), "20000"], env={"CPROF_CPU_HZ": "1000"})
    all_valid()


@timeout(120)
def test_sigusr2_burst_while_allocating():
    """1,000 SIGUSR2 in a burst while 8 threads allocate: no deadlock, the
    program exits normally, every dump wrote every profile (consecutive
    sequence numbers, each with all kinds), and every file parses."""
    p = start([prog("alloc_loop"), "60", "8"])
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        for i in range(1000):
            os.kill(p.pid, signal.SIGUSR2)
        time.sleep(1)
        p.stop(signal.SIGTERM, timeout=60)
        assert p.returncode == 0, p.describe()
    finally:
        p.kill_group()
    by_n = {n: kinds for (_, n), kinds in dump_sets().items()}
    ns = sorted(by_n)
    assert ns == list(range(1, len(ns) + 1)) and len(ns) >= 2, ns
    for n, kinds in by_n.items():
        assert kinds - {"heappeak"} == KINDS, (n, kinds)  # heappeak: once the heap has a sample
    all_valid()


# ---- unwinding -------------------------------------------------------------------

def test_fibers():
    """swapcontext fibers on 64 KiB stacks: samples on fiber stacks name
    the fiber functions."""
    same_as_bare([prog("fibers")], env={"CPROF_CPU_HZ": "1000", "CPROF_HEAP_RATE": "4096"})
    cpu = load_checked(one(kind="cpu"))
    assert cpu.flat("cpu").get("fiber_burn", 0) > 0, cpu.summary()
    all_valid()


def test_asm_leaf_clobbering_frame_pointer():
    """An assembly leaf without unwind info and a garbage frame pointer:
    both unwinders survive and the leaf is attributed."""
    for unwind in ("libunwind", "fp"):
        for f in profiles():
            os.unlink(f.path)
        same_as_bare([prog("asm_leaf"), "800000000"], env={"CPROF_CPU_HZ": "1000", "CPROF_UNWIND": unwind})
        cpu = load_checked(one(kind="cpu"))
        assert cpu.flat("cpu").get("clobber_loop", 0) > 0, (unwind, cpu.summary())


def test_deep_recursion():
    """10,000-deep recursion: stacks are cut at 64 frames, names intact."""
    same_as_bare([prog("deep_recursion"), "10000"], env={"CPROF_CPU_HZ": "1000", "CPROF_HEAP_RATE": "4096"})
    heap = load_checked(one(kind="heap"))
    for s in heap.samples():
        assert len(s.stack) <= 64, len(s.stack)
    assert heap.flat("inuse_space").get("bottom", 0) > 0
    cpu = load_checked(one(kind="cpu"))
    assert cpu.flat("cpu").get("bottom", 0) > 0


def test_cxx_exceptions_many_frames():
    """C++ exceptions thrown through up to 45 frames on 4 threads at heap
    rate 1 (every allocation unwound): same results as without cprof."""
    same_as_bare([prog("cxx_exceptions")], env={"CPROF_HEAP_RATE": "1", "CPROF_CPU_HZ": "1000"})
    all_valid()


def test_pthread_cancel():
    """Threads cancelled while blocked in wrapped calls (cond_wait, sem_wait,
    join, nanosleep) and asynchronously while spinning: forced unwinding
    crosses cprof's wrappers cleanly."""
    same_as_bare([prog("cancel")], env={"CPROF_BLOCK_RATE": "1"})
    all_valid()


# ---- threads ---------------------------------------------------------------------

@timeout(120)
def test_ten_thousand_short_threads():
    """10,000 short-lived threads: no per-thread timer leaks (the program can
    still create POSIX timers afterwards), same result, threadcreate
    counts them all."""
    same_as_bare([prog("many_threads"), "10000"])
    tc = load_checked(one(kind="threadcreate"))
    assert tc.total("threadcreate") == 10000, tc.total("threadcreate")


def test_tls_destructors_free_after_cprof_state_is_gone():
    """Memory freed by thread_local and pthread key destructors that run
    after cprof's own thread state was torn down is still matched: nothing
    allocated at tls_site remains in use."""
    same_as_bare([prog("tls_dtors")], env={"CPROF_HEAP_RATE": "1"})
    heap = load_checked(one(kind="heap"))
    site = "tls_site"  # demangled in the profile (the raw name is its system_name)
    assert heap.flat("alloc_space").get(site, 0) == 64 * (3000 + 5000), heap.flat("alloc_space")
    assert heap.flat("inuse_space").get(site, 0) == 0, heap.flat("inuse_space")


# ---- output failures --------------------------------------------------------------

def mount_tmpfs(path, opts):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], capture_output=True)
    if r.returncode != 0:
        raise Skip("cannot mount a tmpfs here: " + r.stderr.decode().strip())


def umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def test_full_filesystem():
    """A full filesystem (a 64 KiB tmpfs): one clear line, no partial file
    at any final name, no temporary left, the program unaffected."""
    d = os.path.join(tmpdir(), "small")
    mount_tmpfs(d, "size=64k")
    try:
        with open(os.path.join(d, "filler"), "wb") as f:
            try:
                f.write(b"x" * (64 * 1024))
            except OSError:
                pass
        cp = run([prog("heap_truth"), "1", "1"], env={"CPROF_OUTPUT": d + "/cprof.%p.%t.pb.gz"})
        assert cp.returncode == 0
        lines = [l for l in cp.stderr.splitlines() if "cannot write profiles" in l]
        assert len(lines) == 1, cp.stderr
        assert "No space left" in lines[0], lines
        leftovers = [f for f in os.listdir(d) if f != "filler"]
        assert not leftovers, leftovers
    finally:
        umount(d)


def test_read_only_cwd():
    """A read-only current directory with the default relative pattern:
    one line, no crash, exit status kept."""
    d = os.path.join(tmpdir(), "ro")
    mount_tmpfs(d, "ro,size=64k")
    try:
        cp = run([prog("heap_truth"), "1", "1"], cwd=d, env={"CPROF_OUTPUT": None})
        assert cp.returncode == 0
        lines = [l for l in cp.stderr.splitlines() if "cannot write profiles" in l]
        assert len(lines) == 1 and "Read-only file system" in lines[0], cp.stderr
    finally:
        umount(d)


def test_closefrom_then_own_files_survive_cpu_profiling():
    """A program that closes every inherited descriptor (closefrom(3)),
    opens two files on 3 and 4 and burns CPU under the CPU profile at
    1000 Hz keeps both files: before, libunwind's address check in the
    signal handler found its pipe gone and closed both numbers, the
    program's files.  Its samples still have their stacks (frame pointers
    from then on: rec() is in them)."""
    d = tmpdir()
    cp = run([prog("closefrom_cpu"), d, "2"], env={"CPROF_PROFILES": "cpu", "CPROF_CPU_HZ": "1000"})
    assert "a same, b same" in cp.stdout, cp.stdout
    p = load_checked(one(kind="cpu"), pprof_too=False)
    assert p.cum("cpu").get("rec", 0) > 0.5 * p.total("cpu"), p.summary()


def test_descriptor_juggling_program_never_races_cprof():
    """A single-threaded program that closes its descriptor 2 and dup2()s
    onto it, over and over (what a shell does for `cmd 2>&1`), sees every
    close and dup2 succeed for three seconds under cprof: cprof's own
    thread allocates no descriptor while the program runs.  Before, its
    ten-times-a-second check for a finished program opened /proc/self/stat
    and took descriptor 2 between the program's close and dup2 (dup2 then
    failed with EBUSY; a shell running git exited with status 2), and the
    CPU profile read the main thread's name from /proc at its first
    sample."""
    cp = run([prog("fd_juggle"), "3"], check=False, env={"CPROF_QUIET": "1"})
    assert cp.returncode == 0 and " failures 0 " in cp.stdout, (cp.returncode, cp.stdout)
    assert int(cp.stdout.split()[1]) > 100000, cp.stdout  # it did juggle


def test_thread_asking_its_own_attributes_while_sampled():
    """Threads whose first act is pthread_getattr_np on themselves (Rust's
    std does it at every thread's start) all finish with every allocation
    sampled.  glibc holds the thread's descriptor lock while that call
    allocates; the heap sample of that allocation asked pthread_getattr_np
    for the thread's stack bounds, and the thread waited for ever on its
    own lock (a Rust program with the heap profile hung; at the default
    rate, about one thread in 3,000)."""
    cp = run([prog("getattr_threads"), "50"], timeout=30,
             env={"CPROF_QUIET": "1", "CPROF_HEAP_RATE": "1", "CPROF_OUTPUT": tmpdir() + "/p.%p.%t.pb.gz"})
    assert cp.stdout.split() == ["threads", "50", "stacks", "50"], cp.stdout


# ---- debug information --------------------------------------------------------

PEEK_MAPS = r"""
import os, signal, time
keep = [bytearray(4096) for _ in range(4000)]
os.kill(os.getpid(), signal.SIGUSR2)
for _ in range(100):
    time.sleep(0.05)
    if any(f.endswith(".heap.pb.gz") for f in os.listdir(os.environ["OUT"])):
        break
time.sleep(0.2)
maps = open("/proc/self/maps").read()
print("loaded:", sorted({l.split("/")[-1] for l in maps.splitlines()
                         if "libdebuginfod" in l or "libcurl" in l}))
"""


@timeout(60)
def test_debug_info_never_reaches_the_network():
    """Looking up source lines uses only files on this machine: with
    DEBUGINFOD_URLS pointing at a server this test runs, a stripped
    program (no debug information anywhere) and python3 are profiled;
    neither connects to the server, and python3 finds neither
    libdebuginfod nor libcurl loaded after a dump (libdw's standard search
    asks debuginfod servers, loading some thirty libraries to do so, from
    inside every profiled process)."""
    import socket
    need("strip", "/usr/bin/python3")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.5)
    env = {"DEBUGINFOD_URLS": "http://127.0.0.1:%d" % srv.getsockname()[1], "CPROF_HEAP_RATE": "65536"}
    exe = os.path.join(tmpdir(), "stripped_alloc_loop")
    shutil.copy(prog("alloc_loop"), exe)
    subprocess.run(["strip", exe], check=True)
    run([exe, "1"], env=env)
    out = os.path.join(tmpdir(), "out")
    os.makedirs(out)
    cp = run(["/usr/bin/python3", "-c", PEEK_MAPS], timeout=60,
             env=dict(env, OUT=out, CPROF_OUTPUT=os.path.join(out, "cprof.%p.%n.%t.pb.gz")))
    assert "loaded: []" in cp.stdout, cp.stdout
    try:
        conn, _ = srv.accept()
        conn.close()
        raise AssertionError("a profiled process connected to the debuginfod server")
    except socket.timeout:
        pass
    assert profiles(kind="heap"), os.listdir(tmpdir())
    assert len([f for f in os.listdir(out) if f.endswith(".heap.pb.gz")]) == 2, os.listdir(out)


@timeout(60)
def test_lines_from_a_debuglink_file_with_compressed_sections():
    """A program whose DWARF was moved to a separate file named by
    .gnu_debuglink, with compressed sections (as distributions ship them):
    its frames still get file:line, read from that file."""
    need("objcopy", "strip")
    d = os.path.join(tmpdir(), "bin")
    os.makedirs(d)
    exe = os.path.join(d, "alloc_loop")
    shutil.copy(prog("alloc_loop"), exe)
    subprocess.run(["objcopy", "--only-keep-debug", "--compress-debug-sections=zlib", exe, exe + ".debug"],
                   check=True)
    subprocess.run(["strip", "--strip-debug", exe], check=True)
    subprocess.run(["objcopy", "--add-gnu-debuglink=" + exe + ".debug", exe], check=True, cwd=d)
    run([exe, "1"], env={"CPROF_PROFILES": "heap"})
    p = load_checked(one(kind="heap"))
    frames = {(name, os.path.basename(fname), line) for s in p.samples() for name, fname, line, _ in s.frames}
    assert any(name == "leak_site" and f == "alloc_loop.c" and line > 0 for name, f, line in frames), \
        sorted(frames)
