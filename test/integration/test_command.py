"""The cprof command (scripts/cprof, docs/cprof.1): options and their
effects, exec semantics (pid, signals, exit status), child processes,
`cprof dump`, `cprof top`/`view`, refusals with one clear line, and
`make install`.

Every run goes through the command itself (never through the harness's
preload), with CPROF_LIB naming the library under test unless a test is
about how the command finds the library on its own."""

import os
import re
import shutil
import signal
import time
import urllib.request

import pprofdec
from checks import kinds_of, load_checked
from harness import *

CPROF = os.path.join(ROOT, "scripts", "cprof")
BANNER_RE = re.compile(r"^cprof: profiling (.+) \(pid (\d+)\); profiles will be written as (.+) \(([^()]*)\)$")
DEFAULT_KINDS = {"cpu", "heap", "mutex", "block", "threads", "threadcreate"}
USAGE_LINE = "usage: cprof [run] [options] [--] PROGRAM [ARGS...]"


def cprof(args, env=None, lib=True, **kw):
    """Run the command (not preloaded) with CPROF_LIB = the library under
    test unless lib=False."""
    e = {"CPROF_LIB": LIB} if lib else {"CPROF_LIB": None}
    e.update(env or {})
    return run([CPROF] + [str(a) for a in args], env=e, preload=False, **kw)


def cprof_start(args, env=None, **kw):
    e = {"CPROF_LIB": LIB}
    e.update(env or {})
    return start([CPROF] + [str(a) for a in args], env=e, preload=False, name="cprof", **kw)


def cprof_lines(text):
    return [l for l in text.splitlines() if l.startswith("cprof: ")]


def banner(stderr):
    """The announcement line, parsed: (program, pid, path pattern, how)."""
    lines = [l for l in cprof_lines(stderr) if l.startswith("cprof: profiling ")]
    assert len(lines) == 1, "expected one announcement line:\n" + stderr
    m = BANNER_RE.match(lines[0])
    assert m, lines[0]
    return m.group(1), int(m.group(2)), m.group(3), m.group(4)


def pattern_re(shown):
    """The announced path with <n> and <type> as regex groups."""
    return re.compile(re.escape(shown).replace(re.escape("<n>"), r"(\d+)")
                      .replace(re.escape("<type>"), r"([a-z]+)") + "$")


def one_line_failure(cp, status, *needles):
    """cp failed with `status`, printed exactly one line (a cprof: line)
    on stderr containing every needle, and nothing on stdout."""
    assert cp.returncode == status, "exit %d, expected %d:\n%s" % (cp.returncode, status, cp.stderr)
    lines = cp.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cprof: "), lines
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert cp.stdout == "", cp.stdout
    return lines[0]


def go_env():
    t = tmpdir()
    return {"HOME": t, "GOCACHE": os.path.join(t, ".gocache"), "PPROF_TMPDIR": t}


def read_environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)


# ---------------------------------------------------------------- usage

def test_help_version_and_man_page():
    """--help and help print the usage on stdout (exit 0) naming every
    command and option; --version prints the library's version; the man
    page renders without a groff warning and has every section."""
    for form in (["--help"], ["help"], ["-h"], ["run", "--help"]):
        cp = cprof(form)
        assert cp.stdout.startswith(USAGE_LINE), cp.stdout
        for word in ("dump PID", "view FILE", "top FILE", "--profiles", "--heap-rate", "--cpu-hz",
                     "--http", "--http-token", "--interval", "--no-follow-exec", "--signal",
                     "--unwind", "--quiet", "--mutex-fraction", "--block-rate", "--output"):
            assert word in cp.stdout, (word, cp.stdout)
    # The version is written once, in the Makefile; the command and the
    # profiles the library writes both say it.
    cp = cprof(["--version"])
    with open(os.path.join(ROOT, "Makefile")) as f:
        version = re.search(r"^VERSION := (\S+)$", f.read(), re.M).group(1)
    assert cp.stdout == "cprof %s\n" % version, cp.stdout
    cprof(["-q", "--profiles", "heap", "-o", "v.%t.pb.gz", "--", prog("heap_truth"), 1, 1])
    comments = pprofdec.load("v.heap.pb.gz").comments
    assert any(c.startswith("cprof %s, pid " % version) for c in comments), comments
    groff = need("groff")
    man = os.path.join(ROOT, "docs", "cprof.1")
    cp = run([groff, "-man", "-ww", "-z", man], preload=False)
    assert cp.stderr == "", cp.stderr
    text = run([groff, "-man", "-Tutf8", "-P", "-cbou", man], preload=False).stdout
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "ENVIRONMENT",
                    "FILES", "EXAMPLES", "EXIT STATUS", "NOTES", "SEE ALSO"):
        assert re.search(r"^%s$" % section, text, re.M), section
    # Every variable the library reads is documented.
    with open(os.path.join(ROOT, "preload", "base", "config.c")) as f:
        table = re.search(r"config_names\[\] = \{(.*?)NULL", f.read(), re.S).group(1)
        names = re.findall(r'"(CPROF_[A-Z_]+)"', table)
    assert len(names) >= 14, names
    for n in names:
        assert n in text, n


