"""profilers - the configurations every workload is run under.

A configuration says how to start a program under one profiler (extra
environment, or a wrapper command in front of argv), where its output goes
(always a private temporary directory per run, deleted afterwards), and how
to check that the profiler really wrote something: the overhead of a
profiler that silently did nothing would be meaningless, so every run's
output is checked (file present, not empty) and the first run's output of
every (workload, configuration) is opened and its samples counted.

Availability is detected, never assumed: a library must be installed, and
the profiler must produce its output for a trivial program on this machine
(perf may be forbidden by perf_event_paranoid; jemalloc may be built without
--enable-prof, which MALLOC_CONF=prof:true reports with a warning).  A
configuration that cannot run carries the reason, and the tables print it.
"""

import glob
import os
import re
import shutil
import struct
import subprocess
import tempfile

import measure

JE_SAMPLE = 19            # lg_prof_sample: 2^19 = 512 KiB, cprof's default rate
TC_SAMPLE = 524288        # TCMALLOC_SAMPLE_PARAMETER
HZ = 100


def find_lib(soname):
    """Absolute path of a shared library from the ld.so cache, or None."""
    try:
        out = subprocess.run(["ldconfig", "-p"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) \(libc6,x86-64[^)]*\) => (\S+)", line)
        if m and m.group(1) == soname and os.path.exists(m.group(2)):
            return m.group(2)
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/usr/local/lib"):
        p = os.path.join(d, soname)
        if os.path.exists(p):
            return p
    return None


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


class Output:
    """What one run's profiler wrote: ok (bool) and a short description."""

    def __init__(self, ok, detail):
        self.ok = ok
        self.detail = detail


class Config:
    """One way of running a program.

    key       short name used in results and --only
    label     name in the tables
    kind      "bare", "cprof", "allocator" (an allocator swap, no profiling),
              or "other" (another profiler)
    base      key of the configuration this one should also be compared
              with to separate an allocator change from the profiling cost
              (jemalloc-prof -> jemalloc), or None
    settings  the exact environment/wrapper, for the report
    """

    kind = "other"
    base = None
    available = True
    reason = ""

    def __init__(self, key, label, settings):
        self.key = key
        self.label = label
        self.settings = settings

    def wrap(self, argv, env, outdir, workload):
        """(argv, env) to run argv under this configuration."""
        return argv, env

    def check(self, outdir, deep, may_be_empty=()):
        """Output of a finished run (deep: open it and count samples)."""
        return Output(True, "")

    def applies(self, workload):
        """False if running this configuration on workload would repeat
        another one (jemalloc on a program already linked with it)."""
        return True


class Bare(Config):
    kind = "bare"

    def __init__(self):
        Config.__init__(self, "bare", "bare", "no profiler, glibc malloc")

    def check(self, outdir, deep, may_be_empty=()):
        return Output(True, "-")


def _files(outdir, pattern):
    return sorted(glob.glob(os.path.join(outdir, pattern)))


