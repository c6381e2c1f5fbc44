#!/bin/bash
# test/peers/glibc.sh: `make check-glibc`.  glibc 2.36's own malloc tests
# (malloc/tst-*.c of Debian's glibc source package) run against hugeslab.
#
# Why: those tests encode what programs may rely on from the malloc family
# (errno on failure, overflow checks, alignment, realloc semantics, fork and
# signal safety, thread exit, no leaks across 100000 threads, ...).  They
# are written against glibc's test driver (support/), so we build them out
# of the glibc tree: support/*.c goes into a static libsupport.a, a few
# glibc-internal headers the tests include are replaced by our own shims
# (test/peers/glibc-shim/), and everything links against the SYSTEM glibc.
#
# Each test runs in two modes:
#   linked   built with -lhugeslab (rpath to the build tree)
#   preload  built against nothing of ours, run with LD_PRELOAD=$HUGESLAB_LIB
# and both must prove hugeslab was in the process: HUGESLAB_CONF=stats:1
# makes it print its report at exit ("hugeslab 0.1.0 (thp: ...)"), which the
# glibc test driver's supervising process always does (the test itself runs
# in a child the driver forks, so it has the same mappings).
# A third mode, glibc, runs the plain builds with no preload at all (glibc's
# own malloc) to show the harness itself is right: everything must pass
# there.  HS_PEER_MODES picks the modes (default "linked preload"); the
# glibc mode writes its results under out/glibc-baseline/.
#
# Tests listed in test/peers/glibc-excluded.txt (they observe glibc's own
# internals) are not built and are reported as SKIP, with the reason.
#
# Environment: HUGESLAB_LIB, HS_BUILDDIR, HS_SRCDIR (from the make target);
# optional HS_PEER_CACHE (source and build cache), HS_PEER_MODES,
# HS_PEER_TESTS (a space-separated subset to run), HS_PEER_JOBS (parallel
# compiles, default 2), TIMEOUTFACTOR (glibc's driver scales each test's
# own timeout by it; default 1, as in glibc: tst-mallocfork2 and
# tst-mallocfork3 need about 45 s of their 100 s on 2 idle cores, with
# glibc's malloc as with ours, so raise it on a loaded machine).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
modes=${HS_PEER_MODES:-linked preload}
outname=glibc
[ "$modes" = glibc ] && outname=glibc-baseline
peer_init glibc "$outname"
jobs=${HS_PEER_JOBS:-2}
factor=${TIMEOUTFACTOR:-1}

peer_install gcc libc6-dev binutils coreutils || exit 1
# Match the source to the installed libc6, so tests and headers agree.
libc_version=$(dpkg-query -W -f='${source:Version}' libc6 2>/dev/null)
src=$(bash "$here/source.sh" glibc "$libc_version") || { echo "check-glibc: cannot fetch the glibc source"; exit 1; }
[ -f "$src/malloc/Makefile" ] || { echo "check-glibc: $src has no malloc/Makefile"; exit 1; }

