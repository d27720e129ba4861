#!/bin/sh
# demo.sh BUILD - run the demo programs under cprof and show what pprof sees.
#
# Each demo shows one profile type: a heap leak, a CPU hot spot, lock
# contention.  Profiles go to BUILD/demo/; the commands printed here are
# the ones to run yourself (add -http=: for the web UI).
set -eu
build=${1:-build}
lib=$(cd "$build" && pwd)/libcprof.so
out=$(cd "$build" && pwd)/demo
mkdir -p "$out"
rm -f "$out"/*.pb.gz
export HOME=${HOME:-/tmp}

show() {
	echo
	echo "\$ $*"
	"$@" 2>&1 | grep -v "^File:\|^Build ID:\|^cprof \|^command:\|^Time:" | head -10
}

echo "== 1. heap: which code holds memory (a leaking cache)"
CPROF_OUTPUT="$out/%e.%t.pb.gz" CPROF_PROFILES=heap LD_PRELOAD="$lib" "$build/test/progs/demo_leak"
show go tool pprof -top -nodecount=5 "$out/demo_leak.heap.pb.gz"
show go tool pprof -top -nodecount=5 -sample_index=alloc_space "$out/demo_leak.heap.pb.gz"

echo
echo "== 2. cpu: where the time goes (a naive checksum)"
CPROF_OUTPUT="$out/%e.%t.pb.gz" CPROF_PROFILES=cpu LD_PRELOAD="$lib" "$build/test/progs/demo_cpu"
show go tool pprof -top -nodecount=5 "$out/demo_cpu.cpu.pb.gz"

echo
echo "== 3. block and mutex: who waits, and who made them wait"
CPROF_OUTPUT="$out/%e.%t.pb.gz" CPROF_PROFILES=mutex,block LD_PRELOAD="$lib" "$build/test/progs/demo_locks"
show go tool pprof -top -nodecount=5 "$out/demo_locks.block.pb.gz"
show go tool pprof -top -nodecount=5 "$out/demo_locks.mutex.pb.gz"

echo
echo "Profiles are in $out. Open one in the browser (pprof's web UI, on the"
echo "flame graph) with:"
echo "  scripts/cprof view $out/demo_leak.heap.pb.gz"