class Cprof(Config):
    kind = "cprof"
    TYPES = {"heap": ["heap"], "cpu": ["cpu"], "mutex,block": ["mutex", "block"],
             None: ["cpu", "heap", "mutex", "block", "threadcreate"]}

    def __init__(self, key, label, profiles, lib, extra=None, writes=True):
        self.profiles = profiles
        self.lib = lib
        self.extra = dict(extra or {})
        self.writes = writes          # False: a configuration that records nothing
        s = "LD_PRELOAD=<copy of %s>" % os.path.basename(lib)
        if profiles:
            s += " CPROF_PROFILES=%s" % profiles
        for k, v in self.extra.items():
            s += " %s=%s" % (k, v)
        # Every run writes its complete set, even one that recorded nothing
        # in a profile (mutex,block on a program without contention): the
        # tables then check each output, and the cost of writing it counts.
        s += " CPROF_QUIET=1 CPROF_EMPTY_FILES=1 CPROF_OUTPUT=<tmp>/cprof.%e.%p.%n.%t.pb.gz"
        Config.__init__(self, key, label, s)
        if not os.path.exists(lib):
            self.available = False
            self.reason = "%s not built" % lib

    def wrap(self, argv, env, outdir, workload):
        env = dict(env)
        env["LD_PRELOAD"] = self.lib
        env["CPROF_QUIET"] = "1"
        env["CPROF_EMPTY_FILES"] = "1"
        env["CPROF_OUTPUT"] = os.path.join(outdir, "cprof.%e.%p.%n.%t.pb.gz")
        if self.profiles:
            env["CPROF_PROFILES"] = self.profiles
        env.update(self.extra)
        return argv, env

    def check(self, outdir, deep, may_be_empty=()):
        parts = []
        ok = True
        if not self.writes:
            return Output(True, "- (records nothing by design)")
        for t in self.TYPES[self.profiles]:
            fs = [f for f in _files(outdir, "cprof.*.%s.pb.gz" % t) if os.path.getsize(f) > 0]
            if not fs:
                ok = False
                parts.append("no %s file" % t)
                continue
            size = sum(os.path.getsize(f) for f in fs)
            desc = "%s %s" % (t, human_bytes(size))
            if deep and t in ("heap", "cpu", "mutex"):
                try:
                    import pprofdec
                    ps = [pprofdec.load(f) for f in fs]
                    stacks = sum(p.num_samples for p in ps)
                    if t == "heap":
                        desc += " (%d stacks, %s allocated)" % (
                            stacks, human_bytes(sum(p.total("alloc_space") for p in ps)))
                    elif t == "cpu":
                        desc += " (%d samples)" % sum(p.total("samples") for p in ps)
                    else:
                        desc += " (%d contentions)" % sum(p.total("contentions") for p in ps)
                    # Empty fails the run, unless the workload says it
                    # may leave this profile empty (a lock loop allocates
                    # less than the heap rate).
                    if stacks == 0 and t != "mutex":
                        if t in may_be_empty:
                            desc += " (empty, as expected here)"
                        else:
                            desc += " EMPTY"
                            ok = False
                except Exception as e:   # a profile pprof could not read
                    ok = False
                    desc += " UNREADABLE: %s" % str(e).splitlines()[0][:80]
            parts.append(desc)
        return Output(ok, ", ".join(parts))


class Preload(Config):
    """An allocator or profiler library in LD_PRELOAD, plus variables."""

    def __init__(self, key, label, lib, env, kind="other", base=None, outputs=None,
                 no_output_reason=None, jemalloc=False):
        self.lib = lib
        self.env = env
        self.kind = kind
        self.base = base
        self.outputs = outputs            # glob of the expected output file
        self.no_output_reason = no_output_reason
        self.jemalloc = jemalloc
        s = "LD_PRELOAD=%s" % (lib or "?")
        for k, v in env.items():
            s += " %s=%s" % (k, v)
        Config.__init__(self, key, label, s)
        if not lib:
            self.available = False
            self.reason = "library not installed"

    def applies(self, workload):
        # jemalloc without profiling on a program already linked with
        # jemalloc is the bare run again.
        return not (self.jemalloc and self.kind == "allocator" and workload.links_jemalloc)

    def wrap(self, argv, env, outdir, workload):
        env = dict(env)
        if not (self.jemalloc and workload.links_jemalloc):
            env["LD_PRELOAD"] = self.lib
        for k, v in self.env.items():
            env[k] = v.replace("<tmp>", outdir)
        return argv, env

    def check(self, outdir, deep, may_be_empty=()):
        if self.kind == "allocator":
            return Output(True, "- (allocator only)")
        if self.outputs is None:
            return Output(True, self.no_output_reason or "-")
        fs = [f for f in _files(outdir, self.outputs) if os.path.getsize(f) > 0]
        if not fs:
            return Output(False, "NO OUTPUT (%s)" % self.outputs)
        desc = "%s %s" % (os.path.basename(fs[-1]).split(".")[0],
                          human_bytes(os.path.getsize(fs[-1])))
        if self.outputs == "gpcpu.prof":
            # Cheap to read: checked on every run, an empty profile fails.
            try:
                n = gperf_cpu_samples(fs[-1])[0]
            except (OSError, struct.error, IndexError):
                n = 0
            if n == 0:
                return Output(False, "EMPTY (%s, 0 samples)" % desc)
            return Output(True, "%s (%d samples)" % (desc, n))
        if deep:
            n = count_samples(fs[-1])
            if n is not None:
                desc += " (%d %s)" % n
        return Output(True, desc)


