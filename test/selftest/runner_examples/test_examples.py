"""Deliberately passing, failing, skipping, crashing and hanging tests.

NOT collected by default: test/selftest/test_runner.py runs the runner on
this directory (run.py --dir test/selftest/runner_examples) and checks what
it reports.
"""

import os
import signal
import subprocess
import sys
import time

from harness import Skip, serial, timeout, tmpdir, ROOT, BUILD


def test_pass():
    tmp = os.environ["CPROF_TEST_TMP"]
    assert os.path.isdir(tmp), tmp
    assert tmpdir() == tmp
    assert os.path.realpath(os.getcwd()) == os.path.realpath(tmp), (os.getcwd(), tmp)
    assert os.environ["CPROF_TEST_BUILD"] == BUILD and os.path.isabs(BUILD)
    assert os.environ["CPROF_TEST_ROOT"] == ROOT and os.path.isabs(ROOT)
    assert os.path.exists(os.path.join(ROOT, "test", "run.py"))
    assert not [k for k in os.environ if k.startswith("CPROF_") and not k.startswith("CPROF_TEST_")]
    open(os.path.join(tmp, "marker"), "w").close()
    print("EXAMPLE-TMP=%s" % tmp)
    print("EXAMPLE-BUILD=%s" % BUILD)


def test_fail():
    for i in range(100):
        print("output line %d" % i)
    print("to stderr", file=sys.stderr)
    assert 1 + 1 == 3, "deliberate failure"


def test_skip():
    raise Skip("not today")


@timeout(2)
def test_timeout():
    # One child in the test's own group, one that escaped into a new session:
    # the runner must kill both.
    a = subprocess.Popen(["sleep", "1000"])
    b = subprocess.Popen(["sleep", "1001"], start_new_session=True)
    with open(os.path.join(tmpdir(), "pids"), "w") as f:
        f.write("%d %d\n" % (a.pid, b.pid))
    print("started children", flush=True)
    time.sleep(1000)


def test_crash():
    print("about to crash", flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)


def test_exit_status():
    os._exit(3)


@serial
def test_serial_a():
    print("SERIAL-A %f" % time.time())


@serial
def test_serial_b():
    print("SERIAL-B %f" % time.time())


def helper_not_a_test():
    raise AssertionError("must not be collected")


test_alias = None   # not a function: not collected
