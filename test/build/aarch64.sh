#!/bin/bash
# The library cross-built for aarch64, and its unit and api tests run under
# qemu-user (README: "aarch64 kept building" -- this keeps it working too).
#
# Copies the sources to a scratch directory, configures them with
# --host=aarch64-linux-gnu, builds the library and the test/api and test/unit
# check programs (without running them through make), then runs under
# `qemu-aarch64 -L /usr/aarch64-linux-gnu`:
#   - every test/unit C program (sizeclass, freed_untouched, ...), and
#     test/unit/conf.sh with its conf_probe started under qemu by a wrapper;
#   - every test/api program twice: NAME as linked (libtool's real binary
#     under .libs/, LD_LIBRARY_PATH to the cross-built .libs) and NAME-plain
#     with LD_PRELOAD of the cross-built libhugeslab.so; test/api/static_link
#     (fully static) once;
#   - test/api/intro_symbols.sh against the aarch64 libhugeslab.so.
# Each program checks by itself (/proc/self/maps, which qemu emulates) that
# libhugeslab is mapped; HS_TEST_ANY_MALLOC is removed from its environment.
# One line per program: PASS/FAIL/SKIP (a program exiting 77 is a skip); a
# failure shows the end of the program's output. Exit 0 if nothing failed, 77
# if the cross toolchain or qemu-user is missing and cannot be installed, 1
# otherwise.
#
# Needs the Debian packages gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
# libc6-dev-arm64-cross qemu-user (scripts/deps installs them; run as root,
# this script installs the missing ones itself). Run alone:
#   HS_SRCDIR=/abs/srcdir bash test/build/aarch64.sh
# HS_AARCH64_TIMEOUT: seconds per program (default 120); HS_AARCH64_JOBS:
# programs run at once (default 2); HS_BUILD_KEEP=1 keeps the scratch build
# (its path is printed) to re-run a failing program by hand.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

here=$(cd "$(dirname "$0")" && pwd)
HS_SRCDIR=${HS_SRCDIR:-$(cd "$here/../.." && pwd)}
. "$here/common.sh"

TRIPLET=aarch64-linux-gnu
SYSROOT=/usr/$TRIPLET
TIMEOUT=${HS_AARCH64_TIMEOUT:-120}
NJOBS=${HS_AARCH64_JOBS:-2}

# Programs qemu-user cannot run as they are. Each entry was proven a qemu
# limitation: the same program fails identically (the same output) on
# glibc's malloc, without hugeslab, under qemu. The script checks that again
# on every run before it takes the workaround or the skip, so a hugeslab
# failure is never hidden by this list.
#   intro_early, first_call: re-execute themselves through /proc/self/exe,
#     once per case. Without binfmt_misc the kernel cannot execve an aarch64
#     binary (qemu-user emulates only the process it started): ENOEXEC, so
#     every child fails ("status 0x6300", "FAIL: calloc-1000", ...).
#     Workaround: run each case's re-executed form directly (intro_early:
#     HS_EARLY_CHILD=1 HS_EARLY_FIRST=mode; first_call: argv[1] = case).
#   rlimit: qemu-user accepts setrlimit(RLIMIT_AS) but does not enforce it
#     (linux-user/syscall.c: a limit on the guest would also limit qemu), so
#     malloc(64 MiB) under a 48 MiB margin succeeds on glibc too. Skipped.
#     (test/api/intro_cxx's new-handler retry check skips itself, inside a
#     passing program, for the same reason.)
declare -A QEMU_LIMIT=(
  [intro_early]="re-execs itself via /proc/self/exe: qemu-user cannot execve an aarch64 binary without binfmt_misc"
  [first_call]="re-execs itself via /proc/self/exe: qemu-user cannot execve an aarch64 binary without binfmt_misc"
  [rlimit]="qemu-user does not enforce RLIMIT_AS"
)
# Programs whose -plain twin is not run under qemu because qemu makes them
# very slow (the linked form still runs, and the native suite runs both):
#   overcommit: its huge requests reserve 2 x 47 GiB of PROT_NONE address
#     space before the commit is refused; qemu-user tracks the flags of every
#     guest page of such a mapping, so each form costs ~30 s of CPU under
#     qemu (0.1 s natively).
declare -A QEMU_SLOW=(
  [overcommit]="its 94 GiB PROT_NONE reservations cost qemu-user ~30 s of CPU per run (0.1 s natively)"
)
# Programs not run under qemu at all, because what they check is the
# kernel's view of the process, which qemu-user does not give its guest
# (the native suite runs both forms):
#   purge: re-executes itself once per HUGESLAB_CONF (no execve of aarch64
#     binaries, see above), reads /proc/self/smaps (AnonHugePages,
#     LazyFree: qemu-user answers for itself, not for the guest's pages) and
#     counts /proc/self/task (qemu-user's own threads are in it), and needs
#     MADV_FREE, which qemu-user accepts and ignores.
declare -A QEMU_HOST_VIEW=(
  [purge]="checks smaps, /proc/self/task and MADV_FREE, which qemu-user does not emulate for its guest"
)