def test_bad_usage_exits_2_with_usage():
    """Bad usage: one cprof: line saying what is wrong, the usage synopsis,
    exit status 2, and the program is not run."""
    marker = os.path.join(tmpdir(), "ran")
    prog_ = ["touch", marker]
    cases = [
        ([], "no program given"),
        (["--"], "no program given"),
        (["-q"], "no program given"),
        (["--bogus", "--"] + prog_, "unknown option '--bogus'"),
        (["--cpu-hz", "0", "--"] + prog_, "--cpu-hz '0'"),
        (["--cpu-hz=10001", "--"] + prog_, "--cpu-hz '10001'"),
        (["--heap-rate", "lots", "--"] + prog_, "--heap-rate 'lots'"),
        (["--profiles", "heap,cpuu", "--"] + prog_, "unknown profile 'cpuu'"),
        (["--unwind", "magic", "--"] + prog_, "--unwind 'magic'"),
        (["--signal", "KILL", "--"] + prog_, "--signal 'KILL'"),
        (["--signal", "SIGNOPE", "--"] + prog_, "--signal 'SIGNOPE'"),
        (["-o", "x.%q.pb.gz", "--"] + prog_, "unknown escape '%q'"),
        (["-o", "dir/", "--"] + prog_, "names a directory"),
        (["--http", "nowhere", "--"] + prog_, "--http 'nowhere'"),
        (["--http-token", "short", "--"] + prog_, "--http-token"),
        (["--interval", "-1", "--"] + prog_, "--interval '-1'"),
        (["--mutex-fraction", "1.5", "--"] + prog_, "--mutex-fraction '1.5'"),
        (["--block-rate", "", "--"] + prog_, "--block-rate ''"),
        (["--quiet=yes", "--"] + prog_, "takes no value"),
        (["--heap-rate"], "needs a value"),
        (["dump"], "dump needs a process id"),
        (["dump", "abc"], "not a process id"),
        (["dump", "1", "--later"], "unknown option '--later'"),
        (["dump", "1", "--timeout", "soon"], "--timeout 'soon'"),
        (["top"], "top needs a profile file or URL"),
        (["view", "-nodecount=3"], "view needs a profile file or URL"),
    ]
    for args, needle in cases:
        cp = cprof(args, check=False)
        assert cp.returncode == 2, (args, cp.returncode, cp.stderr)
        lines = cp.stderr.splitlines()
        assert lines[0].startswith("cprof: ") and needle in lines[0], (args, lines)
        assert sum(l.startswith("cprof: ") for l in lines) == 1, (args, lines)
        assert USAGE_LINE in lines, (args, lines)
        assert cp.stdout == "", (args, cp.stdout)
    assert not os.path.exists(marker), "the program ran despite bad usage"


def test_missing_or_unrunnable_program():
    """A program that is not found: one line and 127; one that cannot be
    run: one line and 126 (the shell's statuses)."""
    cp = cprof(["--", "no-such-program-cprof"], check=False)
    one_line_failure(cp, 127, "cprof: no-such-program-cprof: command not found")
    cp = cprof(["./missing prog"], check=False)
    one_line_failure(cp, 127, "cprof: ./missing prog: No such file or directory")
    cp = cprof(["run", tmpdir()], check=False)
    one_line_failure(cp, 126, "Is a directory")
    plain = os.path.join(tmpdir(), "not executable")
    with open(plain, "w") as f:
        f.write("#!/bin/sh\necho ran\n")
    os.chmod(plain, 0o644)
    if os.geteuid() != 0:
        cp = cprof([plain], check=False)
        one_line_failure(cp, 126, "Permission denied")
    assert not profiles(), profiles()


def test_static_binary_refused():
    """A statically linked program (and a static-pie one) would ignore
    LD_PRELOAD: one line saying so, exit 1, the program is not run."""
    gcc = need("gcc")
    src = os.path.join(tmpdir(), "tiny.c")
    with open(src, "w") as f:
        f.write('#include <stdio.h>\nint main(void) { puts("ran"); return 0; }\n')
    built = []
    for flag, name in (("-static", "tiny static"), ("-static-pie", "tiny-static-pie")):
        out = os.path.join(tmpdir(), name)
        if run([gcc, flag, "-O1", src, "-o", out], preload=False, check=False).returncode == 0:
            built.append(out)
    if not built:
        raise Skip("gcc -static does not work here (libc6-dev's libc.a missing?)")
    for exe in built:
        assert run([exe], preload=False).stdout == "ran\n"
        cp = cprof(["--", exe], check=False)
        one_line_failure(cp, 1, "cprof: %s is statically linked; LD_PRELOAD cannot profile it" % exe)
    # A script whose interpreter is static cannot be profiled either.
    interp = os.path.join(tmpdir(), "static-interp")
    shutil.copy(built[0], interp)
    script = os.path.join(tmpdir(), "script.sh")
    with open(script, "w") as f:
        f.write("#!%s\n" % interp)
    os.chmod(script, 0o755)
    cp = cprof([script], check=False)
    one_line_failure(cp, 1, "cprof: %s is a script run by %s, which is statically linked"
                     % (script, os.path.realpath(interp)))
    with open(script, "w") as f:
        f.write("#!/nonexistent/interp -x\n")
    cp = cprof([script], check=False)
    one_line_failure(cp, 127, "cprof: %s: bad interpreter /nonexistent/interp" % script)
    # A dynamically linked program built the same way is accepted.
    dyn = os.path.join(tmpdir(), "tiny-dynamic")
    run([gcc, "-O1", src, "-o", dyn], preload=False)
    cp = cprof(["-q", "--profiles", "heap", dyn])
    assert cp.stdout == "ran\n", cp.stdout


