#!/bin/bash
# make fuzz [FUZZ_SECONDS=N] [FUZZ_JOBS=J] [FUZZ_MERGE=1]: libFuzzer over the
# allocator's API (test/fuzz/harness.c).
#
# Builds a copy of the library from `make distdir` with Debian's clang,
# configured --with-symbol-prefix=hs_test_ (so that libFuzzer's and ASan's
# own malloc stay theirs) and compiled with -fsanitize=address,undefined and
# the fuzzer's coverage instrumentation, static (clang's ASan runtime is not
# linked into shared libraries), and links the harness to it. The run starts
# from the kept corpus (test/fuzz/corpus, replayed in make check by
# corpus.sh) and writes what it finds under $builddir/fuzz/corpus; a crash
# leaves its input in $builddir/fuzz/ (crash-*) and fails the target.
# FUZZ_MERGE=1 then merges the inputs that add coverage into
# test/fuzz/corpus, to be committed with the fix they prove.
# Closing line: executions, coverage (edges, features), corpus, time.
set -u
: "${HS_BUILDDIR:?HS_BUILDDIR must be the absolute build directory}"
: "${HS_SRCDIR:?HS_SRCDIR must be the absolute source directory}"
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
. "$HS_SRCDIR/test/peers/lib.sh"
peer_install clang libclang-rt-14-dev || exit 1
prefix=hs_test_
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
work=$HS_BUILDDIR/fuzz
mkdir -p "$work"
rm -rf "$work/src"
blog=$work/build.log
{
  ${MAKE:-make} -C "$HS_BUILDDIR" distdir distdir="$work/src" &&
    cd "$work/src" &&
    ./configure -q CC=clang --with-symbol-prefix=$prefix --disable-shared --enable-static \
      CFLAGS="-O1 -g $san -fsanitize=fuzzer-no-link" &&
    ${MAKE:-make} -j"$(nproc)" libhugeslab.la &&
    clang -O1 -g $san -fsanitize=fuzzer -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
      -include src/prefix.h -I. -Iinclude -Isrc -Itest/common test/fuzz/harness.c .libs/libhugeslab.a \
      -o "$work/harness"
} >"$blog" 2>&1 || { tail -n 30 "$blog"; echo "fuzz: the build failed (see $blog)"; exit 1; }

mkdir -p "$work/corpus"
export ASAN_OPTIONS="handle_segv=1:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$work" || exit 1
rm -f crash-* timeout-* oom-* leak-*
log=$work/fuzz.log
t0=$(date +%s)
# -rss_limit_mb: ASan's shadow and quarantine plus a heap of up to 64
# blocks of 3.5 MiB; -timeout: one input's calls take milliseconds.
parallel=()
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
./harness -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -max_len=4096 \
  -print_final_stats=1 ${parallel[@]+"${parallel[@]}"} "$work/corpus" "$HS_SRCDIR/test/fuzz/corpus" >"$log" 2>&1
rc=$?
t=$(( $(date +%s) - t0 ))
[ "$jobs" -gt 1 ] && cat fuzz-*.log >>"$log" 2>/dev/null
last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{s += $2} END {print s + 0}')
cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | awk '{print $2}')
ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | awk '{print $2}')
corp=$(echo "$last" | grep -oE 'corp: [0-9]+/[0-9a-zA-Z]+' | awk '{print $2}')
if [ $rc -ne 0 ] || ls crash-* timeout-* oom-* leak-* >/dev/null 2>&1; then
  grep -E 'ERROR|fuzz:|runtime error|SUMMARY|Test unit written' "$log" | head -n 20
  echo "fuzz: FAILED after ${t}s (exit $rc); the input is in $work (crash-*), the log $log"
  exit 1
fi
if [ "${FUZZ_MERGE:-0}" = 1 ]; then
  ./harness -merge=1 -max_len=4096 "$HS_SRCDIR/test/fuzz/corpus" "$work/corpus" >>"$log" 2>&1 ||
    { echo "fuzz: merging into test/fuzz/corpus failed (see $log)"; exit 1; }
  echo "fuzz: test/fuzz/corpus now holds $(ls "$HS_SRCDIR/test/fuzz/corpus" | wc -l) inputs"
fi
echo "fuzz: clean: ${execs} executions in ${t}s, coverage ${cov:-?} edges, ${ft:-?} features, corpus ${corp:-?} (inputs/bytes)"
