#!/bin/bash
# Death-test runner: double frees, invalid pointers, wrong sizes to
# free_sized, pool blocks passed to free/realloc, a non-pool passed to
# hs_pool_destroy, and an abort path that neither allocates nor hangs; in
# hardened mode also writes after free and heap overflows.
#
# Runs every case of test/death/misuse twice: the binary linked with
# -lhugeslab, and the -plain twin under LD_PRELOAD=$HUGESLAB_LIB. A case
# passes only if
#   - the process died of SIGABRT (shell status 134), within 10 s (a hang in
#     the abort path is a failure);
#   - stderr is exactly one line matching ^hugeslab: CALL(): REASON 0xHEX$;
#   - HEX is the pointer the program printed on stdout just before the misuse.
# Prints one PASS/FAIL line per case and run; exits 1 if any failed.
# The test harness runs scripts with $(SHELL), which may be dash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu

builddir=${HS_BUILDDIR:-.}
lib=${HUGESLAB_LIB:-$builddir/.libs/libhugeslab.so}
linked=$builddir/test/death/misuse
plain=$builddir/test/death/misuse-plain

for f in "$linked" "$plain"; do
  if [ ! -x "$f" ]; then
    echo "FAIL: $f is missing (build check_PROGRAMS first)"
    exit 1
  fi
done
if [ ! -f "$lib" ]; then
  echo "FAIL: library $lib is missing"
  exit 1
fi

# No core files from a few dozen deliberate aborts.
ulimit -c 0 || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hs-death.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# case | call | reason (an extended regex)
cases='
double_free|free|double free
delayed_double_free|free|double free
double_free_large|free|(double free|invalid pointer)
double_free_huge|free|(double free|invalid pointer)
unaligned_small|free|invalid pointer
interior_small|free|invalid pointer
unaligned_large|free|invalid pointer
interior_large|free|invalid pointer
interior_huge|free|invalid pointer
free_one|free|invalid pointer
free_wild|free|invalid pointer
free_mmap|free|invalid pointer
free_stack|free|invalid pointer
realloc_freed|realloc|(invalid pointer|double free)
realloc_freed_large|realloc|(invalid pointer|double free)
realloc_interior|realloc|invalid pointer
usable_interior|malloc_usable_size|invalid pointer
free_sized_wrong|free_sized|size mismatch
free_sized_larger_small|free_sized|size mismatch
free_sized_larger_large|free_sized|size mismatch
free_pool|free|pointer into a pool
free_sealed_pool|free|pointer into a pool
realloc_pool|realloc|pointer into a pool
destroy_not_pool|hs_pool_destroy|invalid pool
abort_noalloc|free|double free
abort_threads|free|double free
abort_in_atfork|free|double free
write_after_free_small|malloc|write after free|hardened
write_after_free_large|malloc|write after free|hardened
overflow_small|free|heap overflow|hardened
overflow_large|free|heap overflow|hardened
overflow_huge|free|heap overflow|hardened
overflow_realloc|realloc|heap overflow|hardened
overflow_usable|malloc_usable_size|heap overflow|hardened
overflow_free_sized|free_sized|heap overflow|hardened
'

# The program's own list must match this table, so a case added to one and
# not the other is noticed.
listed=$("$linked" --list | sort)
tabled=$(printf '%s\n' "$cases" | sed -n 's/^\([a-z_]*\)|.*/\1/p' | sort)
if [ "$listed" != "$tabled" ]; then
  echo "FAIL: cases in misuse.c and run.sh differ:"
  diff <(printf '%s\n' "$listed") <(printf '%s\n' "$tabled") || true
  exit 1
fi

failures=0

# check NAME MODE STATUS CALL REASON: judge one finished run.
check() {
  local name=$1 mode=$2 status=$3 call=$4 reason=$5
  local why='' lines line want got
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    why="timed out after 10 s (hang in the abort path?)"
  elif [ "$status" -ne 134 ]; then
    why="exit status $status, want 134 (SIGABRT)"
  fi
  lines=$(wc -l <"$tmp/err")
  line=$(head -n 1 "$tmp/err")
  if [ -z "$why" ] && [ "$lines" -ne 1 ]; then
    why="stderr has $lines lines, want exactly 1"
  fi
  if [ -z "$why" ] && ! printf '%s\n' "$line" |
      grep -Eq "^hugeslab: $call\\(\\): $reason 0x[0-9a-f]+\$"; then
    why="stderr line does not match 'hugeslab: $call(): $reason 0x...'"
  fi
  if [ -z "$why" ]; then
    want=$(tail -n 1 "$tmp/out")
    got=${line##* }
    if ! [[ $want =~ ^0x[0-9a-f]+$ ]]; then
      why="program printed no pointer before the misuse (stdout: '$want')"
    elif (( 16#${got#0x} != 16#${want#0x} )); then
      why="reported pointer $got, the misused pointer was $want"
    fi
  fi
  if [ -z "$why" ]; then
    echo "PASS: $name ($mode)"
  else
    echo "FAIL: $name ($mode): $why"
    sed 's/^/    stderr: /' "$tmp/err" | head -n 5
    failures=$((failures + 1))
  fi
}

# Every case runs in the default mode, unless a last field "hardened" says
# it is found only in hardened mode, and in hardened mode (HUGESLAB_CONF=hardened:true),
# which detects all the default mode does with the same line.
while IFS='|' read -r name call reason; do
  [ -n "$name" ] || continue
  only=
  if [[ $reason == *'|hardened' ]]; then
    only=hardened
    reason=${reason%|hardened}
  fi
  for conf in "" hardened:true; do
    [ "$only" = hardened ] && [ -z "$conf" ] && continue
    mode=${conf%%:*}
    mode=${mode:-default}
    # The braces with 2>/dev/null silence bash's own "Aborted" job report.
    status=0
    { timeout -k 2 10 env HUGESLAB_CONF="$conf" "$linked" "$name" >"$tmp/out" 2>"$tmp/err"; } \
      2>/dev/null || status=$?
    check "$name" "linked, $mode" "$status" "$call" "$reason"
    status=0
    { timeout -k 2 10 env HUGESLAB_CONF="$conf" LD_PRELOAD="$lib" "$plain" "$name" \
      >"$tmp/out" 2>"$tmp/err"; } 2>/dev/null || status=$?
    check "$name" "preload, $mode" "$status" "$call" "$reason"
  done
done <<EOF
$cases
EOF

if [ "$failures" -ne 0 ]; then
  echo "$failures death-test run(s) failed"
  exit 1
fi
echo "all death tests passed"