def test_foreign_elf_refused():
    """A 32-bit or non-x86_64 ELF program cannot load the x86_64 library:
    one line each, exit 1 (headers crafted here; nothing is run)."""
    def elf(name, ei_class, machine):
        path = os.path.join(tmpdir(), name)
        hdr = bytearray(64)
        hdr[0:7] = b"\x7fELF" + bytes([ei_class, 1, 1])
        hdr[16:18] = (2).to_bytes(2, "little")           # ET_EXEC
        hdr[18:20] = machine.to_bytes(2, "little")
        with open(path, "wb") as f:
            f.write(bytes(hdr))
        os.chmod(path, 0o755)
        return path
    cp = cprof([elf("prog32", 1, 3)], check=False)
    one_line_failure(cp, 1, "prog32 is a 32-bit program; cprof profiles x86_64 programs only")
    cp = cprof([elf("prog-arm64", 2, 183)], check=False)
    one_line_failure(cp, 1, "prog-arm64 is not an x86_64 program (ELF machine 183)")


def test_setuid_program_refused():
    """The loader ignores LD_PRELOAD for a setuid program (one owned by
    another user): one line, exit 1, not run."""
    if os.geteuid() != 0:
        raise Skip("needs root to make a setuid program owned by another user")
    exe = os.path.join(tmpdir(), "suid-printenv")
    shutil.copy(shutil.which("printenv"), exe)
    os.chown(exe, 65534, 65534)
    os.chmod(exe, 0o4755)
    cp = cprof([exe], check=False)
    one_line_failure(cp, 1, "cprof: %s is setuid or setgid" % exe, "ignores LD_PRELOAD")
    os.chown(exe, 0, 65534)   # (chown clears the set-id bits)
    os.chmod(exe, 0o2755)
    cp = cprof([exe], check=False)
    one_line_failure(cp, 1, "is setuid or setgid")


def test_library_missing_or_unloadable():
    """No library, a file that is not a shared library, a library whose
    dependencies are missing: one line each naming it, exit 1."""
    cp = cprof(["true"], env={"CPROF_LIB": "/nonexistent/libcprof.so"}, check=False)
    one_line_failure(cp, 1, "libcprof.so not found at /nonexistent/libcprof.so", "CPROF_LIB")
    cp = cprof(["true"], env={"CPROF_LIB": "/etc/passwd"}, check=False)
    one_line_failure(cp, 1, "/etc/passwd is not an ELF shared library")
    gcc = need("gcc")
    d = tmpdir()
    with open(os.path.join(d, "dep.c"), "w") as f:
        f.write("int dep_value(void) { return 1; }\n")
    with open(os.path.join(d, "broken.c"), "w") as f:
        f.write("int dep_value(void);\nint broken(void) { return dep_value(); }\n")
    run([gcc, "-shared", "-fPIC", "dep.c", "-o", "libcprofdep.so"], preload=False)
    run([gcc, "-shared", "-fPIC", "broken.c", "-o", "libcprof.so", "-L.", "-lcprofdep"], preload=False)
    os.unlink(os.path.join(d, "libcprofdep.so"))
    cp = cprof(["true"], env={"CPROF_LIB": os.path.join(d, "libcprof.so")}, check=False)
    one_line_failure(cp, 1, "cannot load %s/libcprof.so" % d, "libcprofdep.so")


# ---------------------------------------------------------------- options

def test_profiles_option_and_announcement():
    """--profiles heap writes only heap files; the announcement names the
    program's pid and a path pattern that every file written matches."""
    cp = cprof(["--profiles", "heap", "--", prog("heap_truth"), 1, 1])
    name, pid, shown, how = banner(cp.stderr)
    assert name == prog("heap_truth"), name
    assert shown == os.path.join(os.path.realpath(tmpdir()),
                                 "cprof.heap_truth.%d.<n>.<type>.pb.gz" % pid), shown
    assert how == "kill -USR2 %d for a dump; at exit" % pid, how
    assert set(kinds_of()) == {"heap"}, kinds_of()
    pat = pattern_re(shown)
    for f in profiles():
        m = pat.match(os.path.realpath(f.path))
        assert m and m.group(2) == "heap", (f.path, shown)
        assert f.pid == pid and f.exe == "heap_truth", f
        load_checked(f.path, pprof_too=False)
    # "cprof PROGRAM" without "--", and "run": the default profile set.
    for args in ([prog("heap_truth"), 1, 0], ["run", prog("heap_truth"), 1, 0],
                 ["run", "--", prog("heap_truth"), 1, 0]):
        cp = cprof(args)
        pid = banner(cp.stderr)[1]
        assert set(kinds_of(pid=pid)) == DEFAULT_KINDS, kinds_of(pid=pid)


