#!/bin/bash
# make distcheck: the release tarball holds everything a build needs. In a
# scratch copy of the sources: autoreconf, configure, then `make distcheck`,
# which makes the tarball, unpacks it read-only, builds it out of tree, runs
# a part of the suite there (TESTS below: the ones that read files of the
# source tree — README, scripts, man pages — and the command), installs it
# into a scratch prefix, checks `make uninstall` leaves nothing and
# `make distclean` cleans everything.
set -u
here=$(cd "$(dirname "$0")" && pwd)
HS_SRCDIR=${HS_SRCDIR:-$(cd "$here/../.." && pwd)}
. "$here/common.sh"
command -v autoreconf >/dev/null 2>&1 || { echo "SKIP: autoreconf not installed"; exit 77; }
start=$SECONDS
hs_clean_build_env
unset LD_LIBRARY_PATH LD_PRELOAD HUGESLAB_CONF
hs_scratch_init distcheck
B=$scratch/src
hs_copy_source "$HS_SRCDIR" "$B" || { echo "FAIL: copying $HS_SRCDIR to $B"; exit 1; }
cd "$B" || exit 1
hs_step "$scratch/autoreconf.log" autoreconf -fi
hs_step "$scratch/configure.log" ./configure --disable-dependency-tracking
tests="test/api/core_basic test/api/stats test/api/stats_report.sh test/unit/conf.sh test/unit/options_doc.sh \
test/unit/invariants.sh test/preload/command.sh"
hs_step "$scratch/distcheck.log" make -j2 distcheck TESTS="$tests"
grep -E '^=+$|archives ready|hugeslab-.*\.tar\.gz' "$scratch/distcheck.log" | tail -3
echo "distcheck: ok in $((SECONDS - start)) s"
