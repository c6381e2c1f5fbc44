#!/bin/bash
# test/peers/mimalloc.sh: `make check-mimalloc`.  mimalloc's own stress
# test (test/test-stress.c of Debian's mimalloc source package), built on
# the standard malloc API and run with hugeslab preloaded.
#
# Why: test-stress is an allocator torture test written by another
# allocator's authors: sizes spread over powers of two with some very large
# blocks, every block filled and checked again at free (so a block handed
# out twice, or overlapping another, aborts with "memory corruption"),
# pointers passed between threads through a shared array, and all threads
# ended and re-created each round with half the transferred blocks still
# live.  Its arguments are THREADS SCALE ITER; we run it with 2 and with 4
# threads (more threads than the 2 CI cores, so threads are preempted
# inside the allocator).
#
# A run passes when it exits 0 and hugeslab's exit report
# (HUGESLAB_CONF=stats:1) shows it ran on hugeslab.  HS_PEER_MODES=glibc
# runs the same without the preload, as a baseline (results under
# out/mimalloc-baseline/).  HS_MIMALLOC_RUNS overrides the runs, e.g.
# "2:200:300 4:100:300" (THREADS:SCALE:ITER each).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
modes=${HS_PEER_MODES:-preload}
outname=mimalloc
[ "$modes" = glibc ] && outname=mimalloc-baseline
peer_init mimalloc "$outname"
# The two runs together take about 25 s on hugeslab and 55 s on glibc's
# malloc, on 2 idle cores; peak RSS about 300 MB.
runs=${HS_MIMALLOC_RUNS:-2:200:300 4:100:300}
tmo=${HS_MIMALLOC_TIMEOUT:-300}

peer_install gcc libc6-dev coreutils || exit 1
src=$(bash "$here/source.sh" mimalloc) || { echo "check-mimalloc: cannot fetch the mimalloc source"; exit 1; }
[ -f "$src/test/test-stress.c" ] || { echo "check-mimalloc: $src has no test/test-stress.c"; exit 1; }

# Tiny build: done every time, into the build tree.  -DUSE_STD_MALLOC makes
# it call malloc/realloc/free instead of mi_*; NDEBUG stays undefined, as in
# mimalloc's own test build, so it prints its progress.
exe=$peer_out/bin/test-stress
mkdir -p "$peer_out/bin"
if ! nice -n 10 "${CC:-gcc}" -O2 -pthread -DUSE_STD_MALLOC -o "$exe" "$src/test/test-stress.c" \
    >"$peer_out/build.txt" 2>&1; then
  cat "$peer_out/build.txt"
  for r in $runs; do
    for mode in $modes; do
      cp "$peer_out/build.txt" "$peer_out/tmp.log"
      peer_result "test-stress-${r%%:*}t" "$mode" FAIL "$peer_out/tmp.log"
    done
  done
  peer_summary; exit 1
fi
rm -f "$peer_out/build.txt"

for r in $runs; do
  IFS=: read -r threads scale iter <<<"$r"
  name=test-stress-${threads}t
  for mode in $modes; do
    log=$peer_out/$name.$mode.log
    env=()
    [ "$mode" = preload ] &&
      env=(LD_PRELOAD="$HUGESLAB_LIB" HUGESLAB_CONF="${HUGESLAB_CONF:+$HUGESLAB_CONF,}stats:1")
    start=$(date +%s)
    {
      echo "# $mode: ${env[*]} $exe $threads $scale $iter"
      env -u LD_PRELOAD -u HUGESLAB_CONF timeout -k 5 "$tmo" env "${env[@]}" "$exe" "$threads" "$scale" "$iter" 2>&1
      rc=$?
      echo "# exit status $rc after $(( $(date +%s) - start ))s"
    } >"$log"
    rc=$(sed -n 's/^# exit status \([0-9]*\) after.*/\1/p' "$log" | tail -n1)
    res=PASS
    if [ "$rc" != 0 ]; then
      res=FAIL; echo "# FAIL: exit status $rc$( [ "$rc" = 124 ] && echo " (timed out after ${tmo}s)")" >>"$log"
    elif [ "$mode" = preload ] && ! peer_proven "$log"; then
      res=FAIL; echo "# FAIL: no hugeslab report: not proven to run on hugeslab" >>"$log"
    elif [ "$mode" = glibc ] && peer_proven "$log"; then
      res=FAIL; echo "# FAIL: the glibc baseline ran on hugeslab" >>"$log"
    fi
    peer_result "$name" "$mode" "$res" "$log"
    echo "  ($threads threads, scale $scale, $iter iterations: $(( $(date +%s) - start ))s)"
  done
done
peer_summary