def test_output_pattern_option():
    """-o PATTERN (and --output=PATTERN, -oPATTERN) sets the file names; the
    directory may contain spaces; a directory that does not exist is
    refused before the program runs."""
    d = os.path.join(tmpdir(), "out dir")
    os.makedirs(d)
    cp = cprof(["-o", d + "/%e-%p-%n.%t.pb.gz", "--profiles", "heap,cpu", prog("heap_truth"), 1, 0])
    pid = banner(cp.stderr)[1]
    assert sorted(os.listdir(d)) == ["heap_truth-%d-1.%s.pb.gz" % (pid, k) for k in ("cpu", "heap")], \
        os.listdir(d)
    assert banner(cp.stderr)[2] == d + "/heap_truth-%d-<n>.<type>.pb.gz" % pid
    for f in os.listdir(d):
        load_checked(os.path.join(d, f), pprof_too=False)
    cp = cprof(["--output=rel.%t.%p.pb.gz", "--profiles=heap", prog("heap_truth"), 1, 0])
    pid = banner(cp.stderr)[1]
    assert os.path.exists("rel.heap.%d.pb.gz" % pid), os.listdir(".")
    cp = cprof(["-o%h.%t.pb.gz", "--profiles=heap", prog("heap_truth"), 1, 0])
    assert os.path.exists("%s.heap.pb.gz" % os.uname().nodename), os.listdir(".")
    marker = os.path.join(tmpdir(), "ran")
    cp = cprof(["-o", tmpdir() + "/nowhere/%t.pb.gz", "touch", marker], check=False)
    one_line_failure(cp, 1, "cannot write profiles in %s/nowhere: No such file or directory" % tmpdir())
    assert not os.path.exists(marker)


def test_heap_rate_one_is_exact():
    """--heap-rate 1 samples every allocation: heap_truth's counts and
    bytes per site come out exactly."""
    import json
    cp = cprof(["-q", "--heap-rate", "1", "--profiles", "heap", "--", prog("heap_truth"), 1, 2])
    truth = json.loads(cp.stdout.strip().splitlines()[-1])
    [f] = profiles(kind="heap")
    p = load_checked(f.path)
    assert p.period == 1, p.period
    for t, key in (("alloc_space", "alloc_bytes"), ("alloc_objects", "alloc_objects"),
                   ("inuse_space", "inuse_bytes"), ("inuse_objects", "inuse_objects")):
        flat = p.flat(t)
        for site, tv in truth.items():
            assert flat.get(site, 0) == tv[key], (site, t, flat.get(site, 0), tv[key])


def test_cpu_hz_sets_the_period():
    """--cpu-hz 250 gives a CPU profile whose period is 1e9/250 ns."""
    cprof(["-q", "--cpu-hz", "250", "--profiles", "cpu", "--", prog("cpu_truth"), "0.5"])
    [f] = profiles(kind="cpu")
    p = load_checked(f.path, pprof_too=False)
    assert p.period == 4_000_000, p.period
    assert p.samples(), "no CPU samples"


def test_options_reach_the_environment():
    """Every option sets its CPROF_* variable for the program; an inherited
    variable is kept unless an option overrides it; libcprof.so is put
    first in LD_PRELOAD and the other entries are kept in order;
    CPROF_LIB (the command's own) does not reach the program."""
    env_prog = shutil.which("env")
    cp = cprof(["-q", "-o", "o.%p.%t.pb.gz", "--profiles", "heap,mutex", "--heap-rate", "4096",
                "--cpu-hz", "250", "--mutex-fraction", "5", "--block-rate", "1000",
                "--signal", "SIGUSR1", "--interval", "60", "--http", "127.0.0.1:0",
                "--http-token", "s3cret-token", "--unwind", "fp", "--", env_prog],
               env={"LD_PRELOAD": "libm.so.6 libdl.so.2", "CPROF_CPU_HZ": "1000",
                    "CPROF_BLOCK_RATE": "7"})
    got = dict(l.split("=", 1) for l in cp.stdout.splitlines() if "=" in l)
    want = {"CPROF_OUTPUT": "o.%p.%t.pb.gz", "CPROF_PROFILES": "heap,mutex",
            "CPROF_HEAP_RATE": "4096", "CPROF_CPU_HZ": "250", "CPROF_MUTEX_FRACTION": "5",
            "CPROF_BLOCK_RATE": "1000", "CPROF_SIGNAL": "SIGUSR1", "CPROF_INTERVAL": "60",
            "CPROF_HTTP": "127.0.0.1:0", "CPROF_HTTP_TOKEN": "s3cret-token", "CPROF_UNWIND": "fp",
            "CPROF_QUIET": "1", "LD_PRELOAD": LIB + ":libm.so.6:libdl.so.2"}
    for k, v in want.items():
        assert got.get(k) == v, (k, got.get(k), v)
    assert "CPROF_LIB" not in got and "CPROF_FOLLOW_EXEC" not in got and "CPROF_ROOT_PID" not in got, got
    assert "s3cret-token" not in cp.stderr
    # Inherited values are used when no option is given.
    cp = cprof(["-q", env_prog], env={"CPROF_CPU_HZ": "1000", "LD_PRELOAD": None})
    got = dict(l.split("=", 1) for l in cp.stdout.splitlines() if "=" in l)
    assert got["CPROF_CPU_HZ"] == "1000" and got["LD_PRELOAD"] == LIB, got
    # No stray "unknown variable" warning: nothing of the command's leaks.
    assert "unknown variable" not in cp.stderr, cp.stderr


