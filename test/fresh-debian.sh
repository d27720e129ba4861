#!/bin/sh
# fresh-debian.sh [COMMAND] - run COMMAND (default: the README's
# `make demo && make test`) as root in a brand-new minimal Debian 12 that
# holds a clean clone of this repository's committed HEAD: what a new
# user's machine has, so that a missing install step fails here instead of
# on theirs.
#
# The root file system is Debian 12 "minbase" (apt, dpkg, coreutils...)
# plus what a user needs to get the code at all: git, make, python3 and
# ca-certificates.  It is built once with mmdebstrap from this machine's
# apt sources and kept as $CPROF_FRESH_ROOT (default
# /var/tmp/cprof-fresh-debian-12.tar); every call unpacks a new copy and
# removes it afterwards.  The chroot shares this machine's network, so
# apt-get inside it reaches the same package registry.  Needs root (mount,
# chroot).  The exit status is COMMAND's; 2 if the root could not be made.
set -u
cmd=${1:-make demo && make test}
src=$(git -C "$(dirname "$0")" rev-parse --show-toplevel) || exit 2
tar=${CPROF_FRESH_ROOT:-/var/tmp/cprof-fresh-debian-12.tar}

[ "$(id -u)" = 0 ] || { echo "fresh-debian: needs root (mount, chroot)" >&2; exit 2; }
if [ ! -s "$tar" ]; then
	command -v mmdebstrap >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq mmdebstrap >/dev/null 2>&1; } ||
		{ echo "fresh-debian: cannot install mmdebstrap" >&2; exit 2; }
	# This machine's Debian sources (deb822 or one-line), else mmdebstrap's default.
	mirror=
	for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		if [ -s "$f" ] && grep -q '^[^#]' "$f"; then mirror=$f; break; fi
	done
	echo "fresh-debian: building a minimal Debian 12 root file system (once)" >&2
	part=$tar.part
	# shellcheck disable=SC2086 # no mirror: no argument
	mmdebstrap --variant=minbase --include=ca-certificates,git,make,python3 \
		bookworm "$part.tar" $mirror >/dev/null 2>&1 && mv "$part.tar" "$tar" ||
		{ rm -f "$part.tar"; echo "fresh-debian: mmdebstrap failed" >&2; exit 2; }
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/cprof-fresh.XXXXXX") || exit 2
cleanup() {
	for m in proc sys dev; do umount -l "$root/$m" 2>/dev/null; done
	rm -rf --one-file-system "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tar -C "$root" -xf "$tar" || exit 2
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
mount -t proc proc "$root/proc" && mount --bind /dev "$root/dev" && mount --bind /sys "$root/sys" ||
	{ echo "fresh-debian: mount failed" >&2; exit 2; }
git clone -q "$src" "$root/src" || exit 2
chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 bash -c "cd /src && $cmd"