class Wrapper(Config):
    """A command in front of the program (heaptrack, perf record)."""

    def __init__(self, key, label, prefix, outputs, tool):
        self.prefix = prefix
        self.outputs = outputs
        self.tool = tool
        Config.__init__(self, key, label, " ".join(prefix + ["PROGRAM..."]))

    def wrap(self, argv, env, outdir, workload):
        return [a.replace("<tmp>", outdir) for a in self.prefix] + list(argv), env

    def check(self, outdir, deep, may_be_empty=()):
        fs = [f for f in _files(outdir, self.outputs) if os.path.getsize(f) > 0]
        if not fs:
            return Output(False, "NO OUTPUT (%s)" % self.outputs)
        desc = "%s %s" % (os.path.basename(fs[-1]), human_bytes(os.path.getsize(fs[-1])))
        if deep:
            n = count_samples(fs[-1], self.tool)
            if n is not None:
                desc += " (%d %s)" % n
        return Output(True, desc)


class PerfOver(Config):
    """perf record (cpu-clock, 999 Hz, no call graphs) over another
    configuration: where the time goes when cprof is behind.  The inner
    configuration's variables are given to the program with env(1), so perf
    itself runs without them."""

    def __init__(self, inner):
        self.inner = inner
        Config.__init__(self, "perf+" + inner.key, "perf over " + inner.label,
                        "perf record -F 999 -- env " + inner.settings)

    def wrap(self, argv, env, outdir, workload):
        iargv, ienv = self.inner.wrap(argv, env, outdir, workload)
        extra = ["%s=%s" % (k, v) for k, v in ienv.items() if env.get(k) != v]
        return (["perf", "record", "-F", "999", "-q", "-o", os.path.join(outdir, "explain.data"),
                 "--", "env"] + extra + list(iargv), env)


