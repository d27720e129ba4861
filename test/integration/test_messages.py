"""cprof's own lines ("Never harm the host", item 4): with CPROF_QUIET=1
there are none, so a program's output is byte for byte what it writes
without cprof; without it, every line is true and said once per problem,
not once per process of a tree.  The signal cases: a program resetting
cprof's signals to SIG_DFL (git's children do, right before exec), and a
tree started with SIGUSR2 and SIGPROF ignored."""

import os
import signal

from checks import kinds_of, load_checked
from harness import *


def cprof_lines(stderr):
    return [l for l in stderr.splitlines() if "cprof: " in l]


def not_wrote(stderr):
    return [l for l in cprof_lines(stderr) if not l.startswith("cprof: wrote ")]


def test_reset_to_default_before_exec_is_not_a_handler():
    """A child that resets every signal to SIG_DFL with git's loop, then
    execs: the same output as bare, no line at all but the per-file ones
    (before: "installed its own handler" for SIGUSR2 and SIGPROF), both
    processes profiled; with CPROF_QUIET=1, stdout and stderr identical
    to bare."""
    argv = [prog("signal_reset"), "exec"]
    bare = run(argv, preload=False)
    assert bare.stdout == "child: usr2 default, prof default\nparent: child exited 0\n", bare.stdout
    cp = run(argv)
    assert cp.stdout == bare.stdout, (bare.stdout, cp.stdout)
    assert not_wrote(cp.stderr) == [], cp.stderr
    pids = {f.pid for f in profiles(kind="cpu", exe="signal_reset")}
    assert len(pids) == 2, profiles()
    for f in profiles():
        os.unlink(f.path)
    quiet = run(argv, env={"CPROF_QUIET": "1"})
    assert (quiet.stdout, quiet.stderr) == (bare.stdout, bare.stderr), (bare, quiet)
    assert len({f.pid for f in profiles(kind="cpu")}) == 2, profiles()


def test_vfork_child_reset_leaves_the_parent_profiling():
    """The same reset from a vfork child, which shares the parent's memory
    until it execs: the parent keeps its CPU profile (its CPU loop after
    the child is sampled; before, the child's reset stopped the parent's
    profiling silently) and nobody prints a line."""
    argv = [prog("signal_reset"), "vfork"]
    bare = run(argv, preload=False)
    cp = run(argv, env={"CPROF_PROFILES": "cpu"})
    assert cp.stdout == bare.stdout == "child: usr2 default, prof default\nparent: child exited 0\n", cp.stdout
    assert not_wrote(cp.stderr) == [], cp.stderr
    cpus = [load_checked(f.path, pprof_too=False) for f in profiles(kind="cpu")]
    assert len(cpus) == 2, profiles()
    [cpu] = [p for p in cpus if any(c.endswith(" vfork") for c in p.comments)]
    # burn_after: 3e8 dependent multiply-adds, a few hundred ms of CPU.
    assert cpu.cum("cpu").get("burn_after", 0) >= 100_000_000, cpu.summary()


def test_reset_to_default_yields_and_is_said_once_at_the_dump():
    """A program that keeps SIGUSR2 and SIGPROF at SIG_DFL for its life gets
    them: the CPU profile stops (no sample in its CPU loop), a SIGUSR2 kills
    it as it does bare, and one line for each signal says so, accurately
    (SIG_DFL, not "its own handler"), at the exit dump."""
    bare = run([prog("signal_reset"), "stay"], preload=False)
    # It records nothing: CPROF_EMPTY_FILES=1 keeps its (empty) CPU profile
    # to look into.
    cp = run([prog("signal_reset"), "stay"], env={"CPROF_PROFILES": "cpu", "CPROF_EMPTY_FILES": "1"})
    assert cp.stdout == bare.stdout == "stay: usr2 default, prof default\n", (bare.stdout, cp.stdout)
    lines = not_wrote(cp.stderr)
    assert len(lines) == 2, cp.stderr
    assert "signal 12 (SIGUSR2) to SIG_DFL (its default action); dumps on that signal stopped" in lines[0], lines
    assert "signal 27 (SIGPROF), which CPU profiling was using, to SIG_DFL" in lines[1], lines
    assert "own handler" not in cp.stderr, cp.stderr
    cpu = load_checked(kinds_of()["cpu"][0].path, pprof_too=False)
    assert "burn" not in cpu.function_names(), cpu.summary()
    bare = run([prog("signal_reset"), "raise"], preload=False, check=False)
    cp = run([prog("signal_reset"), "raise"], check=False)
    assert bare.returncode == cp.returncode == -signal.SIGUSR2, (bare.returncode, cp.returncode)
    assert cp.stdout == bare.stdout == "raise: usr2 default\n", cp.stdout
    assert not_wrote(cp.stderr) == [], cp.stderr


