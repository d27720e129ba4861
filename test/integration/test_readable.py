"""Profiles that read like Go's: demangled C++ and Rust names, file:line and
inlined frames in the profile itself, for a position-independent C++
program, a Rust program and a stripped binary; read by `go tool pprof` with
its defaults, with the binary present and after it is deleted, and in the
web UI in a real browser (headless Chromium)."""

import os
import re
import shutil
import subprocess
import time
import urllib.request

import pprofdec
from harness import *

CXX_SRC = os.path.join(ROOT, "test", "progs", "cxx_names.cc")

RUST_SRC = r"""
#[inline(always)]
fn mix(x: u64, k: u64) -> u64 {
    x.rotate_left(5) ^ k.wrapping_mul(0x9e3779b97f4a7c15) // HOT
}

#[inline(never)]
fn hot_loop(n: u64) -> u64 {
    let mut x = 1u64;
    for k in 0..n {
        x = mix(x, k);
    }
    x
}

#[inline(never)]
fn make_vectors(n: usize) -> usize {
    let mut v: Vec<Vec<u8>> = Vec::new();
    for i in 0..n {
        v.push(vec![1u8; 4096 + i]);
    }
    v.iter().map(|x| x.len()).sum()
}

fn main() {
    let n: u64 = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(300_000_000);
    println!("{} {}", hot_loop(n), make_vectors(2000));
}
"""


def copy_prog(name):
    dst = os.path.join(tmpdir(), name)
    shutil.copy2(prog(name), dst)
    return dst


def elf_type(path):
    with open(path, "rb") as f:
        head = f.read(18)
    return int.from_bytes(head[16:18], "little")


def top_rows(path, extra=()):
    out = pprof(["-top", "-nodecount=200"] + list(extra) + [path])
    return parse_top(out)


def check_readable(top, expect, forbidden_prefix):
    names = top.names()
    for n in expect:
        assert n in names, (n, names)
    for n in names:
        assert not n.startswith("_Z") and not n.startswith("_R"), ("mangled", n, names)
        assert not re.match(r"\[.*\]$", n), ("a mapping instead of a name", n, names)
        assert not n.startswith(forbidden_prefix), ("an address instead of a name", n, names)


@timeout(240)
def test_cxx_pie_reads_like_go_with_and_without_the_binary():
    """A C++ PIE (-O1 -g): `go tool pprof -top` with defaults shows
    namespaced, demangled names and the inlined helper as its own frame;
    -list shows the hot source line; -disasm disassembles the function; the
    heap profile names the allocating member function.  After the binary is
    deleted, the same names and lines."""
    need("go")
    exe = copy_prog("cxx_names")
    assert elf_type(exe) == 3, "expected a position-independent executable"
    run([exe, "220", "120"], env={"CPROF_PROFILES": "cpu,heap", "CPROF_OUTPUT": "%e.%t.pb.gz"})
    cpu, heap = "cxx_names.cpu.pb.gz", "cxx_names.heap.pb.gz"
    want = ["shop::detail::dot_row", "shop::detail::Matrix::mul", "main"]
    results = []
    for present in (True, False):
        top = top_rows(cpu)
        check_readable(top, want, "cxx_names+")
        inl = [r for r in top.rows if r.name == "shop::detail::dot_row"]
        assert inl and inl[0].inline and inl[0].flat.num > 0, top.rows
        lst = pprof(["-list", "dot_row", cpu])
        assert "ROUTINE" in lst and CXX_SRC in lst, lst
        hot = [l for l in lst.splitlines() if "// HOT" in l]
        assert hot and not hot[0].split()[0] == ".", lst
        htop = top_rows(heap, ["-sample_index=alloc_space"])
        assert "shop::detail::Matrix::mul" in htop.names(), htop.names()
        if present:
            dis = pprof(["-disasm", "Matrix.*mul", cpu])
            assert "ROUTINE" in dis and re.search(r"^\s+\S+\s+\S+\s+[0-9a-f]+: ", dis, re.M), dis
            os.remove(exe)
        results.append(sorted(top.names()))
    assert results[0] == results[1], results
    # The profile itself says so: functions, files, lines and inline frames.
    p = pprofdec.load(cpu)
    main = p.mappings[0]
    assert main["has_functions"] and main["has_filenames"] and main["has_line_numbers"] and \
        main["has_inline_frames"], main