# ---- what to run -----------------------------------------------------------
# A test is what glibc's malloc/Makefile calls one: every name in its tests,
# tests-static, tests-internal and test-srcs lists (conditionals ignored:
# the exclusion list decides).  Helpers such as tst-interpose-aux.c are not
# in those lists.
all_tests=$(awk '{ while (sub(/\\$/, "")) { if ((getline nx) <= 0) break; $0 = $0 " " nx } }
  /^(tests|tests-static|tests-internal|test-srcs)[ \t]*[:+]?=/ {
    sub(/^[^=]*=/, ""); for (i = 1; i <= NF; i++) if ($i !~ /\$/) print $i }' \
  "$src/malloc/Makefile" | sort -u)
declare -A excluded=()
while IFS= read -r line; do
  case $line in ''|'#'*) continue ;; esac
  excluded[${line%%:*}]=${line#*: }
done <"$here/glibc-excluded.txt"
if [ -n "${HS_PEER_TESTS:-}" ]; then
  all_tests=$(printf '%s\n' $HS_PEER_TESTS)
fi

# Per-test particulars, from malloc/Makefile.
#  - tst-malloc-check: its -ENV is MALLOC_CHECK_=3 plus glibc's
#    libc_malloc_debug.so preloaded.  The test's checks are plain API ones
#    (ENOMEM, a failed realloc keeps the block), so it runs everywhere with
#    MALLOC_CHECK_=3 (which hugeslab ignores); only the glibc baseline also
#    preloads libc_malloc_debug.so, exactly as glibc runs it (preloading it
#    with hugeslab would put glibc's debugging malloc in front of ours).
#  - tst-interpose-*: glibc links them with tst-interpose-aux-*.o, a tiny
#    mmap-based malloc, to check that a malloc interposed over libc's is
#    used by libc itself (getline, fopen) and that brk never moves.  With
#    hugeslab, hugeslab is that interposed malloc: linked and preload builds
#    leave the aux object out; the glibc baseline keeps it, as glibc does.
#  - tst-interpose-static-*: the same, in a static executable: "linked"
#    links libhugeslab.a statically; "preload" cannot apply (SKIP).
declare -A env_all=( [tst-malloc-check]="MALLOC_CHECK_=3" )
declare -A env_glibc=( [tst-malloc-check]="LD_PRELOAD=libc_malloc_debug.so.0" )
aux_of() {
  case $1 in
    tst-interpose-nothread|tst-interpose-static-nothread) echo tst-interpose-aux-nothread ;;
    tst-interpose-thread|tst-interpose-static-thread) echo tst-interpose-aux-thread ;;
  esac
}
is_static() { case $1 in tst-interpose-static-*) return 0 ;; esac; return 1; }

