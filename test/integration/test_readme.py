"""Every example in README.md is executed, so the documentation cannot rot.

README.md marks its examples with an HTML comment before the code block:

  <!-- test: run -->     every command in the block runs (bash -e), in one
                         temporary directory shared by the whole README, where
                         `build` and `scripts` point at the real ones; `make`
                         lines are skipped (the suite built everything), and
                         `sleep N` is kept so background programs start.
  <!-- test: output -->  the block holds `$ command` lines each followed by
                         the output shown to readers; the command runs and its
                         real output must have the same `Type:` line and list
                         the functions shown in the same order (figures vary
                         from run to run, names and ranking must not).

A block without a marker is not an example to run (a diagram, a table) -
the test fails if a shell block has no marker, so none is forgotten.

The README is run twice in the same directory, as a user re-running a
recipe would: on the second pass, every profile file a command reads (a
`.pb.gz` argument of pprof or `cprof top`/`view`, globs expanded) must
have been written by that pass, never left over from the first.
"""

import glob
import os
import re
import shlex
import subprocess
import time

from harness import *

ROW = re.compile(r"^\s*\S+\s+[\d.]+%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+(.+?)\s*$")


def blocks():
    text = open(os.path.join(ROOT, "README.md")).read()
    out = []
    marker = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"<!-- test: (\w+) -->", line.strip())
        if m:
            marker = m.group(1)
        elif line.startswith("```"):
            lang = line[3:].strip()
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append((marker, lang, body, i))
            marker = None
        elif line.strip():
            marker = None if not line.startswith("<!--") else marker
        i += 1
    return out


def setup_dir():
    d = tmpdir()
    for name, target in (("build", BUILD), ("scripts", os.path.join(ROOT, "scripts"))):
        if not os.path.exists(os.path.join(d, name)):
            os.symlink(target, os.path.join(d, name))
    return d


def sh(script, cwd, timeout=120):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["HOME"] = cwd
    env["PATH"] = os.path.join(ROOT, "scripts") + ":" + env["PATH"]
    r = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True,
                       text=True, timeout=timeout)
    return r


def rows(text):
    return [m.group(1) for m in map(ROW.match, text.splitlines()) if m]


def profiles_read(cmd, cwd):
    """The profile files a command line hands to pprof or cprof top/view."""
    try:
        words = shlex.split(cmd.split("#")[0])
    except ValueError:
        return []
    if not any(w in ("pprof", "top", "view") for w in words):
        return []
    out = []
    for w in words:
        if w.endswith(".pb.gz") and "://" not in w:
            out += glob.glob(os.path.join(cwd, w)) or [os.path.join(cwd, w)]
    return out


def check_fresh(files, since, where, cmd):
    for f in files:
        assert os.path.exists(f), "%s: `%s` reads %s, which does not exist" % (where, cmd, f)
        assert os.stat(f).st_mtime >= since, \
            "%s: `%s` reads %s, left over from an earlier run (the recipe is not repeatable)" % (where, cmd, f)


def run_readme(d, fresh):
    shell_blocks = [b for b in blocks() if b[1] in ("sh", "bash", "shell", "console")]
    assert shell_blocks, "no shell examples found"
    for marker, lang, body, line in shell_blocks:
        where = "README.md block ending at line %d" % (line + 1)
        assert marker in ("run", "output"), "%s has no test marker" % where
        if marker == "run":
            cmds = [l for l in body if l.strip() and not l.strip().startswith("make")]
            start = time.time() - 0.01
            r = sh("\n".join(cmds), d)
            assert r.returncode == 0, "%s failed:\n%s\n%s" % (where, r.stdout[-2000:], r.stderr[-2000:])
            if fresh:
                for c in cmds:
                    check_fresh(profiles_read(c, d), start, where, c)
            continue
        # output block: "$ cmd" then expected lines
        cmd, expected = None, []
        pairs = []
        for l in body + ["$ "]:
            if l.startswith("$ "):
                if cmd:
                    pairs.append((cmd, expected))
                cmd, expected = l[2:].strip(), []
            else:
                expected.append(l)
        for cmd, expected in pairs:
            if fresh:
                check_fresh(profiles_read(cmd, d), fresh, where, cmd)
            r = sh(cmd, d)
            assert r.returncode == 0, "%s: `%s` failed: %s" % (where, cmd, r.stderr[-2000:])
            got = r.stdout
            for l in expected:
                if l.startswith("Type:"):
                    assert l.strip() in got, "%s: `%s` shows no %r:\n%s" % (where, cmd, l, got)
            want = rows("\n".join(expected))
            have = rows(got)
            pos = -1
            for name in want:
                assert name in have, "%s: `%s` does not list %s:\n%s" % (where, cmd, name, got)
                assert have.index(name) > pos, "%s: `%s` ranks %s differently:\n%s" % (where, cmd, name, got)
                pos = have.index(name)


@timeout(600)
def test_readme_examples_run():
    d = setup_dir()
    run_readme(d, None)
    run_readme(d, time.time() - 0.01)