# ---- tools ------------------------------------------------------------------
missing_pkgs() {
  local m=()
  command -v $TRIPLET-gcc >/dev/null 2>&1 || m+=(gcc-aarch64-linux-gnu)
  command -v $TRIPLET-g++ >/dev/null 2>&1 || m+=(g++-aarch64-linux-gnu)
  [ -f $SYSROOT/lib/crt1.o ] && [ -e $SYSROOT/lib/ld-linux-aarch64.so.1 ] && [ -f $SYSROOT/lib/libc.a ] ||
    m+=(libc6-dev-arm64-cross)
  command -v qemu-aarch64 >/dev/null 2>&1 || m+=(qemu-user)
  echo "${m[*]}"
}
missing=$(missing_pkgs)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "aarch64.sh: installing $missing"
    export DEBIAN_FRONTEND=noninteractive
    aptlog=${TMPDIR:-/tmp}/hs-aarch64-apt.log
    # shellcheck disable=SC2086
    { apt-get install -y -q --no-install-recommends $missing ||
      { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; }; } \
      >"$aptlog" 2>&1
    missing=$(missing_pkgs)
    why="$missing still missing after apt-get install (see $aptlog)"
  else
    why="$missing not installed, and not root to install them (scripts/deps test installs them)"
  fi
  if [ -n "$missing" ]; then
    echo "SKIP: aarch64 cross toolchain or qemu-user not installable: $why"
    exit 77
  fi
fi
for t in autoreconf make; do
  command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not installed"; exit 77; }
done

# ---- cross build --------------------------------------------------------------
start=$SECONDS
hs_clean_build_env
unset HS_TEST_ANY_MALLOC LD_PRELOAD
hs_scratch_init aarch64
case $scratch in
  *[[:space:]:]*) echo "FAIL: scratch dir $scratch has a space or colon (LD_PRELOAD would split it)"; exit 1 ;;
esac
B=$scratch/src
hs_copy_source "$HS_SRCDIR" "$B" || { echo "FAIL: copying $HS_SRCDIR to $B"; exit 1; }
cd "$B" || exit 1
hs_step "$scratch/autoreconf.log" autoreconf -fi
# No -g: nothing is debugged here, and the cross build is faster without it.
hs_step "$scratch/configure.log" ./configure --host=$TRIPLET --disable-dependency-tracking \
  CFLAGS=-O2 CXXFLAGS=-O2
