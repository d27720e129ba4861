#!/bin/sh
# check-layers.sh "LAYER..." OBJECT... - fail if an object refers to a
# symbol defined in a layer above its own.
#
# LAYER... are the source folders, bottom first (the Makefile's LAYERS);
# an object's layer is the folder its path ends in (build/obj/<layer>/x.o).
# Per-layer include paths already stop an upward #include; this catches
# what headers cannot: a function declared low and defined high, or an
# extern variable living in the wrong layer.
#
# Exported symbols (default visibility: the interposed C library
# functions and the public API) are the program's interface, not a layer's:
# a call to read() or free() anywhere in cprof reaches the hook by
# design, so they are not checked.
#
# Exit status 1, and one line per upward reference, when there are any.
set -eu
layers=$1
shift
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT INT TERM

for o in "$@"; do
	rank=-1
	i=0
	for layer in $layers; do
		case "$o" in */"$layer"/*.o) rank=$i ;; esac
		i=$((i + 1))
	done
	[ "$rank" -ge 0 ] || continue
	# "D rank object symbol" for hidden definitions, "U ..." for uses.
	readelf -sW "$o" | awk -v r="$rank" -v o="$o" '
		$5 != "GLOBAL" && $5 != "WEAK" { next }
		$7 == "UND" { print "U", r, o, $8; next }
		$6 == "HIDDEN" || $6 == "INTERNAL" { print "D", r, o, $8 }'
done >"$tmp"

awk -v layers="$layers" '
	BEGIN { split(layers, name, " ") }
	$1 == "D" { def[$4] = $2; where[$4] = $3; next }
	$1 == "U" { use[++u] = $0 }
	END {
		bad = 0
		for (i = 1; i <= u; i++) {
			split(use[i], f, " ")
			if ((f[4] in def) && def[f[4]] > f[2]) {
				printf "check-layers: %s (%s) uses %s, defined in %s (%s, a layer above)\n",
					f[3], name[f[2] + 1], f[4], where[f[4]], name[def[f[4]] + 1]
				bad = 1
			}
		}
		exit bad
	}' "$tmp"