@timeout(240)
def test_rust_program_reads_like_go():
    """A Rust program built with rustc -g: demangled paths without the
    hash, the #[inline(always)] helper as an inlined frame with its source
    line, the allocating function in the heap profile; the same after the
    binary is deleted."""
    need("go")
    rustc = need("/usr/bin/rustc")
    src = os.path.join(tmpdir(), "rust_names.rs")
    with open(src, "w") as f:
        f.write(RUST_SRC)
    exe = os.path.join(tmpdir(), "rust_names")
    run([rustc, "-g", "-C", "opt-level=2", "-o", exe, src], preload=False, timeout=180)
    run([exe, "200000000"], env={"CPROF_PROFILES": "cpu,heap", "CPROF_OUTPUT": "%e.%t.pb.gz"})
    cpu, heap = "rust_names.cpu.pb.gz", "rust_names.heap.pb.gz"
    results = []
    for present in (True, False):
        top = top_rows(cpu)
        check_readable(top, ["rust_names::hot_loop", "rust_names::mix"], "rust_names+")
        assert not any(re.search(r"::h[0-9a-f]{16}$", n) for n in top.names()), top.names()
        mix = [r for r in top.rows if r.name == "rust_names::mix"]
        assert mix and mix[0].inline, top.rows
        lst = pprof(["-list", "rust_names::mix", cpu])
        assert src in lst and "// HOT" in lst, lst
        htop = top_rows(heap, ["-sample_index=alloc_space"])
        assert "rust_names::make_vectors" in htop.names(), htop.names()
        results.append(sorted(top.names()))
        if present:
            os.remove(exe)
    assert results[0] == results[1], results


@timeout(120)
def test_stripped_binary_one_frame_per_function():
    """A stripped binary has no symbols: every address of one function
    shares one name, the object plus the function's start from the unwind
    tables (the same start the unstripped binary's symbol table gives)."""
    need("go")
    full = prog("demo_cpu")
    exe = os.path.join(tmpdir(), "demo_cpu")
    run(["strip", "-o", exe, full], preload=False)
    syms = run(["nm", full], preload=False).stdout
    start = {m.group(2): int(m.group(1), 16) for m in re.finditer(r"^([0-9a-f]+) [Tt] (\w+)$", syms, re.M)}
    run([exe], env={"CPROF_PROFILES": "cpu", "CPROF_OUTPUT": "%e.%t.pb.gz"})
    p = pprofdec.load("demo_cpu.cpu.pb.gz")
    mine = set()
    for s in p.samples():
        for name, fil, line, addr in s.frames:
            if name.startswith("demo_cpu+0x"):
                mine.add(name)
    want = {"demo_cpu+0x%x" % start["checksum"], "demo_cpu+0x%x" % start["encode"]}
    assert want <= mine, (sorted(mine), want)
    # One name per function: no more names than functions of the program.
    assert len(mine) <= len([n for n in start if not n.startswith("_")]), sorted(mine)


def chromium_dom(url):
    """The DOM of url once its scripts ran, as headless Chromium renders it."""
    exe = need("chromium")
    prof = os.path.join(tmpdir(), "chromium-profile")
    r = run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + prof, "--virtual-time-budget=5000", "--dump-dom", url],
            preload=False, timeout=90, env={"HOME": tmpdir()})
    return r.stdout


@timeout(240)
def test_web_ui_in_a_browser_shows_names_and_lines():
    """`cprof view` on the C++ profile, rendered by headless Chromium: the
    flame graph holds the demangled and inlined names, the source view the
    hot line."""
    need("go")
    run([prog("cxx_names"), "220", "120"], env={"CPROF_PROFILES": "cpu", "CPROF_OUTPUT": "%e.%t.pb.gz"})
    env = {"HOME": tmpdir(), "PPROF_TMPDIR": tmpdir(), "GOCACHE": os.path.join(tmpdir(), ".gocache"),
           "BROWSER": None, "DISPLAY": None}
    p = start([os.path.join(ROOT, "scripts", "cprof"), "view", "-no_browser", "cxx_names.cpu.pb.gz"],
              env=env, preload=False, name="view")
    try:
        m = wait_for(lambda: re.search(r"cprof: flame graph at (http://\S+/ui/flamegraph)", p.err()), 60, "pprof")
        fg = chromium_dom(m.group(1))
        assert "shop::detail::dot_row" in fg and "shop::detail::Matrix::mul" in fg, fg[:3000]
        src = chromium_dom(m.group(1).replace("/ui/flamegraph", "/ui/source?f=dot_row"))
        assert "// HOT" in src and "cxx_names.cc" in src, src[:3000]
    finally:
        p.kill_group()


@timeout(60)
def test_threads_debug2_prints_file_and_line():
    """goroutine?debug=2 prints each frame as Go does: the demangled
    function, then its file:line (inlined calls as their own frames)."""
    p = start([prog("cxx_names"), "220", "3000"], env={"CPROF_HTTP": "127.0.0.1:0", "CPROF_PROFILES": "cpu"})
    try:
        m = wait_for(lambda: re.search(r"serving /debug/pprof on (http://\S+)", p.err()), 10, "server")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        body = ""
        deadline = time.time() + 20
        while time.time() < deadline and "dot_row" not in body:
            with opener.open(m.group(1) + "/debug/pprof/goroutine?debug=2", timeout=20) as r:
                body = r.read().decode()
        assert re.search(r"^shop::detail::dot_row\(\.\.\.\)\n\t%s:2[34]\n" % re.escape(CXX_SRC), body, re.M), body
        assert re.search(r"^shop::detail::Matrix::mul\(\.\.\.\)\n\t%s:\d+ \+0x[0-9a-f]+\n" % re.escape(CXX_SRC),
                         body, re.M), body
    finally:
        p.kill_group()