@timeout(120)
def test_signal_interval_and_quiet_options():
    """--signal USR1 dumps on SIGUSR1 (and SIGUSR2 is left alone); the
    announcement says so; --interval 1 dumps every second by itself; -q
    silences every cprof: line."""
    p = cprof_start(["--signal", "USR1", "--profiles", "heap", "--", prog("alloc_loop"), 60, 1])
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        _, pid, _, how = banner(p.err())
        assert pid == p.pid and how == "kill -USR1 %d for a dump; at exit" % pid, (pid, p.pid, how)
        os.kill(p.pid, signal.SIGUSR1)
        wait_for(lambda: profiles(kind="heap"), 10, "dump on SIGUSR1")
        assert p.stop(signal.SIGTERM) == 0, p.describe()
    finally:
        p.kill_group()
    assert [f.n for f in profiles(kind="heap")] == [1, 2]
    for f in profiles():
        os.unlink(f.path)
    p = cprof_start(["-q", "--interval", "1", "--profiles", "heap", prog("alloc_loop"), 60, 1])
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        wait_for(lambda: len(profiles(kind="heap")) >= 2, 10, "two periodic dumps")
        assert p.stop(signal.SIGTERM) == 0, p.describe()
    finally:
        p.kill_group()
    ns = [f.n for f in profiles(kind="heap")]
    assert ns == list(range(1, len(ns) + 1)) and len(ns) >= 3, ns
    assert cprof_lines(p.err()) == [], p.err()


# ---------------------------------------------------------------- exec semantics

def test_exit_status_passes_through():
    """The program's exit status is the command's; a program killed by a
    signal looks killed by it (the shell reports 128 + signal)."""
    cp = cprof(["-q", "--", "bash", "-c", "exit 3"], check=False)
    assert cp.returncode == 3, cp.returncode
    cp = cprof(["-q", "bash", "-c", "kill -TERM $$"], check=False)
    assert cp.returncode == -signal.SIGTERM, cp.returncode
    cp = run(["bash", "-c", '"$0" -q -- bash -c "kill -TERM \\$\\$"; echo "status=$?"', CPROF],
             env={"CPROF_LIB": LIB}, preload=False)
    assert cp.stdout.strip() == "status=143", cp.stdout


@timeout(120)
def test_signals_reach_the_program():
    """After exec the command's pid is the program's: SIGTERM and SIGINT sent
    to it run the program's own handler (alloc_loop exits 0 and writes its
    exit profiles, under that pid)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        for f in profiles():
            os.unlink(f.path)
        p = cprof_start(["--profiles", "heap", "--", prog("alloc_loop"), 60, 2])
        try:
            wait_for(lambda: "ready" in p.out(), 10, "start")
            assert os.path.realpath("/proc/%d/exe" % p.pid) == os.path.realpath(prog("alloc_loop"))
            assert banner(p.err())[1] == p.pid
            time.sleep(0.3)   # let the leak grow past a few sampling periods
            rc = p.stop(sig)
        finally:
            p.kill_group()
        assert rc == 0, p.describe()
        assert "done leaked=" in p.out(), p.describe()
        [f] = profiles(kind="heap")
        assert f.pid == p.pid and f.n == 1, f
        assert pprofdec.load(f.path).flat("inuse_space").get("leak_site", 0) > 0


def write_script(dirname, child_args):
    """A bash script (its path has spaces) that runs a child and exits
    normally; it prints its own pid and the child's."""
    d = os.path.join(tmpdir(), dirname)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "my script.sh")
    with open(path, "w") as f:
        f.write("#!/bin/bash\n"
                "echo \"root=$$\"\n"
                "%s &\n"
                "echo \"child=$!\"\n"
                "wait\n"
                "echo parent-done\n" % " ".join("'%s'" % a for a in child_args))
    os.chmod(path, 0o755)
    return path


def script_pids(out):
    vals = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
    return int(vals["root"]), int(vals["child"])


def test_children_are_profiled_by_default():
    """A program started by the profiled one inherits the preload and
    writes its own files under its own pid."""
    script = write_script("dir with space", [prog("alloc_loop"), "0.3", "1"])
    # bash may sample nothing: CPROF_EMPTY_FILES=1 keeps its files too.
    cp = cprof(["--profiles", "heap", script], env={"CPROF_EMPTY_FILES": "1"})
    root, child = script_pids(cp.stdout)
    name, pid, shown, _ = banner(cp.stderr)
    assert name == script and pid == root, (name, pid, root)
    assert "/cprof.bash.%d." % root in shown, shown     # %e of a script: its interpreter
    assert "parent-done" in cp.stdout
    by_pid = {f.pid: f for f in profiles()}
    assert set(by_pid) == {root, child}, profiles()
    assert by_pid[root].exe == "bash" and by_pid[child].exe == "alloc_loop", profiles()