def perf_shares(path):
    """{(dso, symbol): share of samples} from a perf.data file."""
    r = subprocess.run(["perf", "report", "-i", path, "--stdio", "--no-children", "--sort",
                        "dso,sym", "-F", "overhead,dso,sym", "--percent-limit", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=300)
    out = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([0-9.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$", line)
        if m:
            out[(m.group(2), m.group(3))] = float(m.group(1)) / 100.0
    return out


# ---------------------------------------------------------------- counting samples

def count_samples(path, tool=None):
    """(count, what) of a profiler's output file, or None if it cannot be
    read without more tools.  Cheap readers only: the text heap formats of
    jemalloc and gperftools, the binary CPU format of gperftools, perf's
    header, heaptrack's summary."""
    try:
        if tool == "perf":
            r = subprocess.run(["perf", "report", "-i", path, "--stdio", "--sort", "comm",
                                "-g", "none"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, timeout=120)
            m = re.search(r"# Samples: (\d+\S*)", r.stdout)
            if m:
                v = m.group(1)
                n = int(float(v[:-1]) * 1000) if v.endswith("K") else int(v)
                return n, "samples"
            return None
        if tool == "heaptrack":
            r = subprocess.run(["heaptrack_print", "-f", path, "-p", "0", "-a", "0", "-T", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               timeout=300)
            m = re.search(r"calls to allocation functions: (\d+)", r.stdout)
            if m:
                return int(m.group(1)), "allocations"
            return None
        with open(path, "rb") as f:
            head = f.read(16)
        if head.startswith(b"heap_v2/"):           # jemalloc
            with open(path, errors="replace") as f:
                n = sum(1 for line in f if line.startswith("@ "))
            return n, "stacks"
        if head.startswith(b"heap profile:"):      # gperftools heap profiler
            with open(path, errors="replace") as f:
                n = sum(1 for line in f if " @ " in line and not line.startswith("heap"))
            return n, "stacks"
        if len(head) >= 16 and struct.unpack("<QQ", head) == (0, 3):   # gperftools CPU
            return gperf_cpu_samples(path)[0], "samples"
    except (OSError, subprocess.SubprocessError, ValueError, struct.error):
        return None
    return None


def gperf_cpu_samples(path):
    """(samples, period_us) of a gperftools CPU profile (legacy binary:
    header words 0, 3, 0, period, 0; then records count, depth, pcs...;
    trailer 0, 1, 0)."""
    with open(path, "rb") as f:
        data = f.read()
    words = struct.unpack("<%dQ" % (len(data) // 8), data[:len(data) // 8 * 8])
    period = words[3]
    i = 5
    total = 0
    while i + 1 < len(words):
        count, depth = words[i], words[i + 1]
        if count == 0 and depth == 1:
            break
        total += count
        i += 2 + depth
    return total, period


# ---------------------------------------------------------------- detection

def _probe(argv, env, cwd, timeout=60):
    try:
        return subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as e:
        return subprocess.CompletedProcess(argv, 127, "", str(e))


def _first_line(text):
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:160]
    return ""


def detect(lib, progs, log=print):
    """All configurations, keyed by name, each with .available/.reason set
    from a probe run on this machine.  progs: dict of benchmark program
    paths (alloc probe: malloc_pair; tcmalloc_check if it was built)."""
    env = measure.clean_env()
    probe_dir = tempfile.mkdtemp(prefix="cprof-bench-probe-")
    configs = {}

    def add(c):
        configs[c.key] = c

    add(Bare())
    add(Cprof("cprof-heap", "cprof heap", "heap", lib))
    # The heap profile's cost in parts: the hooks alone, and the sample
    # path with the frame-pointer walker instead of libunwind.
    add(Cprof("cprof-heap-hooks", "cprof heap, hooks only (CPROF_HEAP_RATE=0)", "heap", lib,
              {"CPROF_HEAP_RATE": "0"}, writes=False))
    # What any library in front of glibc's malloc costs before it does
    # anything (bench/progs/null_interposer.c): the floor of the row above.
    add(Preload("null-interposer", "do-nothing malloc interposer", progs.get("null_interposer"), {},
                no_output_reason="- (forwards every call; records nothing)"))
    add(Cprof("cprof-heap-fp", "cprof heap, CPROF_UNWIND=fp", "heap", lib,
              {"CPROF_UNWIND": "fp"}))
    add(Cprof("cprof-cpu", "cprof cpu", "cpu", lib))
    add(Cprof("cprof-lock", "cprof mutex,block", "mutex,block", lib))
    add(Cprof("cprof-all", "cprof all (default)", None, lib))

    je = find_lib("libjemalloc.so.2")
    tc = find_lib("libtcmalloc.so.4")
    gp = find_lib("libprofiler.so.0")

    add(Preload("jemalloc", "jemalloc, no profiling", je, {}, kind="allocator", jemalloc=True))
    add(Preload("jemalloc-prof", "jemalloc prof (512 KiB)", je,
                {"MALLOC_CONF": "prof:true,lg_prof_sample:%d,prof_final:true,"
                                "prof_prefix:<tmp>/jeprof" % JE_SAMPLE},
                base="jemalloc", outputs="jeprof.*.heap", jemalloc=True))
    add(Preload("tcmalloc", "tcmalloc, no sampling", tc, {}, kind="allocator"))
    add(Preload("tcmalloc-sample", "tcmalloc sampling (512 KiB)", tc,
                {"TCMALLOC_SAMPLE_PARAMETER": str(TC_SAMPLE)}, base="tcmalloc",
                no_output_reason="no file by design (samples kept in memory)"))
    add(Preload("gperf-heap", "gperftools heap profiler", tc,
                {"HEAPPROFILE": "<tmp>/gpheap", "HEAP_PROFILE_ALLOCATION_INTERVAL": "0",
                 "HEAP_PROFILE_INUSE_INTERVAL": "0"}, base="tcmalloc", outputs="gpheap.*.heap"))
    add(Preload("gperf-cpu", "gperftools CPU profiler (100 Hz)", gp,
                {"CPUPROFILE": "<tmp>/gpcpu.prof", "CPUPROFILE_FREQUENCY": str(HZ)},
                outputs="gpcpu.prof"))
    add(Wrapper("heaptrack", "heaptrack", ["heaptrack", "-o", "<tmp>/heaptrack"],
                "heaptrack*", "heaptrack"))
    add(Wrapper("perf", "perf record -F 100 -g",
                ["perf", "record", "-F", str(HZ), "-g", "-q", "-o", "<tmp>/perf.data", "--"],
                "perf.data", "perf"))

    # --- probes
    true = shutil.which("true") or "/bin/true"
    alloc_probe = progs.get("malloc_pair")
    if je:
        r = _probe([true], dict(env, LD_PRELOAD=je, MALLOC_CONF="prof:true"), probe_dir)
        if "Invalid conf" in r.stderr or r.returncode != 0:
            configs["jemalloc-prof"].available = False
            configs["jemalloc-prof"].reason = ("jemalloc built without --enable-prof: %s"
                                               % _first_line(r.stderr))
        elif alloc_probe:
            out = os.path.join(probe_dir, "je")
            _probe([alloc_probe, "100000", "4096"],
                   dict(env, LD_PRELOAD=je,
                        MALLOC_CONF="prof:true,prof_final:true,prof_prefix:" + out),
                   probe_dir)
            if not glob.glob(out + ".*.heap"):
                configs["jemalloc-prof"].available = False
                configs["jemalloc-prof"].reason = "prof:true wrote no .heap file at exit"
    if tc:
        chk = progs.get("tcmalloc_check")
        c = configs["tcmalloc-sample"]
        if not chk:
            c.no_output_reason = ("no file by design; sampling not verified "
                                  "(tcmalloc_check not built)")
        else:
            on = _probe([chk], dict(env, TCMALLOC_SAMPLE_PARAMETER=str(TC_SAMPLE)), probe_dir)
            off = _probe([chk], env, probe_dir)
            m_on = re.search(r'"samples": (\d+)', on.stdout)
            m_off = re.search(r'"samples": (\d+)', off.stdout)
            n_on = int(m_on.group(1)) if m_on else -1
            n_off = int(m_off.group(1)) if m_off else -1
            c.verified = (n_on, n_off)
            if n_on <= 0:
                c.available = False
                c.reason = ("TCMALLOC_SAMPLE_PARAMETER=%d took no sample (GetHeapSample "
                            "empty)" % TC_SAMPLE)
            else:
                c.no_output_reason = ("no file by design; sampling verified: %d samples "
                                      "of 64 MiB with it, %d without" % (n_on, n_off))
        if alloc_probe:
            out = os.path.join(probe_dir, "gpheap")
            _probe([alloc_probe, "100000", "4096"],
                   dict(env, LD_PRELOAD=tc, HEAPPROFILE=out), probe_dir)
            if not glob.glob(out + ".*.heap"):
                configs["gperf-heap"].available = False
                configs["gperf-heap"].reason = "HEAPPROFILE wrote no .heap file"
    if gp and alloc_probe:
        out = os.path.join(probe_dir, "gpcpu.prof")
        _probe([progs["cpu_burn"], "1", "30"],
               dict(env, LD_PRELOAD=gp, CPUPROFILE=out, CPUPROFILE_FREQUENCY=str(HZ)), probe_dir)
        if not os.path.exists(out):
            configs["gperf-cpu"].available = False
            configs["gperf-cpu"].reason = "CPUPROFILE wrote no file"
    if not shutil.which("heaptrack"):
        configs["heaptrack"].available = False
        configs["heaptrack"].reason = "heaptrack not installed"
    else:
        r = _probe(["heaptrack", "-o", os.path.join(probe_dir, "ht"), true], env, probe_dir)
        if not glob.glob(os.path.join(probe_dir, "ht*")):
            configs["heaptrack"].available = False
            configs["heaptrack"].reason = "heaptrack wrote no file: %s" % _first_line(
                r.stderr or r.stdout)
    if not shutil.which("perf"):
        configs["perf"].available = False
        configs["perf"].reason = "perf not installed"
    else:
        out = os.path.join(probe_dir, "perf.data")
        r = _probe(["perf", "record", "-F", str(HZ), "-g", "-q", "-o", out, "--", true],
                   env, probe_dir)
        if r.returncode != 0 or not os.path.exists(out):
            configs["perf"].available = False
            with open("/proc/sys/kernel/perf_event_paranoid") as f:
                par = f.read().strip()
            configs["perf"].reason = "not permitted (perf_event_paranoid=%s): %s" % (
                par, _first_line(r.stderr))
    shutil.rmtree(probe_dir, ignore_errors=True)
    for c in configs.values():
        if not c.available:
            log("  not available: %s: %s" % (c.label, c.reason))
    return configs
