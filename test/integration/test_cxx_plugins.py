"""C++ code loaded privately (issue "Never harm the host", item 1): a C
program that dlopen()s a C++ plugin with RTLD_LOCAL brings libstdc++ in
outside the global scope, where dlsym(RTLD_NEXT) cannot see it, while the
plugin's operator new still binds to cprof's.  cprof must find the
runtime's definition itself (hooks/cxx.c): before, such programs died with
SIGSEGV (operator new returned NULL).  Each program runs bare and under
cprof, and must print the same and exit the same way."""

import glob
import os

from checks import load_checked, one
from harness import *


def needs_private_runtime():
    """These cases need a process whose global scope has no C++ runtime: a
    library built with a sanitizer brings libstdc++ along, so the case
    cannot arise under it."""
    deps = run(["ldd", LIB], preload=False, check=False).stdout
    if "libstdc++" in deps:
        raise Skip("the library under test itself loads libstdc++ (sanitizer build)")


def same_as_bare(cmd, env=None):
    """Run cmd bare, then under cprof; assert identical stdout and exit
    status and return the preloaded run."""
    needs_private_runtime()
    bare = run(cmd, preload=False, check=False)
    cp = run(cmd, env=env, check=False)
    assert (cp.returncode, cp.stdout) == (bare.returncode, bare.stdout), (
        "bare: %s %r\ncprof: %s %r\ncprof stderr:\n%s"
        % (bare.returncode, bare.stdout[-2000:], cp.returncode, cp.stdout[-2000:], cp.stderr[-3000:]))
    return cp


def test_cxx_plugin_loaded_with_rtld_local():
    """cxx_plugin_host (C) loads libcxxplugin.so (C++) with RTLD_LOCAL twice:
    the plugin's constructor and its function allocate with operator new,
    std::string and std::vector and throw and catch exceptions (one a
    std::bad_alloc from operator new).  Same output and status as bare; at
    CPROF_HEAP_RATE=1 the heap profile holds the plugin's allocations from
    both loads, its constructor's included."""
    cp = same_as_bare([prog("cxx_plugin_host")], env={"CPROF_HEAP_RATE": "1"})
    assert cp.returncode == 0, cp.stderr
    assert "libstdc++ loaded at start: no" in cp.stdout, cp.stdout
    for r in (1, 2):
        assert "round %d: sum 503089 caught 2 nothrow-null 1 aligned 1 ctor 36 strings 50" % r \
            in cp.stdout, cp.stdout
    p = load_checked(one(kind="heap"))
    cum = p.cum("alloc_space")
    # cxxplugin_fill makes a std::vector<long>(1000) each round.
    assert cum.get("cxxplugin_fill", 0) >= 2 * 8000, sorted(cum.items())[:60]
    assert any(name == "Init::Init" and v > 0 for name, v in cum.items()), \
        sorted(cum.items())[:60]


def test_operator_new_without_any_cxx_runtime():
    """With no C++ runtime in the process, dlsym(RTLD_DEFAULT, "_Znwm")
    finds only cprof's operator new; calling it must still give usable
    (and, for the aligned form, aligned) memory.  Once the plugin brings
    libstdc++, the same operators reach it.  Same output as bare (where the
    probe finds nothing to call), and at CPROF_HEAP_RATE=1 exactly the 3 x
    1000 bytes the probes allocated at probe_alloc: each allocation counted
    once, whichever definition served it."""
    cp = same_as_bare([prog("cxx_plugin_host"), "probe"],
                      env={"CPROF_HEAP_RATE": "1", "CPROF_PROFILES": "heap"})
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.count(": ok\n") == 3, cp.stdout
    p = load_checked(one(kind="heap"), pprof_too=False)
    assert p.flat("alloc_space").get("probe_alloc") == 3000, p.summary()
    assert p.flat("inuse_space").get("probe_alloc", 0) == 0, p.summary()


def test_cxx_plugin_from_many_threads_at_once():
    """8 threads released together each call operator new through dlsym,
    then load, use and unload the plugin, 10 times: the first calls race
    into cprof's resolution of the operators (5 runs at
    CPROF_HEAP_RATE=1).  Same output and status as bare every time; every
    heap profile valid."""
    for _ in range(5):
        cp = same_as_bare([prog("cxx_plugin_host"), "threads"],
                          env={"CPROF_HEAP_RATE": "1", "CPROF_PROFILES": "heap"})
        assert "threads: 8 x 10 rounds, 0 failed" in cp.stdout, cp.stdout
    heaps = profiles(kind="heap")
    assert len(heaps) == 5, heaps
    for f in heaps:
        load_checked(f.path, pprof_too=False)


def test_python_cxx_extension_module():
    """python3 imports apt_pkg (python3-apt), a C++ extension module: the
    interpreter loads it with RTLD_LOCAL, libstdc++ with it."""
    need("/usr/bin/python3")
    cmd = ["/usr/bin/python3", "-c", "import apt_pkg; print(apt_pkg.VERSION)"]
    if run(cmd, preload=False, check=False).returncode != 0:
        raise Skip("python3-apt not installed")
    cp = same_as_bare(cmd)
    assert cp.returncode == 0 and cp.stdout.strip(), (cp.stdout, cp.stderr)


def test_nm_loads_cxx_bfd_plugin():
    """nm -D /bin/true: binutils loads every plugin in /usr/lib/bfd-plugins,
    LLVM's gold plugin (C++, libLLVM and libstdc++ behind it) among them."""
    need("/usr/bin/nm", "/bin/true")
    if not glob.glob("/usr/lib/bfd-plugins/LLVMgold*.so"):
        raise Skip("no C++ bfd plugin (llvm-14-linker-tools) installed")
    cp = same_as_bare(["/usr/bin/nm", "-D", "/bin/true"])
    assert cp.returncode == 0 and "__libc_start_main" in cp.stdout, (cp.stdout[:2000], cp.stderr)