printf 'hs-print-%%:\n\t@echo $($*)\n' >"$scratch/print.mk"
var() { make -s -f Makefile -f "$scratch/print.mk" "hs-print-$1"; }
progs=() ltlibs=()
for p in $(var check_PROGRAMS); do
  case $p in test/api/* | test/unit/*) progs+=("$p") ;; esac
done
for l in $(var check_LTLIBRARIES); do
  case $l in test/api/* | test/unit/*) ltlibs+=("$l") ;; esac
done
[ ${#progs[@]} -gt 0 ] || { echo "FAIL: no test/api or test/unit check_PROGRAMS in the Makefile"; exit 1; }
hs_step "$scratch/make.log" make -j2 libhugeslab.la "${ltlibs[@]}" "${progs[@]}"
LIB=$B/.libs/libhugeslab.so
machine=$(od -An -tx1 -j18 -N2 "$LIB" 2>/dev/null | tr -d ' \n')
[ "$machine" = b700 ] || { echo "FAIL: $LIB is not an aarch64 ELF (e_machine bytes $machine)"; exit 1; }
echo "aarch64.sh: cross build done in $((SECONDS - start)) s" \
  "(gcc $($TRIPLET-gcc -dumpfullversion), $(qemu-aarch64 --version | head -n1))"

# ---- run ------------------------------------------------------------------------
# The real binary of a program: libtool's under .libs/ when NAME is its wrapper.
realbin() {
  local d=${1%/*} n=${1##*/}
  if [ -f "$d/.libs/$n" ]; then echo "$d/.libs/$n"; else echo "$1"; fi
}

# qemu_run OUT BIN [VAR=VALUE...] [-- ARG...]: run BIN (with the ARGs) under
# qemu with only the VAR=VALUEs added to a clean copy of our environment; its
# output in OUT.
qemu_run() {
  local out=$1 bin=$2 qargs=()
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    qargs+=(-E "$1")
    shift
  done
  [ $# -gt 0 ] && shift
  env -u LD_PRELOAD -u LD_LIBRARY_PATH -u HS_TEST_ANY_MALLOC \
    timeout -k 5 "$TIMEOUT" qemu-aarch64 -L "$SYSROOT" "${qargs[@]}" "$bin" "$@" >"$out" 2>&1
}

# The guest environment of each form (words; the paths have no spaces).
form_env() {
  case $1 in
    linked) echo "LD_LIBRARY_PATH=$B/.libs:$B/test/api/.libs HUGESLAB_LIB=$LIB" ;;
    preloaded) echo "LD_PRELOAD=$LIB LD_LIBRARY_PATH=$B/test/api/.libs HUGESLAB_LIB=$LIB" ;;
    static) echo "HUGESLAB_LIB=$LIB" ;;
    glibc) echo "LD_LIBRARY_PATH=$B/test/api/.libs HS_TEST_ANY_MALLOC=1 HUGESLAB_LIB=$LIB" ;;
  esac
}

# report RC LABEL OUT: the result line of one program; its status also goes
# to $status_file (set per job), which the summary counts.
report() {
  local rc=$1 label=$2 out=$3
  case $rc in
    0) echo "PASS: aarch64 $label"; echo "PASS $label" >>"$status_file" ;;
    77) echo "SKIP: aarch64 $label: $(tail -n1 "$out")"; echo "SKIP $label" >>"$status_file" ;;
    *)
      echo "FAIL $label" >>"$status_file"
      if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "FAIL: aarch64 $label: timed out after $TIMEOUT s"
      else
        echo "FAIL: aarch64 $label: exit status $rc"
      fi
      echo "---- output (tail)"
      tail -n 20 "$out"
      echo "----"
      ;;
  esac
}