def test_no_follow_exec_profiles_the_program_only():
    """--no-follow-exec: only the program itself writes files; its child
    has the library loaded but idle (CPROF_ROOT_PID names the root)."""
    script = write_script("d", [prog("alloc_loop"), "0.3", "1"])
    # bash may sample nothing: CPROF_EMPTY_FILES=1 keeps its files too.
    cp = cprof(["--no-follow-exec", "--profiles", "heap", "--", script],
               env={"CPROF_EMPTY_FILES": "1"})
    root, child = script_pids(cp.stdout)
    assert banner(cp.stderr)[1] == root
    assert {f.pid for f in profiles()} == {root}, profiles()
    assert "parent-done" in cp.stdout
    # The child saw the variables that keep it idle.
    p = cprof_start(["-q", "--no-follow-exec", "bash", "-c",
                     "'%s' 30 1 & echo child=$!; wait" % prog("alloc_loop")])
    try:
        wait_for(lambda: "ready" in p.out(), 10, "child start")
        child = int(re.search(r"child=(\d+)", p.out()).group(1))
        env = read_environ(child)
        assert env[b"CPROF_FOLLOW_EXEC"] == b"0" and env[b"CPROF_ROOT_PID"] == str(p.pid).encode(), env
        with open("/proc/%d/maps" % child) as f:
            assert "libcprof.so" in f.read()
    finally:
        p.kill_group()


def test_profiled_caller_does_not_profile_the_command():
    """cprof started from a profiled program (LD_PRELOAD already holds
    libcprof.so) does not profile its own shell: only the program's files
    appear, and the library is preloaded once."""
    # env records nothing: CPROF_EMPTY_FILES=1 keeps its files to count.
    cp = cprof(["--profiles", "heap", "--", shutil.which("env")],
               env={"LD_PRELOAD": LIB, "CPROF_PROFILES": "heap", "CPROF_EMPTY_FILES": "1",
                    "CPROF_OUTPUT": os.path.join(tmpdir(), "cprof.%e.%p.%n.%t.pb.gz")})
    got = dict(l.split("=", 1) for l in cp.stdout.splitlines() if "=" in l)
    assert got["LD_PRELOAD"] == LIB, got["LD_PRELOAD"]
    assert {f.exe for f in profiles()} == {"env"}, profiles()


# ---------------------------------------------------------------- dump

@timeout(120)
def test_dump_wait_prints_valid_files():
    """`cprof dump PID --wait` makes the process write every enabled
    profile and prints exactly the new files, which are valid profiles;
    the process keeps running.  Without --wait it says what it sent."""
    p = cprof_start(["-q", "--", prog("alloc_loop"), 60, 2])
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        time.sleep(0.2)
        for n in (1, 2):
            t0 = time.monotonic()
            cp = cprof(["dump", p.pid, "--wait"], timeout=30)
            assert time.monotonic() - t0 < 5, "dump --wait took %.1fs" % (time.monotonic() - t0)
            paths = cp.stdout.splitlines()
            assert len(paths) == len(DEFAULT_KINDS), cp.stdout
            kinds = set()
            for path in paths:
                assert os.path.isabs(path) and os.path.exists(path), path
                f = [x for x in profiles() if os.path.realpath(x.path) == os.path.realpath(path)][0]
                assert f.pid == p.pid and f.n == n, f
                kinds.add(f.kind)
                pprofdec.validate(pprofdec.load(path))
            assert kinds == DEFAULT_KINDS, kinds
            assert p.poll() is None, p.describe()
        cp = cprof(["dump", str(p.pid)])
        assert cp.stdout == "" and cprof_lines(cp.stderr) == [
            "cprof: sent SIGUSR2 to %d; profiles will be written as %s/cprof.alloc_loop.%d.<n>.<type>.pb.gz"
            % (p.pid, os.path.realpath(tmpdir()), p.pid)], cp.stderr
        wait_for(lambda: len(profiles(kind="heap")) == 3, 10, "the third dump")
        assert p.stop(signal.SIGTERM) == 0, p.describe()
    finally:
        p.kill_group()


@timeout(120)
def test_dump_follows_signal_and_output_of_the_process():
    """dump reads the process's CPROF_SIGNAL and CPROF_OUTPUT: with
    --signal USR1 it sends SIGUSR1 (a SIGUSR2 would kill it), and --wait
    finds files named by its own pattern in a subdirectory."""
    os.makedirs("sub")
    p = cprof_start(["-q", "--signal", "USR1", "--profiles", "heap,cpu", "-o", "sub/%p-%n-%t.prof.pb.gz",
                     "--", prog("alloc_loop"), 60, 1])
    try:
        wait_for(lambda: "ready" in p.out(), 10, "start")
        cp = cprof(["dump", "--timeout", "20", p.pid])
        sub = os.path.join(os.path.realpath(tmpdir()), "sub")
        assert cp.stdout.splitlines() == [os.path.join(sub, "%d-1-%s.prof.pb.gz" % (p.pid, k))
                                          for k in ("cpu", "heap")], cp.stdout
        assert p.poll() is None, p.describe()
        assert p.stop(signal.SIGTERM) == 0, p.describe()
    finally:
        p.kill_group()


