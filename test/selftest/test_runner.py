"""Self-test of test/run.py: run it on test/selftest/runner_examples (tests
that pass, fail, skip, crash, hang and fail to import - not collected by
default) plus a fake build directory holding unit-test executables, and
check what it reports."""

import os
import re
import sys

from harness import ROOT, run, timeout, tmpdir

RUNNER = os.path.join(ROOT, "test", "run.py")
EXAMPLES = os.path.join(ROOT, "test", "selftest", "runner_examples")


def _fake_build():
    build = os.path.join(tmpdir(), "fakebuild")
    unit = os.path.join(build, "test", "unit")
    os.makedirs(unit)
    scripts = {
        "u_pass": "echo unit ok\n",
        "u_skip": "echo 'SKIP: no frobnicator'\nexit 77\n",
        "u_fail": "echo unit output; echo unit error >&2\nexit 1\n",
        "u_pass.d": "exit 1\n",           # dependency file: ignored
    }
    for name, body in scripts.items():
        with open(os.path.join(unit, name), "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(os.path.join(unit, name), 0o755)
    with open(os.path.join(unit, "not_executable"), "w") as f:
        f.write("exit 1\n")
    return build


def _runner(build, *args, check_rc=None):
    runs = os.path.join(tmpdir(), "runs")
    os.makedirs(runs, exist_ok=True)
    r = run([sys.executable, RUNNER, "--build", build, "--dir", EXAMPLES, "--tmp-root", runs]
            + list(args), preload=False, check=False, timeout=120)
    print(r.stdout)
    print(r.stderr)
    if check_rc is not None:
        assert r.returncode == check_rc, (r.returncode, r.stderr)
    return r.stdout


def _line(out, regex):
    m = re.search(regex, out, re.M)
    assert m, "no line matching %r in runner output" % regex
    return m


def _alive(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"sleep" in f.read()
    except OSError:
        return False


@timeout(120)
def test_runner_reports_everything():
    build = _fake_build()
    out = _runner(build, "-j", "2", check_rc=1)
    lines = out.rstrip("\n").splitlines()
    assert lines[-1] == "4 passed, 6 failed", lines[-3:]
    assert lines[-2] == "2 skipped", lines[-3:]

    ex = "runner_examples/test_examples::"
    _line(out, r"^PASS unit/u_pass \(\d+\.\ds\)$")
    _line(out, r"^SKIP unit/u_skip: no frobnicator$")
    _line(out, r"^FAIL unit/u_fail \(\d+\.\ds\) \[exit status 1\]$")
    assert "u_pass.d" not in out and "not_executable" not in out
    _line(out, r"^PASS %stest_pass \(\d+\.\ds\)$" % ex)
    _line(out, r"^SKIP %stest_skip: not today$" % ex)
    _line(out, r"^FAIL %stest_fail \(\d+\.\ds\) \[exit status 1\]$" % ex)
    _line(out, r"^FAIL %stest_crash \(\d+\.\ds\) \[killed by SIGSEGV\]$" % ex)
    _line(out, r"^FAIL %stest_exit_status \(\d+\.\ds\) \[exit status 3\]$" % ex)
    _line(out, r"^FAIL runner_examples/test_broken::<collect> .*\[import error\]$")
    assert "    RuntimeError: broken on purpose" in out
    assert "helper_not_a_test" not in out and "test_alias" not in out and "test_never" not in out

    # Failure output: the tail, indented, stdout and stderr combined.
    assert "    unit output" in out and "    unit error" in out
    assert "    output line 99" in out and "    output line 20\n" not in out
    assert "earlier lines of output omitted" in out
    assert "    to stderr" in out and "AssertionError: deliberate failure" in out
    assert "    about to crash" in out

    # Timeout: reported, killed on time, with a traceback, children gone.
    m = _line(out, r"^FAIL %stest_timeout \((\d+\.\d)s\) \[timeout after 2s.*\]$" % ex)
    assert 1.9 <= float(m.group(1)) < 15, m.group(0)
    assert "in test_timeout" in out     # faulthandler's dump before the kill
    section = out[m.end():].split("\nFAIL ")[0].split("\nPASS ")[0]
    kept = _line(section, r"temporary directory kept: ([^\s)]+)").group(1)
    assert kept.startswith(os.path.join(tmpdir(), "runs")), kept
    with open(os.path.join(kept, "pids")) as f:
        pids = [int(x) for x in f.read().split()]
    assert len(pids) == 2
    for pid in pids:
        assert not _alive(pid), "child %d of the timed-out test survived" % pid

    # Serial tests run after all the parallel ones.
    order = [l.split()[1] for l in lines if l.startswith(("PASS ", "FAIL ", "SKIP "))]
    assert len(order) == 12, order
    assert order[-2:] == [ex + "test_serial_a", ex + "test_serial_b"], order


@timeout(60)
def test_runner_filter_verbose_list():
    build = _fake_build()
    out = _runner(build, "-v", "-k", "test_pass", "-k", "serial", "-k", "u_pass", check_rc=0)
    lines = out.rstrip("\n").splitlines()
    assert lines[-1] == "4 passed, 0 failed", lines[-3:]
    assert "skipped" not in out
    # -v shows the output of passing tests; their tmp dir is removed.
    tmp = _line(out, r"^    EXAMPLE-TMP=(\S+)$").group(1)
    assert not os.path.exists(tmp), tmp
    assert _line(out, r"^    EXAMPLE-BUILD=(\S+)$").group(1) == build
    assert "    unit ok" in out

    out = _runner(build, "--list", "-k", "examples::", check_rc=0)
    names = out.split()
    assert "runner_examples/test_examples::test_timeout" in out
    assert "timeout=2s" in out and "serial" in out
    assert not any(n.startswith("unit/") for n in names), names

    out = _runner(build, "-k", "no-such-test", check_rc=0)
    assert out.rstrip("\n").splitlines()[-1] == "0 passed, 0 failed", out


@timeout(60)
def test_default_collection_excludes_examples():
    out = run([sys.executable, RUNNER, "--build", os.path.join(tmpdir(), "nobuild"), "--list"],
              preload=False).stdout
    assert "runner_examples" not in out, out
    assert "selftest/test_runner::test_runner_reports_everything" in out, out
