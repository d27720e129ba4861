"""A new user's first hour: the traps a first try fell into, one test each
so none comes back (the README's recipes being repeatable is checked by
test_readme, `cprof view` opening on the flame graph by test_command)."""

import os
import re
import signal
import subprocess
import urllib.request

from checks import kinds_of, run_prog
from harness import *

CPROF = os.path.join(ROOT, "scripts", "cprof")


def code_blocks(path):
    text = open(path).read()
    return re.findall(r"```(?:sh|bash|shell|console)\n(.*?)```", text, re.S)


def test_readme_leads_with_the_dump_command_that_cannot_hurt():
    """No example sends the dump signal by hand (SIGUSR2 kills a process
    without cprof); the first example that dumps a running process uses
    `cprof dump`, which refuses such a process instead."""
    readme = os.path.join(ROOT, "README.md")
    raw = re.compile(r"\bkill\s+(-s\s*)?-?(SIG)?(USR2|12)\b")
    for block in code_blocks(readme):
        assert not raw.search(block), block
    first = next(b for b in code_blocks(readme) if "$!" in b)
    assert "cprof dump" in first, first
    # ... and cprof dump refuses a process that does not have cprof.
    plain = start(["sleep", "30"], preload=False)
    try:
        cp = run([CPROF, "dump", str(plain.pid)], preload=False, check=False)
        assert cp.returncode == 1 and "does not have libcprof.so loaded" in cp.stderr, cp
        assert plain.poll() is None, "the process was signalled"
    finally:
        plain.kill()


def test_misspelt_variable_gets_the_near_name():
    """CPROF_PROFILE=heap: 'did you mean CPROF_PROFILES?'; a name far from
    every variable gets no guess but a pointer to the list."""
    cp, _ = run_prog("heap_truth", [1, 0], env={"CPROF_PROFILE": "heap", "CPROF_HEAPRATE": "1",
                                               "CPROF_WHATEVER_ELSE": "1"})
    err = cp.stderr
    assert "cprof: unknown variable CPROF_PROFILE ignored (did you mean CPROF_PROFILES?)" in err, err
    assert "cprof: unknown variable CPROF_HEAPRATE ignored (did you mean CPROF_HEAP_RATE?)" in err, err
    assert re.search(r"cprof: unknown variable CPROF_WHATEVER_ELSE ignored; the variables are listed", err), err
    assert err.count("unknown variable") == 3, err


def test_misspelt_profile_names_the_alias():
    """CPROF_PROFILES=heap,goroutines names the 'goroutine' alias (and what
    it is); cpuu suggests cpu; the command-line option says the same before
    the program runs."""
    cp, _ = run_prog("heap_truth", [1, 0], env={"CPROF_PROFILES": "heap,goroutines"})
    assert "unknown profile 'goroutines' (did you mean 'goroutine', the threads profile?)" in cp.stderr, cp.stderr
    cp, _ = run_prog("heap_truth", [1, 0], env={"CPROF_PROFILES": "cpuu"})
    assert "unknown profile 'cpuu' (did you mean 'cpu'?)" in cp.stderr, cp.stderr
    cp = run([CPROF, "--profiles", "heap,goroutines", prog("heap_truth"), "1", "0"], preload=False, check=False)
    assert cp.returncode == 2, cp
    assert "unknown profile 'goroutines' (did you mean 'goroutine', the threads profile?)" in cp.stderr, cp.stderr
    cp = run([CPROF, "--profile", "heap", prog("heap_truth"), "1", "0"], preload=False, check=False)
    assert cp.returncode == 2 and "unknown option '--profile' (did you mean --profiles?)" in cp.stderr, cp.stderr


@timeout(60)
def test_profiles_none_keeps_the_http_server():
    """CPROF_PROFILES=none with CPROF_HTTP: no files, but the server runs
    and serves a CPU profile on demand and the threads profile."""
    p = start([prog("alloc_loop"), "30"], env={"CPROF_PROFILES": "none", "CPROF_HTTP": "127.0.0.1:0"})
    try:
        m = wait_for(lambda: re.search(r"serving /debug/pprof on (http://127\.0\.0\.1:\d+)", p.err()), 10,
                     "the server")
        base = m.group(1) + "/debug/pprof/"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(base + "profile?seconds=1", timeout=30) as r:
            cpu = r.read()
        prof = load_profile_bytes(cpu)
        assert [t for t, _ in prof.sample_types] == ["samples", "cpu"], prof.sample_types
        with opener.open(base + "goroutine?debug=1", timeout=30) as r:
            assert b"goroutine profile: total" in r.read()
        p.stop(signal.SIGTERM)
    finally:
        p.kill_group()
    assert not kinds_of(), kinds_of()
    assert "warn" not in p.err() and "cannot" not in p.err(), p.err()


def load_profile_bytes(data):
    import pprofdec
    return pprofdec.decode_bytes(data)


def repo_files():
    out = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True)
    if out.returncode != 0:
        raise Skip("not a git checkout")
    return [f for f in out.stdout.splitlines() if os.path.exists(os.path.join(ROOT, f))]


def test_every_cited_document_exists():
    """Comments and docs cite only documents that are in the repository."""
    cited = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
    missing = []
    for f in repo_files():
        if not f.endswith((".c", ".h", ".py", ".md", ".sh", ".1", ".cc", ".proto")) and f not in ("Makefile",):
            continue
        text = open(os.path.join(ROOT, f), errors="replace").read()
        for m in cited.finditer(text):
            name = m.group(1)
            if name.startswith("build/"):
                continue   # written by make (make bench)
            here = os.path.normpath(os.path.join(ROOT, os.path.dirname(f), name))
            if not (os.path.exists(os.path.join(ROOT, name)) or os.path.exists(here) or
                    os.path.exists(os.path.join(ROOT, "docs", name))):
                missing.append("%s cites %s" % (f, name))
    assert not missing, missing


def test_docs_agree_on_what_a_signal_writes():
    """Every document that says when nothing is written names SIGKILL (not
    'a signal' in general) and says SIGTERM writes the profiles, as
    test_lifecycle checks the library does."""
    for doc in ("README.md", "docs/configuration.md", "docs/troubleshooting.md", "docs/cprof.1"):
        text = " ".join(open(os.path.join(ROOT, doc)).read().split())
        text = re.sub(r"\\f[BIRP]|\.B[IR]? |\.I ", "", text)
        assert not re.search(r"[Nn]othing is written[^.]*killed by a signal", text), doc
        m = re.search(r"[Nn]othing is written[^.]*\.", text)
        assert m and "SIGKILL" in m.group(0), (doc, m and m.group(0))
        assert "SIGTERM" in text, doc
