#!/bin/bash
# Under an address-space limit (ulimit -v: 32, 64 and 256 MiB), every program
# that runs with glibc's malloc runs with libhugeslab preloaded, with the
# same output and exit status: start-up reserves address space in step with
# the heap (no fixed GiB reservations), and a limit reached returns NULL,
# never an abort. The programs are ordinary ones (ls, sort, python3, perl,
# sqlite3, gzip) plus, at 256 MiB, this suite's own test programs (the
# test/api and test/thread -plain twins, which check themselves
# that the library is mapped; programs that set their own RLIMIT_AS or need
# more than the limit are left out by the same rule: whatever glibc fails,
# the comparison skips). A program whose glibc run fails is listed as
# skipped, not counted. Each preloaded run is proven to use the library:
# HUGESLAB_CONF=stats:1 prints hugeslab's report on stderr at exit.
#
# Also: a program that asks for more than the limit (python3 allocating
# 512 MiB under 256 MiB) fails cleanly with MemoryError in both.
#
# Run alone: HUGESLAB_LIB=/abs/libhugeslab.so HS_BUILDDIR=/abs/builddir bash THIS
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

: "${HUGESLAB_LIB:?HUGESLAB_LIB must be the absolute path of libhugeslab.so (make check sets it)}"
: "${HS_BUILDDIR:?HS_BUILDDIR must be the absolute build directory (make check sets it)}"
unset LD_PRELOAD HS_TEST_ANY_MALLOC HUGESLAB_CONF

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hs-rlimit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
seq 1 200000 | shuf --random-source=<(yes) >"$tmp/numbers"

# name|command (run by bash -c in $tmp); @N@ is the workload's size, scaled
# with the limit (see the loop below): at 32 MiB a program's own mappings
# (perl or python with their libraries: 15-20 MiB) leave a heap of a few
# MiB, and hugeslab needs a few MiB more than glibc for a small heap (2 MiB
# chunks, one slab per size class in use, and today libstdc++ mapped beside
# the library), so the workloads there are the small ones.
programs=(
  "ls|ls -la /usr/bin | wc -l"
  "sort|sort -n numbers | tail -3"
  "sort-parallel|sort --parallel=2 -S 8M -n numbers | md5sum"
  "python3|python3 -c 'import json; d={str(i): list(range(i % 50)) for i in range(@N@)}; print(len(json.dumps(d)))'"
  "perl|perl -e 'my %h; \$h{\$_} = \"x\" x (\$_ % 300) for 1..@N@; print scalar(keys %h), \"\\n\"'"
  "sqlite3|sqlite3 :memory: 'create table t(a,b); with recursive c(x) as (select 1 union all select x+1 from c where x<@N@) insert into t select x, hex(randomblob(40)) from c; select count(*), sum(length(b)) from t;'"
  "gzip|gzip -c numbers | gzip -d | md5sum"
  "python3-too-big|python3 -c 'import sys
try:
    b = bytearray(512 * 1024 * 1024)
except MemoryError:
    print(\"MemoryError\"); sys.exit(0)
print(\"granted\")'"
)

passed=0 failed=0 skipped=0
# run LIMIT_KIB NAME COMMAND [self-checking]: glibc first, then preloaded;
# compare. A self-checking test program is judged by its exit status alone
# (it prints what it found, which may name the library) and runs under glibc
# with HS_TEST_ANY_MALLOC=1, which lifts its check that hugeslab is mapped.
run() {
  local kib=$1 name=$2 cmd=$3 self=${4:-}
  local base="$tmp/$name.$kib"
  (cd "$tmp" && ulimit -v "$kib" && { [ -z "$self" ] || export HS_TEST_ANY_MALLOC=1; } &&
    exec timeout 120 bash -c "$cmd") >"$base.glibc.out" 2>"$base.glibc.err"
  local glibc_rc=$?
  (cd "$tmp" && ulimit -v "$kib" && export LD_PRELOAD="$HUGESLAB_LIB" HUGESLAB_CONF=stats:1 &&
    exec timeout 120 bash -c "$cmd") >"$base.hs.out" 2>"$base.hs.err"
  local hs_rc=$?
  local label="$name at $((kib / 1024)) MiB"
  if [ "$glibc_rc" -ne 0 ]; then
    echo "SKIP: $label (fails with glibc too: exit $glibc_rc)"
    skipped=$((skipped + 1))
    return
  fi
  if [ "$hs_rc" -ne 0 ] || { [ -z "$self" ] && ! cmp -s "$base.glibc.out" "$base.hs.out"; } ||
    ! grep -q '^hugeslab [0-9]' "$base.hs.err"; then
    echo "FAIL: $label: glibc exit 0, hugeslab exit $hs_rc"
    diff "$base.glibc.out" "$base.hs.out" | head -5
    grep -q '^hugeslab [0-9]' "$base.hs.err" || echo "  (no hugeslab report: the preload did not take effect)"
    grep -v '^  [a-z_]* = ' "$base.hs.err" | head -5
    failed=$((failed + 1))
    return
  fi
  echo "PASS: $label"
  passed=$((passed + 1))
}

for mib in 32 64 256; do
  case $mib in 32) n=1000 ;; 64) n=20000 ;; *) n=50000 ;; esac
  for entry in "${programs[@]}"; do
    cmd=${entry#*|}
    run $((mib * 1024)) "${entry%%|*}" "${cmd//@N@/$n}"
  done
done

# This suite's own test programs at 256 MiB: test/api and test/thread (the
# fork tests exercise locks, not address space, and take a minute; the
# alignment sweep core_align_random needs more than 256 MiB with glibc too).
for group in api thread; do
  while IFS= read -r prog; do
    case $prog in */core_align_random-plain) continue ;; esac
    run $((256 * 1024)) "$group-$(basename "$prog")" "'$prog'" self
  done < <(find "$HS_BUILDDIR/test/$group" -name .libs -prune -o -type f -name '*-plain' -perm -u+x -print | LC_ALL=C sort)
done

echo "rlimit.sh: $passed passed, $failed failed, $skipped skipped (glibc fails too)"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