# ---- build (cached) --------------------------------------------------------
# Objects and libsupport.a do not depend on hugeslab, so they live in the
# cache, keyed by everything that goes into them; only the final links (a
# second or two) happen in the build tree.
CC=${CC:-gcc}
recipe=1   # bump when the compile recipe below changes
cflags="-std=gnu11 -O2 -g -D_GNU_SOURCE -pthread"
key=$( { echo "$recipe $cflags"; $CC --version | head -n1; cat "$src/../.unpacked";
         cat "$here"/glibc-shim/*.h; } | sha1sum | cut -c1-12)
bdir=$peer_cache/build/glibc-$key
mkdir -p "$bdir"
exec 8>"$bdir.lock"; flock 8

# <support/...> and <malloc/...> must resolve into the glibc source, but the
# source root cannot go on the include path: its bits/, include/ etc. would
# shadow the system headers.  So the include dir holds two symlinks.
mkdir -p "$bdir/inc" "$bdir/sup" "$bdir/obj"
ln -sfn "$src/support" "$bdir/inc/support"
ln -sfn "$src/malloc" "$bdir/inc/malloc"
inc="-I$here/glibc-shim -I$bdir/inc"

build_support() {
  # Every routine of glibc's libsupport (the list in support/Makefile).  A
  # few need more of glibc's internals (stack layout, time64 sockets) and
  # do not compile out of tree; no malloc test uses them, and a test that
  # did would fail to link and be reported as FAIL.
  local routines r p=/nonexistent
  routines=$(awk '{ while (sub(/\\$/, "")) { if ((getline nx) <= 0) break; $0 = $0 " " nx } }
    /^libsupport-routines[ \t]*[:+]?=/ { sub(/^[^=]*=/, ""); print }' "$src/support/Makefile")
  # glibc's build passes these (config.h and support/Makefile); the paths
  # no malloc test uses point nowhere.
  local sflags=(-DTIMEOUTFACTOR=1 -include limits.h -I"$src/support"
    -DSRCDIR_PATH="\"$src\"" -DOBJDIR_PATH="\"$bdir\"" -DOBJDIR_ELF_LDSO_PATH="\"$p\""
    -DINSTDIR_PATH='"/usr"' -DLIBDIR_PATH="\"$p\"" -DBINDIR_PATH='"/usr/bin"'
    -DSBINDIR_PATH='"/usr/sbin"' -DSLIBDIR_PATH="\"$p\"" -DROOTSBINDIR_PATH='"/sbin"'
    -DCOMPLOCALEDIR_PATH="\"$p\"")
  for r in $routines; do
    [ -f "$bdir/sup/$r.o" ] && continue
    peer_throttle "$jobs"
    ( nice -n 10 "$CC" $cflags "${sflags[@]}" $inc -c "$src/support/$r.c" -o "$bdir/sup/$r.o.tmp" \
        >"$bdir/sup/$r.err" 2>&1 && mv "$bdir/sup/$r.o.tmp" "$bdir/sup/$r.o" ) &
  done
  wait
  rm -f "$bdir/sup"/*.tmp "$bdir/libsupport.a"
  ar rcs "$bdir/libsupport.a" "$bdir"/sup/*.o
  local bad; bad=$(for r in $routines; do [ -f "$bdir/sup/$r.o" ] || echo "$r"; done | tr '\n' ' ')
  echo "check-glibc: libsupport.a built in $bdir (not compiled out of tree: ${bad:-none})" >&2
}
[ -f "$bdir/libsupport.a" ] || build_support

compile_test() {  # NAME: obj/NAME.o (and obj/NAME.err on failure)
  local t=$1 f="$src/malloc/$1.c"
  [ -f "$bdir/obj/$t.o" ] && return 0
  [ -f "$f" ] || { echo "no source $f" >"$bdir/obj/$t.err"; return 1; }
  # -DTEST_NO_MALLOPT: glibc compiles its malloc tests with it (the driver
  # would otherwise call mallopt (M_PERTURB)).
  ( cd "$src/malloc" && nice -n 10 "$CC" $cflags -DTEST_NO_MALLOPT $inc -c "$f" \
      -o "$bdir/obj/$t.o.tmp" ) >"$bdir/obj/$t.err" 2>&1 &&
    mv "$bdir/obj/$t.o.tmp" "$bdir/obj/$t.o"
}

run_list=()
for t in $all_tests; do
  [ -n "${excluded[$t]:-}" ] && continue
  run_list+=("$t")
done
objs=()
for t in "${run_list[@]}"; do
  objs+=("$t")
  a=$(aux_of "$t"); [ -n "$a" ] && objs+=("$a")
done
for t in $(printf '%s\n' "${objs[@]}" | sort -u); do
  peer_throttle "$jobs"
  compile_test "$t" &
done
wait
flock -u 8

# Links, into the build tree.
bin=$peer_out/bin
mkdir -p "$bin"
libdir=$HS_BUILDDIR/.libs
link() {  # NAME MODE: prints the binary's path, or fails with NAME.MODE.build
  local t=$1 mode=$2 out extra=() a
  local blog=$peer_out/$t.$mode.build
  [ -f "$bdir/obj/$t.o" ] || { cat "$bdir/obj/$t.err" >"$blog" 2>/dev/null; return 1; }
  a=$(aux_of "$t")
  case $mode in
    linked)
      if is_static "$t"; then
        # The archive's own dependencies, as libtool recorded them (the C++
        # operator new/delete in it also need libstdc++).
        local deps
        deps=$(sed -n "s/^dependency_libs='\(.*\)'/\1/p" "$HS_BUILDDIR/libhugeslab.la" 2>/dev/null)
        extra=(-static "$libdir/libhugeslab.a" ${deps:--lpthread} -lstdc++)
      else
        extra=(-Wl,--no-as-needed -L"$libdir" -lhugeslab -Wl,-rpath,"$libdir")
      fi ;;
    preload) is_static "$t" && extra=(-static) ;;
    glibc)
      [ -n "$a" ] && extra=("$bdir/obj/$a.o")
      is_static "$t" && extra+=(-static) ;;
  esac
  out=$bin/$t-$mode
  nice -n 10 "$CC" -pthread -o "$out" "$bdir/obj/$t.o" "${extra[@]}" "$bdir/libsupport.a" \
    >"$blog" 2>&1 || return 1
  rm -f "$blog"
  echo "$out"
}

# ---- run -------------------------------------------------------------------
tmproot=$(mktemp -d "${TMPDIR:-/tmp}/hs-check-glibc.XXXXXX")
trap 'rm -rf "$tmproot"' EXIT

run_one() {  # NAME MODE
  local t=$1 mode=$2 exe log rc tmo start el
  log=$peer_out/$t.$mode.log
  if [ "$mode" = preload ] && is_static "$t"; then
    echo "static executable: LD_PRELOAD cannot apply" >"$log"
    peer_result "$t" "$mode" SKIP "$log"; return
  fi
  if ! exe=$(link "$t" "$mode"); then
    { echo "build failed:"; cat "$peer_out/$t.$mode.build"; } >"$log"
    rm -f "$peer_out/$t.$mode.build"
    peer_result "$t" "$mode" FAIL "$log"; return
  fi
  # The driver's own timeout is TIMEOUT (default 20 s) times TIMEOUTFACTOR;
  # ours, outside it, catches a hang of the driver itself (or of mallocbug,
  # which has no driver).  It sends SIGINT first: on SIGINT the driver
  # kills the test's process group (the test runs in a group of its own,
  # which a plain kill of the driver would leave behind).
  tmo=$(sed -n 's/^#define TIMEOUT \([0-9]*\).*/\1/p' "$src/malloc/$t.c" | head -n1)
  tmo=$(( ${tmo:-20} * factor + 30 ))
  local env=(TIMEOUTFACTOR="$factor" TMPDIR="$tmproot/$t.$mode")
  [ -n "${env_all[$t]:-}" ] && env+=(${env_all[$t]})
  case $mode in
    linked) env+=(HUGESLAB_CONF="${HUGESLAB_CONF:+$HUGESLAB_CONF,}stats:1") ;;
    preload) env+=(LD_PRELOAD="$HUGESLAB_LIB" HUGESLAB_CONF="${HUGESLAB_CONF:+$HUGESLAB_CONF,}stats:1") ;;
    glibc) [ -n "${env_glibc[$t]:-}" ] && env+=(${env_glibc[$t]}) ;;
  esac
  mkdir -p "$tmproot/$t.$mode"
  {
    echo "# $mode: ${env[*]} $exe"
    start=$(date +%s)
    ( cd "$tmproot/$t.$mode" &&
      exec env -u LD_PRELOAD -u HUGESLAB_CONF timeout -s INT -k 5 "$tmo" env "${env[@]}" "$exe" ) 2>&1
    rc=$?
    el=$(( $(date +%s) - start ))
    echo "# exit status $rc after ${el}s"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo "# killed by the harness timeout (${tmo}s)"; fi
  } >"$log" 2>&1
  rc=$(sed -n 's/^# exit status \([0-9]*\) after.*/\1/p' "$log" | tail -n1)
  local res=PASS why=""
  if [ "$rc" = 77 ]; then
    res=SKIP why="unsupported (exit status 77)"
  elif [ "$rc" != 0 ]; then
    res=FAIL why="exit status $rc"
  elif grep -q '^FAIL: ' "$log"; then
    res=FAIL why="the test printed FAIL"  # mallocbug reports this way
  elif [ "$mode" = glibc ] && peer_proven "$log"; then
    res=FAIL why="the glibc baseline ran on hugeslab"
  elif [ "$mode" != glibc ] && ! peer_proven "$log"; then
    res=FAIL why="no hugeslab report: not proven to run on hugeslab"
  fi
  [ -n "$why" ] && echo "# $res: $why" >>"$log"
  peer_result "$t" "$mode" "$res" "$log"
}

for t in $all_tests; do
  for mode in $modes; do
    if [ -n "${excluded[$t]:-}" ]; then
      echo "excluded: ${excluded[$t]}" >"$peer_out/$t.$mode.log"
      peer_result "$t" "$mode" SKIP "$peer_out/$t.$mode.log"
    else
      run_one "$t" "$mode"
    fi
  done
done
peer_summary
