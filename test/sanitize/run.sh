#!/bin/bash
# make check-asan / make check-tsan: hugeslab's own code under the sanitizers.
#
# ASan and TSan replace malloc themselves, so they cannot watch a malloc
# replacement that takes malloc's name. This builds a second copy of the
# library from `make distdir`, configured --with-symbol-prefix=hs_test_ and
# compiled with -fsanitize=address,undefined (asan) or -fsanitize=thread
# (tsan): it exports hs_test_malloc, hs_test_free, ... (src/prefix.h) and
# the test programs, compiled with src/prefix.h forced in, call those, while
# the process's malloc (libc's own allocations) stays the sanitizer's. Then
# the api, thread and fork test programs (C; the C++ ones test operators a
# prefixed build cannot export) run against it, each passing its own checks
# with zero sanitizer reports. A test whose subject is what a prefixed build
# or the sanitizer changes by design is skipped, with its reason.
#
# Usage: run.sh asan|tsan TESTS...   (make's TESTS; results are counted by
# scripts/check from test/peers/out/sanitize-MODE/*.trs, test/peers/lib.sh)
set -u
mode=$1
shift
. "${HS_SRCDIR:?HS_SRCDIR must be the absolute source directory}/test/peers/lib.sh"
peer_init "$mode" "sanitize-$mode"
prefix=hs_test_

declare -A skip=(
  [test/api/intro_interpose]="checks that libc's own allocations (strdup, getline, ...) reach hugeslab; a prefixed build leaves them to the sanitizer's malloc by design"
  [test/api/intro_dlopen]="dlopens libhugeslab.so and looks up its unprefixed names"
  [test/api/static_link]="a static binary: the sanitizer runtimes are shared libraries"
)
case $mode in
  asan)
    san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    # handle_segv=0: the pool tests expect a plain SIGSEGV from a write to a
    # sealed pool; a real wild access still kills the test.
    export ASAN_OPTIONS="handle_segv=0:handle_sigbus=0:detect_leaks=1:halt_on_error=1:exitcode=66"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    skip+=(
      [test/thread/exit_leak]="RSS over 100000 thread exits, which ASan's own per-thread state raises"
      [test/thread/tsd_dtor]="RSS over 4000 thread exits, which ASan's own per-thread state raises"
    )
    ;;
  tsan)
    san="-fsanitize=thread"
    export TSAN_OPTIONS="handle_segv=0:handle_sigbus=0:die_after_fork=0:halt_on_error=0:exitcode=66"
    skip+=(
      [test/thread/exit_leak]="RSS over 100000 thread exits, which TSan's own per-thread state raises"
      [test/thread/tsd_dtor]="RSS over 4000 thread exits, which TSan's own per-thread state raises"
      [test/api/core_basic]="maps regions up to vm.max_map_count, after which TSan's own shadow mappings fail"
      [test/fork/cow]="measures the child's Private_Dirty, which TSan's shadow memory (written on every access) raises"
      [test/fork/parent_fresh]="measures the child's Private_Dirty, which TSan's shadow memory (written on every access) raises"
      [test/fork/child_usable]="starts threads in the child of a multi-threaded parent, which TSan does not support (\"dup thread with used id\")"
      [test/fork/signal_fork]="forks in a signal handler, where TSan reports ld.so's TLS allocation for the new thread state (glibc's calloc, not ours) as signal-unsafe"
    )
    ;;
  *) echo "run.sh: mode must be asan or tsan" >&2; exit 2 ;;
esac

programs=()
for t in "$@"; do
  case $t in *.sh) continue ;; test/api/* | test/thread/* | test/fork/*) ;; *) continue ;; esac
  [ -f "$HS_SRCDIR/$t.c" ] || continue # C++ programs: see above
  if [ -n "${skip[$t]:-}" ]; then
    peer_result "$(peer_program_name "$t")" "$mode" SKIP
    echo "  ($t: ${skip[$t]})"
    continue
  fi
  programs+=("$t")
done

# ---- the prefixed, sanitized build ----
work=$HS_BUILDDIR/sanitize/$mode
rm -rf "$work"
mkdir -p "$work"
blog=$peer_out/build.$mode.log
{
  ${MAKE:-make} -C "$HS_BUILDDIR" distdir distdir="$work/src" &&
    cd "$work/src" &&
    ./configure -q --with-symbol-prefix=$prefix --disable-static CFLAGS="-O1 -g $san" LDFLAGS="$san" &&
    ${MAKE:-make} -j"$(nproc)" libhugeslab.la "${programs[@]}"
} >"$blog" 2>&1
if [ $? -ne 0 ]; then
  tail -n 30 "$blog"
  peer_result build "$mode" ERROR "$blog"
  peer_summary
  exit 1
fi
cd "$work/src" || exit 1

# ---- exports: exactly the names of src/prefix.h, each with the prefix ----
elog=$peer_out/exports.tmp
listed=$(sed -nE 's/^#define ([a-z_0-9]+) HS_PREFIXED\(\1\)$/\1/p' src/prefix.h | sort)
exported=$(nm -D --defined-only .libs/libhugeslab.so | awk '$2 ~ /^[TWiV]$/ {print $3}' | sort)
expected=$(for n in $listed; do echo "$prefix$n"; done | sort)
# The normal build exports the same names unprefixed, plus glibc's
# __libc_* entry points and the C++ operators only.
plain=$(nm -D --defined-only "$HUGESLAB_LIB" | awk '$2 ~ /^[TWiV]$/ {print $3}' |
  grep -vE '^(__libc_[a-z_]+|_Z.*)$' | sort)
# And the copy is the sanitized one: it calls the sanitizer's runtime.
case $mode in asan) hook=__asan_report_load8 ;; tsan) hook=__tsan_read8 ;; esac
instrumented=$(nm -D --undefined-only .libs/libhugeslab.so | grep -c " $hook\$")
if [ "$exported" = "$expected" ] && [ "$plain" = "$listed" ] && [ "$instrumented" = 1 ]; then
  echo "exports: $(echo "$exported" | wc -l) names, each prefixed $prefix, as listed in src/prefix.h" >"$elog"
  peer_result exports "$mode" PASS "$elog"
else
  {
    [ "$instrumented" = 1 ] || echo "the prefixed build does not call $hook: not compiled with $san"
    echo "prefixed build exports, against src/prefix.h with the prefix:"
    diff <(echo "$expected") <(echo "$exported")
    echo "normal build exports (no __libc_*, no C++), against src/prefix.h:"
    diff <(echo "$listed") <(echo "$plain")
  } >"$elog"
  cat "$elog"
  peer_result exports "$mode" FAIL "$elog"
fi

# ---- the test programs ----
reports='runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|SUMMARY: [A-Za-z]*Sanitizer'
for t in "${programs[@]}"; do
  log=$peer_out/run.tmp
  timeout 600 "./$t" >"$log" 2>&1
  res=$(peer_verdict $? "$log" "$reports")
  peer_result "$(peer_program_name "$t")" "$mode" "$res" "$log"
done
peer_summary