def test_tree_started_with_signals_ignored_says_it_once():
    """SIGUSR2 and SIGPROF ignored from the root of a tree (bash's `trap ''`
    then exec): the exec'ed shell, a child, a background child, a child of
    a child of sh each start with both ignored.  One line for each signal
    in the whole tree (before: two per process), every process profiled
    and exiting 0, and SIGUSR2 still ignored where the program sees it."""
    loop = prog("alloc_loop")
    inner = "%s 0 1; %s 0 1 & wait; sh -c \"%s 0 1; true\"; true" % (loop, loop, loop)
    cmd = ["bash", "-c", "trap '' USR2 PROF; exec bash -c '%s'" % inner]
    bare = run(cmd, preload=False)
    # alloc_loop 0 1 may sample nothing: CPROF_EMPTY_FILES=1 keeps every
    # process's files to count.
    cp = run(cmd, env={"CPROF_PROFILES": "cpu,heap", "CPROF_EMPTY_FILES": "1"})
    assert cp.stdout == bare.stdout and cp.stdout.count("done") == 3, (bare.stdout, cp.stdout)
    lines = not_wrote(cp.stderr)
    usr2 = [l for l in lines if "SIGUSR2" in l]
    prof = [l for l in lines if "SIGPROF" in l]
    assert len(usr2) == 1 and "is ignored in this program" in usr2[0], cp.stderr
    assert len(prof) == 1 and "the program ignores SIGPROF" in prof[0], cp.stderr
    assert len(lines) == 2, cp.stderr
    pids = {f.pid for f in profiles(kind="heap", exe="alloc_loop")}
    assert len(pids) == 3, profiles()
    # The SIGUSR2 each program sees is still ignored: a dump request would
    # be a no-op for them, and nothing dumped on it (one dump each, at exit).
    assert {f.n for f in profiles(kind="heap")} == {1}, profiles()
    for f in profiles(kind="cpu", exe="alloc_loop"):
        load_checked(f.path, pprof_too=False)


def test_ignored_after_start_by_a_parent_is_said_once():
    """A profiled program that ignores SIGUSR2 after start (as PostgreSQL's
    backends do) and then starts children, which begin with it ignored:
    one line in all, from the program, at its exit dump; none from the
    children (before: one per child, one per `COPY ... FROM PROGRAM`)."""
    loop = prog("alloc_loop")
    cmd = ["bash", "-c", "trap '' USR2; %s 0 1; %s 0 1; true" % (loop, loop)]
    bare = run(cmd, preload=False)
    # bash samples nothing: CPROF_EMPTY_FILES=1 keeps its files to count.
    cp = run(cmd, env={"CPROF_PROFILES": "heap", "CPROF_EMPTY_FILES": "1"})
    assert cp.stdout == bare.stdout, (bare.stdout, cp.stdout)
    lines = not_wrote(cp.stderr)
    assert len(lines) == 1, cp.stderr
    assert "the program set signal 12 (SIGUSR2) to SIG_IGN (ignored)" in lines[0], lines
    bash_pid = {f.pid for f in profiles(kind="heap", exe="bash")}
    assert len(bash_pid) == 1 and len({f.pid for f in profiles(kind="heap", exe="alloc_loop")}) == 2, profiles()


def test_inherited_settings_said_once_per_tree():
    """A misspelt and an invalid CPROF_* variable, inherited by every
    process of a tree (an exec chain, children, a background child, a
    grandchild under sh): each line once in the whole tree (before: once
    per process, 19 lines for one misspelling in a make -j2 build); a
    child given another invalid value says that one; no CPROF_SAID is
    added to anyone's environment with CPROF_QUIET=1."""
    loop = prog("alloc_loop")
    inner = ("%s 0 1; %s 0 1 & wait; sh -c \"%s 0 1; true\"; CPROF_CPU_HZ=slow %s 0 1; "
             "env | grep -c ^CPROF_SAID= || true" % (loop, loop, loop, loop))
    cmd = ["bash", "-c", "exec bash -c '%s'" % inner]
    # alloc_loop 0 1 may sample nothing: CPROF_EMPTY_FILES=1 keeps every
    # process's files to count.
    env = {"CPROF_HEAPRATE": "1", "CPROF_CPU_HZ": "fast", "CPROF_PROFILES": "heap",
           "CPROF_EMPTY_FILES": "1"}
    bare = run(cmd, preload=False, env=env)
    cp = run(cmd, env=env)
    assert cp.stdout == bare.stdout.replace("\n0\n", "\n1\n"), (bare.stdout, cp.stdout)
    lines = not_wrote(cp.stderr)
    assert len([l for l in lines if "unknown variable CPROF_HEAPRATE" in l]) == 1, cp.stderr
    assert len([l for l in lines if "CPROF_CPU_HZ=fast" in l]) == 1, cp.stderr
    assert len([l for l in lines if "CPROF_CPU_HZ=slow" in l]) == 1, cp.stderr
    assert len(lines) == 3, cp.stderr
    assert len({f.pid for f in profiles(kind="heap", exe="alloc_loop")}) == 4, profiles()
    quiet = run(cmd, env=dict(env, CPROF_QUIET="1"))
    assert (quiet.stdout, quiet.stderr) == (bare.stdout, bare.stderr), (bare, quiet)


def test_missing_output_directory_said_once_per_tree():
    """CPROF_OUTPUT in a directory that does not exist, inherited by a tree
    of processes started in the same directory: one line for the tree
    (before: one per process), and every process's profile lands in that
    start directory, the fallback the line names."""
    loop = prog("alloc_loop")
    cmd = ["bash", "-c", "%s 0 1; %s 0 1 & wait; sh -c \"%s 0 1; true\"; true" % (loop, loop, loop)]
    missing = os.path.join(tmpdir(), "missing")
    cp = run(cmd, env={"CPROF_PROFILES": "heap", "CPROF_EMPTY_FILES": "1",
                       "CPROF_OUTPUT": missing + "/cprof.%e.%p.%n.%t.pb.gz"})
    lines = not_wrote(cp.stderr)
    assert len(lines) == 1, cp.stderr
    assert "cannot write profiles in %s" % missing in lines[0] and lines[0].endswith(tmpdir()), lines
    assert len({f.pid for f in profiles(kind="heap", exe="alloc_loop")}) == 3, profiles()
