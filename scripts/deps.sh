#!/bin/sh
# deps.sh build|view|demo|test|bench - install the Debian packages a make
# target needs, if missing.  Each set holds the one before it:
#
# build: what compiling libcprof.so needs (libmicrohttpd for CPROF_HTTP).
# view:  what reading profiles needs: pprof (golang-go, and the source of
#        github.com/google/pprof, from which make builds build/pprof, which
#        reads DWARF lines through binutils), and graphviz, whose `dot`
#        draws pprof's graph view (without it the web UI shows "Could not
#        execute dot").
# demo:  the demo programs (some are C++).
# test:  what `make test` runs against: the independent decoder
#        (python3-protobuf + protoc), the real programs used as test
#        subjects (python3-apt and llvm-14-linker-tools: C++ code that
#        python3 and nm load privately; git, nginx and Debian's rustc for
#        test_corpus.py and Rust's futex-based locks), the allocators cprof
#        must work with, and clang's
#        libFuzzer for `make fuzz`.
# bench: the profilers `make bench` compares cprof with (perf, heaptrack;
#        gperftools' headers for the tcmalloc sampling check).
# Installing needs root and apt-get; without them the script only reports.
set -eu

build_pkgs="gcc make libc6-dev libunwind-dev libunwind8 libprotobuf-c-dev
 protobuf-c-compiler zlib1g-dev libmicrohttpd-dev libmicrohttpd12 libdw-dev libdw1
 libiberty-dev"
view_pkgs="golang-go graphviz golang-github-google-pprof-dev binutils"
demo_pkgs="g++"
test_pkgs="binutils python3 python3-protobuf protobuf-compiler libjemalloc2
 libgoogle-perftools4 redis-server redis-tools memcached sqlite3 curl procps
 libpython3.11-testsuite clang libclang-rt-14-dev groff-base python3-apt llvm-14-linker-tools
 chromium rustc git nginx"
# Installed without their recommendations (cargo and llvm for rustc; ssh,
# less and patch for git): the tests use the programs themselves only.
lean_pkgs="git nginx rustc"
bench_pkgs="linux-perf heaptrack libgoogle-perftools-dev valgrind"

case "${1:-build}" in
build) pkgs=$build_pkgs ;;
view) pkgs="$build_pkgs $view_pkgs" ;;
demo) pkgs="$build_pkgs $view_pkgs $demo_pkgs" ;;
test) pkgs="$build_pkgs $view_pkgs $demo_pkgs $test_pkgs" ;;
bench) pkgs="$build_pkgs $view_pkgs $demo_pkgs $test_pkgs $bench_pkgs" ;;
*) echo "usage: deps.sh build|view|demo|test|bench" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

# A new machine has no package lists yet: update only when needed.
install() {
	apt-get install -y -qq "$@" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null; } ||
		{ echo "deps: apt-get install $* failed" >&2; exit 1; }
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	lean="" rest=""
	for p in $missing; do
		case " $lean_pkgs " in
		*" $p "*) lean="$lean $p" ;;
		*) rest="$rest $p" ;;
		esac
	done
	[ -z "$rest" ] || install $rest
	[ -z "$lean" ] || install --no-install-recommends $lean
	# Debian starts services on install; tests start their own on loopback.
	for svc in redis-server memcached nginx; do
		case "$missing" in
		*" $svc"*) service "$svc" stop >/dev/null 2>&1 || true ;;
		esac
	done
else
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root: apt-get install$missing" >&2
	exit 1
fi