workaround() { # workaround PROG FORM BIN OUT: see QEMU_LIMIT; 77 = skip (reason in OUT)
  local prog=$1 form=$2 bin=$3 out=$4 name c cases rc
  name=${prog##*/}
  name=${name%-plain}
  case $name in
    intro_early)
      cases=$(sed -n '/first_modes\[\] *=/,/};/p' "$B/test/api/intro_early.cc" | grep -o '"[a-z_]*"' | tr -d '"') ;;
    first_call)
      cases=$(sed -n '/first_case cases\[\] *=/,/};/p' "$B/test/api/first_call.c" | grep -o '{"[a-z0-9_-]*"' | tr -d '{"') ;;
    *)
      echo "qemu limitation: ${QEMU_LIMIT[$name]} (glibc's malloc fails the same way under qemu)" >"$out"
      return 77
      ;;
  esac
  [ -n "$cases" ] || { echo "cannot read the cases of $name from its source" >"$out"; return 1; }
  : >"$out"
  for c in $cases; do
    # shellcheck disable=SC2046
    case $name in
      intro_early) qemu_run "$out.c" "$bin" $(form_env "$form") HS_EARLY_CHILD=1 HS_EARLY_FIRST="$c" ;;
      first_call) qemu_run "$out.c" "$bin" $(form_env "$form") -- "$c" ;;
    esac
    rc=$?
    cat "$out.c" >>"$out"
    [ "$rc" = 0 ] || { echo "case $c: exit status $rc" >>"$out"; return "$rc"; }
  done
  echo "  $name ($form): each case run directly instead:" $cases
  return 0
}

# run_form PROG FORM: one program in one form, with the qemu-limitation check.
run_form() {
  local prog=$1 form=$2 name=${1##*/} bin out rc
  bin=$(realbin "$prog")
  out=$scratch/out.$name.$form
  # shellcheck disable=SC2046
  qemu_run "$out" "$bin" $(form_env "$form")
  rc=$?
  if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "${QEMU_LIMIT[${name%-plain}]:-}" ]; then
    # The same program on glibc's malloc (the -plain twin, not preloaded).
    local gl=$scratch/out.$name.$form.glibc glrc
    # shellcheck disable=SC2046
    qemu_run "$gl" "$(realbin "${prog%-plain}-plain")" $(form_env glibc)
    glrc=$?
    if [ "$glrc" != 0 ] && cmp -s "$out" "$gl"; then
      echo "note: ${name%-plain} ($form): ${QEMU_LIMIT[${name%-plain}]}" \
        "(fails identically on glibc's malloc: $(tail -n1 "$gl"))"
      workaround "$prog" "$form" "$bin" "$out"
      rc=$?
    else
      echo "note: ${name%-plain} ($form) is on the qemu-limitation list, but glibc's malloc does" \
        "not fail the same way under qemu (exit status $glrc): this is a hugeslab failure"
    fi
  fi
  report "$rc" "$prog ($form)" "$out"
}