@timeout(120)
def test_dump_refuses_what_it_cannot_dump():
    """No such process; a process without libcprof.so; a child that has the
    library loaded but idle (--no-follow-exec), which would die of an
    uncaught SIGUSR2: one line each, exit 1, and the processes live on."""
    cp = cprof(["dump", "999999999"], check=False)
    one_line_failure(cp, 1, "no process 999999999")
    plain = start([prog("alloc_loop"), 60, 1], preload=False, name="plain")
    p = cprof_start(["-q", "--no-follow-exec", "bash", "-c",
                     "'%s' 60 1 & echo child=$!; wait" % prog("alloc_loop")])
    try:
        wait_for(lambda: "ready" in plain.out(), 10, "plain start")
        cp = cprof(["dump", plain.pid, "--wait"], check=False)
        one_line_failure(cp, 1, "process %d does not have libcprof.so loaded" % plain.pid)
        wait_for(lambda: "ready" in p.out(), 10, "child start")
        child = int(re.search(r"child=(\d+)", p.out()).group(1))
        cp = cprof(["dump", child], check=False)
        one_line_failure(cp, 1, "process %d has libcprof.so loaded but does not catch SIGUSR2" % child,
                         "nothing sent")
        time.sleep(0.3)
        assert plain.poll() is None, plain.describe()
        os.kill(child, 0)  # still alive
        assert not profiles(), profiles()
    finally:
        plain.kill_group()
        p.kill_group()


# ---------------------------------------------------------------- top, view

def test_top_shows_the_functions():
    """`cprof top FILE [pprof options]` prints pprof's top table, with
    options accepted after the file (even a value flag given separately)."""
    need("go")
    cprof(["-q", "--profiles", "heap", "--heap-rate", "4096", prog("heap_truth"), 1, 1])
    [f] = profiles(kind="heap")
    cp = cprof(["top", f.path], env=go_env(), timeout=120)
    top = parse_top(cp.stdout)
    assert top.type == "inuse_space", top.header
    assert "site_keep" in top.names() and "site_churn" not in top.names(), top.names()
    cp = cprof(["top", f.path, "-sample_index", "alloc_space", "-nodefraction=0"], env=go_env(),
               timeout=120)
    top = parse_top(cp.stdout)
    assert top.type == "alloc_space" and "site_churn" in top.names(), (top.header, top.names())
    cp = cprof(["top", "no-such.pb.gz"], check=False)
    one_line_failure(cp, 1, "no-such.pb.gz: No such file or directory")


def test_view_without_pprof():
    """With neither go nor pprof on PATH: one line saying what to install,
    exit 1."""
    fake = os.path.join(tmpdir(), "fakebin")
    os.makedirs(fake)
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        for name in os.listdir(d):
            if name in ("go", "gofmt", "pprof") or os.path.lexists(os.path.join(fake, name)):
                continue
            os.symlink(os.path.join(d, name), os.path.join(fake, name))
    cprof(["-q", "--profiles", "heap", prog("heap_truth"), 1, 0])
    [f] = profiles(kind="heap")
    # A copy of the command outside the build tree (no build/pprof beside it).
    alone = os.path.join(tmpdir(), "alone", "scripts")
    os.makedirs(alone)
    shutil.copy(CPROF, alone)
    for sub in ("view", "top"):
        cp = run([os.path.join(alone, "cprof"), sub, f.path], env={"PATH": fake, "CPROF_PPROF": None},
                 preload=False, check=False)
        one_line_failure(cp, 1, "cprof: no pprof found: install golang-go (apt-get install golang-go) "
                                "or github.com/google/pprof")
    cp = cprof(["top", f.path], env={"CPROF_PPROF": "/nonexistent/pprof"}, check=False)
    one_line_failure(cp, 1, "cprof: CPROF_PPROF=/nonexistent/pprof is not an executable")


@timeout(120)
def test_view_serves_the_web_ui():
    """`cprof view FILE` starts pprof's web UI on a free loopback port (no
    name lookup: a machine without /etc/hosts works too) and opens the
    browser ($BROWSER here) on the flame graph, the view Go's tutorials lead
    with; options after the file are passed on."""
    need("go")
    cprof(["-q", "--profiles", "heap", prog("heap_truth"), 1, 0])
    [f] = profiles(kind="heap")
    opened = os.path.join(tmpdir(), "opened")
    browser = os.path.join(tmpdir(), "browser")
    with open(browser, "w") as b:
        b.write("#!/bin/sh\necho \"$1\" > '%s'\n" % opened)
    os.chmod(browser, 0o755)
    env = dict(go_env(), BROWSER=browser, DISPLAY=None, WAYLAND_DISPLAY=None)
    p = start([CPROF, "view", f.path, "-nodefraction=0"], env=env, preload=False, name="view")
    try:
        m = wait_for(lambda: re.search(r"cprof: flame graph at (http://127\.0\.0\.1:\d+/ui/flamegraph)\n", p.err()),
                     60, "pprof web UI")
        assert "Serving web UI on http://127.0.0.1:" in p.err(), p.err()
        assert "graphviz" not in p.err(), p.err()   # dot comes with the view packages
        wait_for(lambda: os.path.exists(opened) and os.path.getsize(opened), 10, "the browser")
        with open(opened) as o:
            assert o.read().strip() == m.group(1)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(m.group(1), timeout=30) as r:
            body = r.read().decode(errors="replace")
        assert r.status == 200 and "site_keep" in body and "flame" in body.lower(), body[:500]
        # The graph view draws (graphviz is there): no "Could not execute dot".
        with opener.open(m.group(1).replace("/ui/flamegraph", "/ui/"), timeout=30) as r:
            body = r.read().decode(errors="replace")
        assert r.status == 200 and "<svg" in body and "Could not execute dot" not in body, body[:500]
    finally:
        p.kill_group()


