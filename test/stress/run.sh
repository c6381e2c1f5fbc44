#!/bin/bash
# make stress: the soak test linked and preloaded, at several thread counts,
# then a long fork-under-load run. Minutes, not seconds; not part of make check.
set -eu
b="$HS_BUILDDIR"
run() { echo "== $*"; "$@"; }
run "$b/test/stress/soak" 8 40 200000 1
run "$b/test/stress/soak" 2 200 50000 2
run env LD_PRELOAD="$HUGESLAB_LIB" "$b/test/stress/soak-plain" 16 20 100000 3
run env HUGESLAB_CONF=arenas:1 "$b/test/stress/soak" 8 20 100000 4
run env HUGESLAB_CONF=tcache:0 "$b/test/stress/soak" 4 5 50000 5
echo "stress: all runs passed"
