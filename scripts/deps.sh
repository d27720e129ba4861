#!/bin/sh
# deps.sh build|test|bench - install the Debian packages cprof needs, if missing.
#
# build: what compiling libcprof.so needs.
# test:  what `make test` runs against: pprof (golang-go), the independent
#        decoder (python3-protobuf + protoc), the real programs used as test
#        subjects, the allocators cprof must work with, and clang's
#        libFuzzer for `make fuzz`.
# bench: test, plus the profilers `make bench` compares cprof with (perf,
#        heaptrack; gperftools' headers for the tcmalloc sampling check).
# Installing needs root and apt-get; without them the script only reports.
set -eu

build_pkgs="gcc make libunwind-dev libunwind8 libprotobuf-c-dev protobuf-c-compiler zlib1g-dev"
test_pkgs="g++ golang-go binutils python3 python3-protobuf protobuf-compiler libjemalloc2
 libgoogle-perftools4 redis-server redis-tools memcached sqlite3 libmicrohttpd12
 libmicrohttpd-dev curl procps libpython3.11-testsuite clang libclang-rt-14-dev"
bench_pkgs="linux-perf heaptrack libgoogle-perftools-dev"

case "${1:-build}" in
build) pkgs=$build_pkgs ;;
test) pkgs="$build_pkgs $test_pkgs" ;;
bench) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
*) echo "usage: deps.sh build|test|bench" >&2; exit 2 ;;
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

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq $missing >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $missing >/dev/null; }
	# Debian starts services on install; tests start their own on loopback.
	for svc in redis-server memcached; do
		service "$svc" stop >/dev/null 2>&1 || true
	done
else
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root: apt-get install$missing" >&2
	exit 1
fi
