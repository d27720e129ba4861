#!/usr/bin/python3
"""pprofdec - an independent decoder and validator for pprof profiles.

This module shares no code with cprof's encoder: it decodes with the Python
protobuf runtime, using classes that protoc generates from
encoder/profile.proto (the message layout is the only thing it trusts), and
checks the result against the rules of pprof's Profile.CheckValid and more.

    import pprofdec
    p = pprofdec.load("cprof.prog.123.1.heap.pb.gz")   # raises on bad input
    pprofdec.validate(p)                               # raises InvalidProfile
    p.sample_types          # [("alloc_objects", "count"), ...]
    p.flat("alloc_space")   # {"function name": summed value, ...}

Command line: /usr/bin/python3 test/lib/pprofdec.py FILE...  validates each
file and prints a summary; exits 1 if any file is invalid.

The generated module profile_pb2.py is cached in <BUILD>/test/py (BUILD from
$CPROF_TEST_BUILD, default <repo>/build) and regenerated when the .proto is
newer.  Needs `protoc` (protobuf-compiler) and google.protobuf
(python3-protobuf): use the Debian interpreter /usr/bin/python3.
"""

import gzip
import os
import re
import subprocess
import sys
import tempfile
import zlib
from collections import defaultdict

ROOT = os.environ.get("CPROF_TEST_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("CPROF_TEST_BUILD") or os.path.join(ROOT, "build"))
PROTO = os.path.join(ROOT, "encoder", "profile.proto")

_pb2 = None


class InvalidProfile(AssertionError):
    """A profile that cannot be decoded, or that breaks a pprof rule."""


def _generate(outdir):
    """Run protoc into a private directory, then move the result into place
    atomically (tests running in parallel may generate at the same time)."""
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".protoc-", dir=outdir)
    try:
        r = subprocess.run(
            ["protoc", "--python_out=" + work, "--proto_path=" + os.path.dirname(PROTO), PROTO],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError("protoc failed (exit %d):\n%s" % (r.returncode, r.stdout))
        os.replace(os.path.join(work, "profile_pb2.py"), os.path.join(outdir, "profile_pb2.py"))
    finally:
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        os.rmdir(work)


def pb2():
    """The module protoc generated from encoder/profile.proto (generated on
    first use, cached in <BUILD>/test/py, regenerated if the .proto is newer)."""
    global _pb2
    if _pb2 is not None:
        return _pb2
    candidates = [os.path.join(BUILD, "test", "py"),
                  os.path.join(tempfile.gettempdir(), "cprof-pprofdec-%d" % os.getuid())]
    err = None
    for outdir in candidates:
        target = os.path.join(outdir, "profile_pb2.py")
        try:
            if (not os.path.exists(target)
                    or os.path.getmtime(target) < os.path.getmtime(PROTO)):
                _generate(outdir)
        except OSError as e:   # unwritable build dir: fall back to /tmp
            err = e
            continue
        break
    else:
        raise RuntimeError("cannot generate profile_pb2.py: %s" % err)
    import importlib.util
    spec = importlib.util.spec_from_file_location("profile_pb2", target)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules.setdefault("profile_pb2", mod)
    _pb2 = mod
    return mod


# ---------------------------------------------------------------- decoding

def decode_bytes(data, what="<bytes>"):
    """Decode a profile from gzip-framed or raw protobuf bytes.  Raises
    InvalidProfile on empty input, a damaged or truncated gzip stream, or
    bytes that are not a protobuf Profile message."""
    if len(data) == 0:
        raise InvalidProfile("%s: empty file" % what)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:
            raise InvalidProfile("%s: bad gzip stream: %s: %s" % (what, type(e).__name__, e)) from e
        if len(data) == 0:
            raise InvalidProfile("%s: gzip stream holds no data" % what)
    msg = pb2().Profile()
    try:
        msg.ParseFromString(data)
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        raise InvalidProfile("%s: not a valid Profile protobuf (%d bytes): %s: %s"
                             % (what, len(data), type(e).__name__, e)) from e
    return Profile(msg, what)


def _varint(b, i):
    v = shift = 0
    while True:
        if i >= len(b):
            raise InvalidProfile("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def check_canonical_samples(data, what="<bytes>"):
    """Every Sample (Profile field 2) in the raw bytes is exactly what the
    protobuf runtime writes for the decoded message: packed repeated
    scalars, zero scalars omitted, fields in order.  cprof writes its
    samples in the wire format itself (encoder/builder.c); this holds it to
    the serializer's own output.  Returns the number of samples checked."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    msg = pb2().Profile()
    msg.ParseFromString(data)
    i = k = 0
    while i < len(data):
        key, i = _varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _varint(data, i)
        elif wire == 2:
            n, i = _varint(data, i)
            if field == 2:
                want = msg.sample[k].SerializeToString()
                if data[i:i + n] != want:
                    raise InvalidProfile("%s: sample %d is encoded as %s, the serializer writes %s"
                                         % (what, k, data[i:i + n].hex(), want.hex()))
                k += 1
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise InvalidProfile("%s: wire type %d at byte %d" % (what, wire, i))
    if k != len(msg.sample):
        raise InvalidProfile("%s: %d samples walked, %d decoded" % (what, k, len(msg.sample)))
    return k


def load(path):
    """Read a profile file (gzip-framed or raw) into a Profile; raises
    InvalidProfile if it cannot be decoded.  Does not validate: call
    validate(p) for that."""
    with open(path, "rb") as f:
        data = f.read()
    return decode_bytes(data, str(path))


def _unknown_fields(msg, path="profile"):
    """Paths of messages carrying fields the schema does not know."""
    out = []
    try:
        n = len(msg.UnknownFields())
    except (AttributeError, NotImplementedError):
        n = 0
    if n:
        out.append("%s (%d unknown field(s))" % (path, n))
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        if fd.label == fd.LABEL_REPEATED:
            for i, m in enumerate(value):
                out.extend(_unknown_fields(m, "%s.%s[%d]" % (path, fd.name, i)))
        else:
            out.extend(_unknown_fields(value, "%s.%s" % (path, fd.name)))
    return out


class Sample:
    """One decoded sample.

    values      list of int, one per sample type
    stack       function names, leaf first; inlined lines expanded (a
                location's line[0] is the innermost function); a location
                without lines appears as "0x<address>"
    frames      same as stack but as (name, filename, line, address) tuples
    location_ids the raw location ids, leaf first
    labels      dict key -> str (string label) or int (numeric label); a key
                given several times maps to a list
    num_labels  dict key -> (int value, unit string) for numeric labels
    """

    __slots__ = ("values", "stack", "frames", "location_ids", "labels", "num_labels")

    def __init__(self, values, stack, frames, location_ids, labels, num_labels):
        self.values = values
        self.stack = stack
        self.frames = frames
        self.location_ids = location_ids
        self.labels = labels
        self.num_labels = num_labels

    def __repr__(self):
        return "Sample(values=%r, stack=%r, labels=%r)" % (self.values, self.stack, self.labels)


class Profile:
    """A decoded profile.  `msg` is the raw perftools.profiles.Profile
    message; the properties below resolve string indices.  Accessors assume
    validate() passed (they do not re-check indices)."""

    def __init__(self, msg, path=None):
        self.msg = msg
        self.path = path
        self.strings = list(msg.string_table)

    def s(self, index):
        """string_table[index]."""
        return self.strings[index]

    # ---- header
    @property
    def sample_types(self):
        """[(type, unit), ...] in value order."""
        return [(self.s(v.type), self.s(v.unit)) for v in self.msg.sample_type]

    @property
    def period_type(self):
        """(type, unit) or None if unset."""
        if not self.msg.HasField("period_type"):
            return None
        return (self.s(self.msg.period_type.type), self.s(self.msg.period_type.unit))

    @property
    def period(self):
        return self.msg.period

    @property
    def duration_ns(self):
        return self.msg.duration_nanos

    @property
    def time_ns(self):
        return self.msg.time_nanos

    @property
    def comments(self):
        return [self.s(i) for i in self.msg.comment]

    @property
    def drop_frames(self):
        return self.s(self.msg.drop_frames)

    @property
    def keep_frames(self):
        return self.s(self.msg.keep_frames)

    @property
    def default_sample_type(self):
        """The type name default_sample_type names, or None if unset."""
        return self.s(self.msg.default_sample_type) if self.msg.default_sample_type else None

    @property
    def mappings(self):
        """List of dicts: id, filename, build_id, start, limit, offset,
        has_functions, has_filenames, has_line_numbers, has_inline_frames."""
        return [dict(id=m.id, filename=self.s(m.filename), build_id=self.s(m.build_id),
                     start=m.memory_start, limit=m.memory_limit, offset=m.file_offset,
                     has_functions=m.has_functions, has_filenames=m.has_filenames,
                     has_line_numbers=m.has_line_numbers,
                     has_inline_frames=m.has_inline_frames)
                for m in self.msg.mapping]

    @property
    def functions(self):
        """dict id -> dict(name, system_name, filename, start_line)."""
        return {f.id: dict(name=self.s(f.name), system_name=self.s(f.system_name),
                           filename=self.s(f.filename), start_line=f.start_line)
                for f in self.msg.function}

    @property
    def locations(self):
        """dict id -> dict(mapping_id, address, lines=[(function name, line)], is_folded)."""
        funcs = {f.id: self.s(f.name) for f in self.msg.function}
        return {l.id: dict(mapping_id=l.mapping_id, address=l.address, is_folded=l.is_folded,
                           lines=[(funcs.get(ln.function_id, "?"), ln.line) for ln in l.line])
                for l in self.msg.location}

    def function_names(self):
        """Set of all function names in the function table."""
        return {self.s(f.name) for f in self.msg.function}

    # ---- samples
    def _frames_by_location(self):
        funcs = {f.id: f for f in self.msg.function}
        out = {}
        for loc in self.msg.location:
            frames = []
            for ln in loc.line:
                f = funcs.get(ln.function_id)
                if f is None:
                    frames.append(("?fn%d" % ln.function_id, "", ln.line, loc.address))
                else:
                    name = self.s(f.name) or self.s(f.system_name) or "0x%x" % loc.address
                    frames.append((name, self.s(f.filename), ln.line, loc.address))
            if not frames:
                frames.append(("0x%x" % loc.address, "", 0, loc.address))
            out[loc.id] = frames
        return out

    def samples(self):
        """Yield a Sample for every sample, in file order."""
        frames_of = self._frames_by_location()
        for smp in self.msg.sample:
            frames = []
            for lid in smp.location_id:
                frames.extend(frames_of.get(lid, [("?loc%d" % lid, "", 0, 0)]))
            labels = {}
            nums = {}
            for lab in smp.label:
                key = self.s(lab.key)
                if lab.str:
                    v = self.s(lab.str)
                else:
                    v = lab.num
                    nums[key] = (lab.num, self.s(lab.num_unit))
                if key in labels:
                    old = labels[key]
                    labels[key] = (old if isinstance(old, list) else [old]) + [v]
                else:
                    labels[key] = v
            yield Sample(list(smp.value), [f[0] for f in frames], frames,
                         list(smp.location_id), labels, nums)

    @property
    def num_samples(self):
        return len(self.msg.sample)

    def index(self, type_name=None):
        """Index of a sample type.  type_name: a type string ("cpu"), an int
        index, or None for the default (default_sample_type if set, else the
        last type, as pprof does)."""
        types = [t for t, _ in self.sample_types]
        if type_name is None:
            type_name = self.default_sample_type or (types[-1] if types else None)
            if type_name is None:
                raise KeyError("profile has no sample types")
        if isinstance(type_name, int):
            if not 0 <= type_name < len(types):
                raise KeyError("sample type index %d out of range %r" % (type_name, types))
            return type_name
        if type_name not in types:
            raise KeyError("no sample type %r; have %r" % (type_name, types))
        return types.index(type_name)

    def total(self, type_name=None):
        """Sum of one value over all samples."""
        i = self.index(type_name)
        return sum(s.value[i] for s in self.msg.sample)

    def flat(self, type_name=None):
        """dict function name -> summed value of samples where it is the leaf."""
        i = self.index(type_name)
        out = defaultdict(int)
        for s in self.samples():
            if s.stack:
                out[s.stack[0]] += s.values[i]
        return dict(out)

    def cum(self, type_name=None):
        """dict function name -> summed value of samples whose stack contains
        it (once per sample, even when recursive)."""
        i = self.index(type_name)
        out = defaultdict(int)
        for s in self.samples():
            for name in set(s.stack):
                out[name] += s.values[i]
        return dict(out)

    def by_stack(self, type_name=None):
        """dict tuple(stack, leaf first) -> summed value."""
        i = self.index(type_name)
        out = defaultdict(int)
        for s in self.samples():
            out[tuple(s.stack)] += s.values[i]
        return dict(out)

    def unknown_fields(self):
        """Paths of (sub)messages holding fields not in profile.proto."""
        return _unknown_fields(self.msg)

    def summary(self, top=10):
        """A short human-readable description."""
        lines = ["%s:" % (self.path or "profile"),
                 "  types: %s" % ", ".join("%s/%s" % t for t in self.sample_types)]
        if self.period_type:
            lines.append("  period: %d %s/%s" % ((self.period,) + self.period_type))
        if self.duration_ns:
            lines.append("  duration: %.3fs" % (self.duration_ns / 1e9))
        lines.append("  samples: %d, locations: %d, functions: %d, mappings: %d"
                     % (self.num_samples, len(self.msg.location), len(self.msg.function),
                        len(self.msg.mapping)))
        for c in self.comments:
            lines.append("  comment: %s" % c)
        for t, u in self.sample_types:
            lines.append("  total %s: %d %s" % (t, self.total(t), u))
        if self.sample_types:
            t = self.sample_types[self.index()][0]
            flat = sorted(self.flat(t).items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:top]
            lines.append("  top %d flat (%s):" % (len(flat), t))
            for name, v in flat:
                lines.append("    %14d  %s" % (v, name))
        return "\n".join(lines)


# ---------------------------------------------------------------- validation

def validate(p, allow_unknown_fields=False):
    """Check p (a Profile, or a path) against pprof's rules and more; raise
    InvalidProfile naming the first problem.  Returns p.

    Checks: string_table[0] == ""; every string index in range; at least one
    sample type if there are samples, and every sample has exactly one value
    per sample type; Mapping/Location/Function ids nonzero and unique; sample
    location ids exist; location mapping_id is 0 or an existing mapping;
    each line's function_id is nonzero and exists; period_type set when
    period != 0; mapping memory_start < memory_limit; a located address lies
    in its mapping's [start, limit); default_sample_type (if nonzero) names a
    sample type; drop_frames / keep_frames compile as regexes; labels have a
    non-empty key and not both str and num; time and duration are not
    negative; no fields unknown to profile.proto (unless allowed)."""
    if not isinstance(p, Profile):
        p = load(p)
    m = p.msg
    where = p.path or "profile"

    def bad(fmt, *args):
        raise InvalidProfile("%s: %s" % (where, fmt % args))

    st = p.strings
    if not st:
        if len(m.ListFields()) == 0:
            bad("empty profile (no fields at all)")
        bad("empty string table (string_table[0] must be \"\")")
    if st[0] != "":
        bad("string_table[0] is %r, must be \"\"", st[0])

    def sidx(i, what):
        if not 0 <= i < len(st):
            bad("%s: string index %d out of range [0, %d)", what, i, len(st))
        return st[i]

    if not allow_unknown_fields:
        unk = p.unknown_fields()
        if unk:
            bad("fields unknown to profile.proto in: %s", ", ".join(unk[:5]))

    # header
    type_names = []
    for i, vt in enumerate(m.sample_type):
        t = sidx(vt.type, "sample_type[%d].type" % i)
        sidx(vt.unit, "sample_type[%d].unit" % i)
        if t == "":
            bad("sample_type[%d] has an empty type name", i)
        type_names.append(t)
    if m.sample and not m.sample_type:
        bad("%d samples but no sample_type", len(m.sample))
    for what in ("drop_frames", "keep_frames"):
        rx = sidx(getattr(m, what), what)
        if rx:
            try:
                re.compile(rx)
            except re.error as e:
                bad("%s %r does not compile as a regex: %s", what, rx, e)
    if m.time_nanos < 0:
        bad("negative time_nanos %d", m.time_nanos)
    if m.duration_nanos < 0:
        bad("negative duration_nanos %d", m.duration_nanos)
    if m.HasField("period_type"):
        sidx(m.period_type.type, "period_type.type")
        sidx(m.period_type.unit, "period_type.unit")
    if m.period != 0 and (not m.HasField("period_type") or m.period_type.type == 0):
        bad("period is %d but period_type is not set", m.period)
    for i, c in enumerate(m.comment):
        sidx(c, "comment[%d]" % i)
    if m.default_sample_type:
        d = sidx(m.default_sample_type, "default_sample_type")
        if d not in type_names:
            bad("default_sample_type %r is not one of the sample types %r", d, type_names)

    # mappings
    mappings = {}
    for i, mp in enumerate(m.mapping):
        if mp.id == 0:
            bad("mapping[%d] has reserved id 0", i)
        if mp.id in mappings:
            bad("mapping[%d]: duplicate mapping id %d", i, mp.id)
        mappings[mp.id] = mp
        fn = sidx(mp.filename, "mapping id %d filename" % mp.id)
        sidx(mp.build_id, "mapping id %d build_id" % mp.id)
        if not mp.memory_start < mp.memory_limit:
            bad("mapping id %d (%s): memory_start 0x%x not below memory_limit 0x%x",
                mp.id, fn, mp.memory_start, mp.memory_limit)

    # functions
    functions = {}
    for i, f in enumerate(m.function):
        if f.id == 0:
            bad("function[%d] has reserved id 0", i)
        if f.id in functions:
            bad("function[%d]: duplicate function id %d", i, f.id)
        functions[f.id] = f
        sidx(f.name, "function id %d name" % f.id)
        sidx(f.system_name, "function id %d system_name" % f.id)
        sidx(f.filename, "function id %d filename" % f.id)
        if f.start_line < 0:
            bad("function id %d: negative start_line %d", f.id, f.start_line)

    # locations
    locations = {}
    for i, loc in enumerate(m.location):
        if loc.id == 0:
            bad("location[%d] has reserved id 0", i)
        if loc.id in locations:
            bad("location[%d]: duplicate location id %d", i, loc.id)
        locations[loc.id] = loc
        if loc.mapping_id != 0:
            mp = mappings.get(loc.mapping_id)
            if mp is None:
                bad("location id %d refers to missing mapping id %d", loc.id, loc.mapping_id)
            if not mp.memory_start <= loc.address < mp.memory_limit:
                bad("location id %d: address 0x%x outside its mapping id %d [0x%x, 0x%x) %s",
                    loc.id, loc.address, mp.id, mp.memory_start, mp.memory_limit,
                    st[mp.filename])
        for j, ln in enumerate(loc.line):
            if ln.function_id == 0:
                bad("location id %d line[%d] has function_id 0", loc.id, j)
            if ln.function_id not in functions:
                bad("location id %d line[%d] refers to missing function id %d",
                    loc.id, j, ln.function_id)
            if ln.line < 0:
                bad("location id %d line[%d]: negative line number %d", loc.id, j, ln.line)

    # samples
    n = len(m.sample_type)
    for i, smp in enumerate(m.sample):
        if len(smp.value) != n:
            bad("sample[%d] has %d values but there are %d sample types %r",
                i, len(smp.value), n, type_names)
        for lid in smp.location_id:
            if lid not in locations:
                bad("sample[%d] refers to missing location id %d", i, lid)
        for j, lab in enumerate(smp.label):
            key = sidx(lab.key, "sample[%d].label[%d].key" % (i, j))
            if key == "":
                bad("sample[%d].label[%d] has an empty key", i, j)
            sidx(lab.str, "sample[%d].label[%d].str" % (i, j))
            sidx(lab.num_unit, "sample[%d].label[%d].num_unit" % (i, j))
            if lab.str and (lab.num or lab.num_unit):
                bad("sample[%d].label[%d] (%s) has both a string and a numeric value", i, j, key)
    return p


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: pprofdec.py FILE...  (validate pprof profiles and summarise them)")
        return 2
    status = 0
    for path in argv:
        try:
            p = validate(load(path))
        except (InvalidProfile, OSError) as e:
            print("INVALID %s" % e)
            status = 1
            continue
        print(p.summary())
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