def test_view_no_browser_and_top_of_several_files():
    """-no_browser starts no browser; `cprof top` given several files says
    it adds them up (pprof would merge them silently)."""
    need("go")
    for _ in range(2):
        cprof(["-q", "--profiles", "heap", prog("heap_truth"), 1, 0])
    fs = [f.path for f in profiles(kind="heap")]
    assert len(fs) == 2, fs
    opened = os.path.join(tmpdir(), "opened")
    browser = os.path.join(tmpdir(), "browser")
    with open(browser, "w") as b:
        b.write("#!/bin/sh\necho \"$1\" > '%s'\n" % opened)
    os.chmod(browser, 0o755)
    p = start([CPROF, "view", "-no_browser", fs[0]], env=dict(go_env(), BROWSER=browser), preload=False, name="view")
    try:
        wait_for(lambda: "cprof: flame graph at" in p.err(), 60, "pprof web UI")
        time.sleep(1)
        assert not os.path.exists(opened)
    finally:
        p.kill_group()
    cp = run([CPROF, "top"] + fs, env=go_env(), preload=False)
    assert "cprof: adding up 2 profiles" in cp.stderr, cp.stderr
    cp = run([CPROF, "top", fs[0]], env=go_env(), preload=False)
    assert "adding up" not in cp.stderr, cp.stderr


# ---------------------------------------------------------------- finding the library

@timeout(180)
def test_make_install_and_run_installed():
    """`make install PREFIX=tmp` installs the library, the command and the
    man page; the installed command preloads the installed library (not
    the build tree's), and without it says so instead of falling back."""
    prefix = os.path.join(tmpdir(), "prefix")
    env = {"DESTDIR": None, "MAKEFLAGS": None, "MFLAGS": None, "MAKELEVEL": None}
    # -o: never rebuild the library under test while other tests use it.
    run(["make", "-C", ROOT, "install", "PREFIX=" + prefix, "BUILD=" + BUILD, "-o", LIB],
        env=env, preload=False, timeout=120)
    bin_, lib = os.path.join(prefix, "bin", "cprof"), os.path.join(prefix, "lib", "libcprof.so")
    assert os.stat(bin_).st_mode & 0o111, oct(os.stat(bin_).st_mode)
    assert os.path.exists(lib) and os.path.exists(os.path.join(prefix, "share", "man", "man1", "cprof.1"))
    with open(bin_) as f:
        assert "\nCPROF_LIBDIR_INSTALLED='%s/lib'\n" % prefix in f.read()
    cp = run([bin_, "-q", "--profiles", "heap", shutil.which("env")],
             env={"CPROF_LIB": None, "CPROF_EMPTY_FILES": "1"}, preload=False)
    got = dict(l.split("=", 1) for l in cp.stdout.splitlines() if "=" in l)
    assert got["LD_PRELOAD"] == lib, got["LD_PRELOAD"]
    assert {f.exe for f in profiles()} == {"env"}, profiles()
    # Run from another directory through a symlink: still the installed one.
    os.makedirs("elsewhere")
    os.symlink(bin_, "elsewhere/cprof")
    cp = run(["elsewhere/cprof", "-q", "--profiles", "none", "printenv", "LD_PRELOAD"],
             env={"CPROF_LIB": None}, preload=False)
    assert cp.stdout.strip() == lib, cp.stdout
    os.unlink(lib)
    cp = run([bin_, "true"], env={"CPROF_LIB": None}, preload=False, check=False)
    one_line_failure(cp, 1, "libcprof.so not found at %s (from the installation)" % lib)


def test_build_tree_library_found_through_symlinks():
    """Run from a source tree (directly or through a symlink elsewhere),
    the command preloads build/libcprof.so next to its own scripts/."""
    tree = os.path.join(tmpdir(), "tree")
    os.makedirs(os.path.join(tree, "scripts"))
    os.makedirs(os.path.join(tree, "build"))
    shutil.copy(CPROF, os.path.join(tree, "scripts", "cprof"))
    os.symlink(LIB, os.path.join(tree, "build", "libcprof.so"))
    # cprof-ctl is found next to the library the link resolves to.
    os.makedirs("bin")
    os.symlink(os.path.join(tree, "scripts", "cprof"), "bin/cprof")
    want = os.path.realpath(LIB)
    for cmd in (os.path.join(tree, "scripts", "cprof"), "bin/cprof"):
        cp = run([cmd, "-q", "--profiles", "none", "printenv", "LD_PRELOAD"],
                 env={"CPROF_LIB": None}, preload=False)
        assert cp.stdout.strip() == want, (cmd, cp.stdout)
    os.unlink(os.path.join(tree, "build", "libcprof.so"))
    cp = run(["bin/cprof", "true"], env={"CPROF_LIB": None}, preload=False, check=False)
    one_line_failure(cp, 1, "libcprof.so not found at", "build tree")
    # The real repository's own build directory, when it is the one under test.
    if os.path.realpath(BUILD) == os.path.realpath(os.path.join(ROOT, "build")):
        cp = cprof(["-q", "--profiles", "none", "printenv", "LD_PRELOAD"], lib=False)
        assert cp.stdout.strip() == want, cp.stdout
