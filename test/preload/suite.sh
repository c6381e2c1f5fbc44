#!/bin/bash
# Re-runs the test programs of test/api, test/thread and test/fork under
# LD_PRELOAD: each of them is also built as a NAME-plain twin that links
# nothing of ours, and here every such twin runs with
# LD_PRELOAD=$HUGESLAB_LIB. The twins call test_require_hugeslab() first, so a
# run in which the preload did not take effect fails instead of quietly
# testing glibc (HS_TEST_ANY_MALLOC, which would lift that, is removed from
# the environment here). This is how a user gets the library, so the whole
# API/thread/fork behaviour is owed through it too (interposition, allocation
# before our constructor runs, LD_PRELOAD with initial-exec TLS).
#
# Prints one line per program: PASS, FAIL (with the reason and the end of its
# output) or SKIP (the program exited 77). Fails if any program failed or
# timed out (120 s each; HS_PRELOAD_TIMEOUT changes that), or if no -plain program was found at all (the test
# programs were not built, or the twins were renamed). Run alone:
#   HUGESLAB_LIB=/abs/libhugeslab.so HS_BUILDDIR=/abs/builddir bash THIS
#
# make check runs this with $(SHELL), which may be dash: re-run under bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

fail() { echo "suite.sh: FAIL: $*" >&2; exit 1; }

: "${HUGESLAB_LIB:?HUGESLAB_LIB must be the absolute path of libhugeslab.so (make check sets it)}"
: "${HS_BUILDDIR:?HS_BUILDDIR must be the absolute build directory (make check sets it)}"
case "$HUGESLAB_LIB" in
  /*) ;;
  *) fail "HUGESLAB_LIB=$HUGESLAB_LIB is not an absolute path" ;;
esac
case "$HUGESLAB_LIB" in
  *[[:space:]:]*) fail "HUGESLAB_LIB=$HUGESLAB_LIB contains a space or colon; LD_PRELOAD would split it" ;;
esac
[ -f "$HUGESLAB_LIB" ] || fail "HUGESLAB_LIB=$HUGESLAB_LIB does not exist (build the library first)"

TIMEOUT=${HS_PRELOAD_TIMEOUT:-120}   # seconds per program
GROUPS_RUN="api thread fork"

# The check that the library is mapped must stay on, and nothing inherited
# may preload something else next to us.
unset HS_TEST_ANY_MALLOC LD_PRELOAD

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hs-suite.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

# Every executable NAME-plain of the three groups, sorted. .libs holds
# libtool's real binaries of the linked (not -plain) programs: skip it.
progs=()
for group in $GROUPS_RUN; do
  dir=$HS_BUILDDIR/test/$group
  [ -d "$dir" ] || continue
  while IFS= read -r prog; do
    progs+=("$prog")
  done < <(find "$dir" -name .libs -prune -o -type f -name '*-plain' -perm -u+x -print | LC_ALL=C sort)
done
if [ "${#progs[@]}" -eq 0 ]; then
  fail "no executable *-plain program under $HS_BUILDDIR/test/{${GROUPS_RUN// /,}}: were the test programs built (make check builds them)?"
fi

pass=0 failed=0 skipped=0
for prog in "${progs[@]}"; do
  name=${prog#"$HS_BUILDDIR"/}
  log=$tmp/log
  rc=0
  # Run from the build directory, as make check runs the linked twin, with
  # no stdin so that nothing can wait on a terminal.
  (cd "$HS_BUILDDIR" && exec timeout -k 10 "$TIMEOUT" env "LD_PRELOAD=$HUGESLAB_LIB" "$prog") \
    >"$log" 2>&1 </dev/null || rc=$?
  case $rc in
    0)
      echo "PASS: $name"
      pass=$((pass + 1))
      continue ;;
    77)
      echo "SKIP: $name"
      skipped=$((skipped + 1))
      continue ;;
    124)
      why="timed out after ${TIMEOUT} s" ;;
    137)
      why="killed by SIGKILL (ignored the SIGTERM sent at ${TIMEOUT} s, or the OOM killer)" ;;
    *)
      if [ "$rc" -gt 128 ]; then
        why="killed by signal $((rc - 128)) (SIG$(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
      else
        why="exit status $rc"
      fi ;;
  esac
  echo "FAIL: $name: $why"
  if [ -s "$log" ]; then
    echo "--- last lines of its output:"
    tail -n 20 "$log"
  fi
  failed=$((failed + 1))
done

echo "suite.sh: ${#progs[@]} programs under LD_PRELOAD: $pass passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
