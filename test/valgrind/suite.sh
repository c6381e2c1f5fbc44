#!/bin/bash
# make check-valgrind: the api and thread test programs (linked with
# -lhugeslab) run under memcheck, each with zero memcheck errors (leaks
# included) besides passing its own checks. Arguments: make's TESTS, of
# which the programs (not scripts) of test/api and test/thread are run.
# A test that measures what only the kernel's real paging can show (RSS,
# address-space limits, page sharing) is skipped, with its reason: under
# Valgrind the process's memory is Valgrind's.
set -u
build=${HS_BUILDDIR:-.}
command -v valgrind >/dev/null || { echo "check-valgrind: valgrind not installed"; exit 1; }
grep -q '^#define HAVE_VALGRIND_MEMCHECK_H 1' "$build/build-config.h" ||
  { echo "check-valgrind: built without valgrind/memcheck.h (no client requests)"; exit 1; }
declare -A skip=(
  [test/api/core_basic]="maps up to vm.max_map_count regions, more than Valgrind's segment table holds"
  [test/api/core_realloc]="checks in-place realloc, which Valgrind mode turns off by design (every realloc moves)"
  [test/api/intro_usable]="checks usable sizes of size classes; under Valgrind the usable size is the requested size"
  [test/api/first_call]="re-executes /proc/self/exe, which under Valgrind is Valgrind's tool"
  [test/api/intro_early]="re-executes /proc/self/exe, which under Valgrind is Valgrind's tool"
  [test/thread/tcache_gc]="checks that thread caches shed idle slots; under Valgrind there are no thread caches"
  [test/thread/exit_race]="a 60 s deadlock alarm, which Valgrind's serialised threads overrun"
  [test/api/rlimit]="sets RLIMIT_AS, which Valgrind's own mappings exceed"
  [test/api/overcommit]="strict overcommit accounting of our mappings"
  [test/api/core_too_large]="RLIMIT_AS of 2^50 bytes, beyond what Valgrind maps"
  [test/api/purge]="RSS after purging"
  [test/api/growth]="RSS and address-space growth"
  [test/api/pool]="pagemap sharing and VmSize of pools"
  [test/thread/many_small]="RSS per thread"
  [test/api/static_link]="a static binary: Valgrind cannot preload into it"
  [test/api/static_link_cxx]="a static binary: Valgrind cannot preload into it"
)
# Memcheck options of one test, with the reason.
declare -A extra=(
  # Its threads fork at once: each child inherits the others' blocks and
  # _exits, so the children leak by construction.
  [test/api/intro_interpose]="--leak-check=no"
)
vg=(valgrind -q --error-exitcode=99 --soname-synonyms=somalloc=nouserintercepts
    --leak-check=full --errors-for-leak-kinds=definite --child-silent-after-fork=yes)
pass=0 fail=0 skipped=0
log=$build/test/valgrind/suite.log
: >"$log"
for t in "$@"; do
  case $t in test/api/*.sh | test/thread/*.sh) continue ;; test/api/* | test/thread/*) ;; *) continue ;; esac
  if [ -n "${skip[$t]:-}" ]; then
    echo "SKIP: $t (${skip[$t]})"
    skipped=$((skipped + 1))
    continue
  fi
  ( cd "$build" && timeout 600 ./libtool --mode=execute "${vg[@]}" ${extra[$t]:-} "$t" ) >>"$log" 2>&1
  rc=$?
  case $rc in
    0) echo "PASS: $t"; pass=$((pass + 1)) ;;
    77) echo "SKIP: $t (the test skipped itself)"; skipped=$((skipped + 1)) ;;
    99) echo "FAIL: $t (memcheck errors; see $log)"; fail=$((fail + 1)) ;;
    *) echo "FAIL: $t (exit $rc; see $log)"; fail=$((fail + 1)) ;;
  esac
done
echo "check-valgrind: $pass passed, $fail failed, $skipped skipped"
[ $fail = 0 ]