skip_host_view() { # skip_host_view PROG FORM: see QEMU_HOST_VIEW
  local name=${1##*/}
  echo "not run under qemu: ${QEMU_HOST_VIEW[${name%-plain}]}" >"$scratch/out.$name.host"
  report 77 "$1 ($2)" "$scratch/out.$name.host"
}

skip_slow() { # skip_slow PROG: see QEMU_SLOW
  local name=${1##*/}
  echo "not run under qemu: ${QEMU_SLOW[${name%-plain}]}" >"$scratch/out.$name.slow"
  report 77 "$1 (preloaded)" "$scratch/out.$name.slow"
}

# test/unit/conf.sh, its probe started under qemu by a wrapper (qemu passes
# HUGESLAB_CONF on to the guest).
run_conf() {
  mkdir -p "$scratch/wrap/test/unit"
  printf '#!/bin/bash\nexec env -u LD_PRELOAD -u LD_LIBRARY_PATH qemu-aarch64 -L %s -E LD_LIBRARY_PATH=%s %s "$@"\n' \
    "$SYSROOT" "$B/.libs" "$B/$(realbin test/unit/conf_probe)" >"$scratch/wrap/test/unit/conf_probe"
  chmod +x "$scratch/wrap/test/unit/conf_probe"
  HS_BUILDDIR=$scratch/wrap HS_SRCDIR=$B HUGESLAB_LIB=$LIB timeout -k 5 "$TIMEOUT" \
    bash "$B/test/unit/conf.sh" >"$scratch/out.conf" 2>&1
  report $? "test/unit/conf.sh (linked)" "$scratch/out.conf"
}

# test/api/intro_symbols.sh: the exported symbol set of the aarch64 library.
run_symbols() {
  NM=$TRIPLET-nm HUGESLAB_LIB=$LIB HS_BUILDDIR=$B HS_SRCDIR=$B \
    bash "$B/test/api/intro_symbols.sh" >"$scratch/out.symbols" 2>&1
  report $? "test/api/intro_symbols.sh (nm -D of the aarch64 library)" "$scratch/out.symbols"
}

# The jobs, in the order their results are printed.
jobs_list=()
for prog in "${progs[@]}"; do
  case $prog in
    test/unit/conf_probe) continue ;; # run through test/unit/conf.sh
    *-plain) continue ;;              # run after its linked twin
  esac
  if [ "${prog##*/}" = static_link ]; then
    jobs_list+=("run_form $prog static")
    continue
  fi
  if [ -n "${QEMU_HOST_VIEW[${prog##*/}]:-}" ]; then
    jobs_list+=("skip_host_view $prog linked")
    case " ${progs[*]} " in *" $prog-plain "*) jobs_list+=("skip_host_view $prog-plain preloaded") ;; esac
    continue
  fi
  jobs_list+=("run_form $prog linked")
  case " ${progs[*]} " in
    *" $prog-plain "*)
      if [ -n "${QEMU_SLOW[${prog##*/}]:-}" ]; then
        jobs_list+=("skip_slow $prog-plain")
      else
        jobs_list+=("run_form $prog-plain preloaded")
      fi
      ;;
  esac
done
[ -f "$B/test/unit/conf.sh" ] && [ -f "$(realbin test/unit/conf_probe)" ] && jobs_list+=(run_conf)
[ -f "$B/test/api/intro_symbols.sh" ] && jobs_list+=(run_symbols)

# NJOBS at a time; each job's lines go to its own file, printed in order.
running=0
for i in "${!jobs_list[@]}"; do
  if [ "$running" -ge "$NJOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
  # shellcheck disable=SC2086
  (status_file=$scratch/status.$i; : >"$status_file"; ${jobs_list[$i]} >"$scratch/res.$i" 2>&1) &
  running=$((running + 1))
done
wait

npass=0 nfail=0 nskip=0
failed=()
for i in "${!jobs_list[@]}"; do
  cat "$scratch/res.$i"
  n=0
  while read -r result label; do
    n=$((n + 1))
    case $result in
      PASS) npass=$((npass + 1)) ;;
      SKIP) nskip=$((nskip + 1)) ;;
      *) nfail=$((nfail + 1)); failed+=("$label") ;;
    esac
  done <"$scratch/status.$i"
  if [ $n = 0 ]; then
    echo "FAIL: aarch64 job '${jobs_list[$i]}' reported no result"
    nfail=$((nfail + 1))
    failed+=("${jobs_list[$i]}")
  fi
done

echo "aarch64: $npass passed, $nfail failed, $nskip skipped in $((SECONDS - start)) s"
if [ "$nfail" -gt 0 ]; then
  printf 'aarch64: failed: %s\n' "${failed[@]}"
  echo "aarch64: to reproduce, re-run with HS_BUILD_KEEP=1, cd to the kept scratch directory's src/ and run"
  echo "  qemu-aarch64 -L $SYSROOT -E LD_LIBRARY_PATH=\$PWD/.libs:\$PWD/test/api/.libs test/api/.libs/NAME"
  echo "  qemu-aarch64 -L $SYSROOT -E LD_PRELOAD=\$PWD/.libs/libhugeslab.so -E LD_LIBRARY_PATH=\$PWD/test/api/.libs test/api/NAME-plain"
  echo "  (a NAME that is a libtool wrapper script has its real binary in .libs/)"
  exit 1
fi
exit 0
