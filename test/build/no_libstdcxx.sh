#!/bin/bash
# The built library needs nothing but libc at run time: api_new.cc reaches
# the C++ runtime only through weak references (bound in C++ programs, null
# in C ones), so a C program pays nothing for operator new.
#  - readelf -d $HUGESLAB_LIB: every NEEDED is glibc's own (libc.so.6; on a
#    glibc older than 2.34 also libpthread.so.0, libdl.so.2); libstdc++,
#    libgcc_s, libm or anything else fails. ldd must not show libstdc++ or
#    libgcc_s either (nothing reaches them indirectly).
#  - peak RSS (VmHWM) of rss_probe, a C program, plain (glibc) and under
#    LD_PRELOAD, median of 5 interleaved runs each. Mode "none" (allocates
#    nothing, like true(1): the cost of loading the library) fails above
#    glibc + 256 KiB. Mode "malloc" (one malloc first: the allocator's
#    first-use set-up too) and /usr/bin/time of true(1), where present, are
#    logged, not judged.
# Exit 0 pass, 77 skip (no readelf), 1 fail. Run alone:
#   HUGESLAB_LIB=/abs/.libs/libhugeslab.so HS_BUILDDIR=/abs/builddir bash THIS
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

builddir=${HS_BUILDDIR:-.}
lib=${HUGESLAB_LIB:-$builddir/.libs/libhugeslab.so}
probe=$builddir/test/build/rss_probe
limit_kib=256
runs=5

command -v readelf >/dev/null 2>&1 || { echo "SKIP: readelf not installed"; exit 77; }
[ -f "$lib" ] || { echo "FAIL: library $lib is missing"; exit 1; }
[ -x "$probe" ] || { echo "FAIL: $probe is missing (build check_PROGRAMS first)"; exit 1; }
fail=0

needed=$(readelf -dW "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
echo "NEEDED: $(echo $needed)"
[ -n "$needed" ] || { echo "FAIL: readelf -d lists no NEEDED at all"; fail=1; }
for n in $needed; do
  case $n in
    libc.so.6 | libpthread.so.0 | libdl.so.2) ;;
    *) echo "FAIL: NEEDED $n (only glibc may be needed)"; fail=1 ;;
  esac
done
if command -v ldd >/dev/null 2>&1; then
  if ldd "$lib" | grep -E 'libstdc\+\+|libgcc_s'; then
    echo "FAIL: ldd shows a C++ runtime library"; fail=1
  fi
fi

# median VALUES...: of an odd number of integers.
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

# hwm MODE PRELOAD: one run of the probe; prints VmHWM in KiB, or nothing
# (with a FAIL line) if the run failed or hugeslab was not where it should be.
hwm() {
  local out want=0
  [ -n "$2" ] && want=1
  if ! out=$(env ${2:+LD_PRELOAD="$2"} "$probe" "$1"); then
    echo "FAIL: rss_probe $1 (LD_PRELOAD='$2') failed" >&2; return 1
  fi
  if ! grep -qx "hugeslab $want" <<<"$out"; then
    echo "FAIL: rss_probe $1 (LD_PRELOAD='$2'): hugeslab mapped should be $want: $out" >&2; return 1
  fi
  sed -n 's/^VmHWM \([0-9]*\)$/\1/p' <<<"$out"
}

for mode in none malloc; do
  glibc=() ours=()
  for ((i = 0; i < runs; i++)); do
    g=$(hwm "$mode" '') || { fail=1; continue 2; }
    h=$(hwm "$mode" "$lib") || { fail=1; continue 2; }
    glibc+=("$g") ours+=("$h")
  done
  mg=$(median "${glibc[@]}") mh=$(median "${ours[@]}")
  echo "rss_probe $mode: VmHWM glibc ${glibc[*]} (median $mg KiB), hugeslab ${ours[*]} (median $mh KiB), difference $((mh - mg)) KiB"
  if [ "$mode" = none ] && [ "$mh" -gt $((mg + limit_kib)) ]; then
    echo "FAIL: loading hugeslab costs $((mh - mg)) KiB of peak RSS, more than $limit_kib KiB"
    fail=1
  fi
done

if [ -x /usr/bin/time ] && command -v true >/dev/null 2>&1; then
  tg=() th=()
  for ((i = 0; i < runs; i++)); do
    tg+=("$( { /usr/bin/time -f %M true; } 2>&1)")
    th+=("$( { LD_PRELOAD="$lib" /usr/bin/time -f %M true; } 2>&1)")
  done
  echo "true (/usr/bin/time %M): glibc ${tg[*]} (median $(median "${tg[@]}") KiB), hugeslab ${th[*]} (median $(median "${th[@]}") KiB)"
fi
exit "$fail"
