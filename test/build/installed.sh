#!/bin/bash
# The installed library, linked the way README says:
#   cc app.c $(pkg-config --cflags --libs hugeslab)
# must give a program that starts without LD_LIBRARY_PATH and without
# ldconfig, wherever the library was installed (hugeslab.pc puts an rpath
# for ${libdir} in Libs), and that maps libhugeslab from the installed lib
# directory, not from the build tree; include/hugeslab.h must be installed
# and compile (the program calls hs_version()); bin/hugeslab and the man pages
# hugeslab(1) and hugeslab(3) must be installed, and `hugeslab run` must
# preload the installed library.
#
# Default mode (make check): copies the sources to a scratch directory,
# configures them with --prefix=SCRATCH/prefix, runs `make install` there, then
# builds test/build/installed_app.c with that prefix's pkg-config file and
# runs it with LD_LIBRARY_PATH unset. Run alone:
#   HS_SRCDIR=/abs/srcdir bash test/build/installed.sh
# Installed mode (make installcheck): no build, checks an existing install:
#   bash test/build/installed.sh --installed LIBDIR INCLUDEDIR
# Exit 0 pass, 77 skip (no pkg-config or C compiler), 1 fail.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

here=$(cd "$(dirname "$0")" && pwd)
HS_SRCDIR=${HS_SRCDIR:-$(cd "$here/../.." && pwd)}
. "$here/common.sh"

for t in pkg-config cc; do
  command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not installed"; exit 77; }
done

# check_install LIBDIR INCLUDEDIR WORKDIR: build the app against the install
# through pkg-config and run it.
check_install() {
  local libdir=$1 incdir=$2 work=$3 flags app=$3/installed_app
  local pcdir=$libdir/pkgconfig ok=1
  [ -f "$incdir/hugeslab.h" ] || { echo "FAIL: $incdir/hugeslab.h was not installed"; ok=0; }
  [ -f "$pcdir/hugeslab.pc" ] || { echo "FAIL: $pcdir/hugeslab.pc was not installed"; ok=0; }
  [ -e "$libdir/libhugeslab.so.0" ] || { echo "FAIL: $libdir/libhugeslab.so.0 was not installed"; ok=0; }
  [ $ok = 1 ] || return 1
  # Only this prefix's pkg-config file, none from the system.
  if ! flags=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir pkg-config --cflags --libs hugeslab 2>&1); then
    echo "FAIL: pkg-config --cflags --libs hugeslab: $flags"
    return 1
  fi
  echo "installed.sh: pkg-config --cflags --libs hugeslab: $flags"
  # shellcheck disable=SC2086
  if ! cc -std=gnu11 -Wall -Wextra -Werror -o "$app" "$here/installed_app.c" $flags >"$work/cc.log" 2>&1; then
    echo "FAIL: cc installed_app.c \$(pkg-config --cflags --libs hugeslab) failed"
    cat "$work/cc.log"
    return 1
  fi
  # The header must also be usable from C++.
  if command -v c++ >/dev/null 2>&1; then
    printf '#include <hugeslab.h>\nint main() { return hs_version() ? 0 : 1; }\n' >"$work/hdr.cc"
    # shellcheck disable=SC2046
    if ! c++ -Wall -Wextra -Werror -fsyntax-only "$work/hdr.cc" $(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir pkg-config --cflags hugeslab) >"$work/cxx.log" 2>&1; then
      echo "FAIL: the installed hugeslab.h does not compile as C++"
      cat "$work/cxx.log"
      return 1
    fi
  fi
  if ! env -u LD_LIBRARY_PATH -u LD_PRELOAD "$app" "$libdir" >"$work/run.log" 2>&1; then
    echo "FAIL: the program linked with \$(pkg-config --libs hugeslab) does not run without LD_LIBRARY_PATH:"
    cat "$work/run.log"
    echo "---- its dynamic section (a RUNPATH/RPATH of $libdir is what finds the library):"
    readelf -d "$app" 2>/dev/null | grep -E 'NEEDED|RPATH|RUNPATH'
    return 1
  fi
  cat "$work/run.log"
}

if [ "${1:-}" = --installed ]; then
  [ $# = 3 ] || { echo "usage: $0 --installed LIBDIR INCLUDEDIR"; exit 1; }
  if [ -n "${DESTDIR:-}" ]; then
    echo "SKIP: DESTDIR=$DESTDIR: a staged install cannot be run from its final path"
    exit 77
  fi
  work=$(mktemp -d "${TMPDIR:-/tmp}/hs-installcheck.XXXXXX") || exit 1
  trap 'rm -rf "$work"' EXIT
  check_install "$2" "$3" "$work" || exit 1
  echo "installed: ok"
  exit 0
fi

command -v autoreconf >/dev/null 2>&1 || { echo "SKIP: autoreconf not installed"; exit 77; }
start=$SECONDS
hs_clean_build_env
unset LD_LIBRARY_PATH LD_PRELOAD
hs_scratch_init installed
B=$scratch/src
prefix=$scratch/prefix
hs_copy_source "$HS_SRCDIR" "$B" || { echo "FAIL: copying $HS_SRCDIR to $B"; exit 1; }
cd "$B" || exit 1
hs_step "$scratch/autoreconf.log" autoreconf -fi
hs_step "$scratch/configure.log" ./configure --prefix="$prefix" --disable-dependency-tracking
hs_step "$scratch/install.log" make -j2 install
libdir=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig \
  pkg-config --variable=libdir hugeslab 2>/dev/null)
[ "$libdir" = "$prefix/lib" ] || { echo "FAIL: installed hugeslab.pc has libdir=$libdir, want $prefix/lib"; exit 1; }
mkdir -p "$scratch/work"
check_install "$prefix/lib" "$prefix/include" "$scratch/work" || exit 1
# The command and the man pages: `hugeslab run` preloads the installed library.
for f in bin/hugeslab share/man/man1/hugeslab.1 share/man/man3/hugeslab.3; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $prefix/$f was not installed"; exit 1; }
done
maps=$(env -u LD_LIBRARY_PATH "$prefix/bin/hugeslab" run -- cat /proc/self/maps 2>&1) ||
  { echo "FAIL: installed hugeslab run failed: $maps"; exit 1; }
grep -q "$prefix/lib/libhugeslab" <<<"$maps" ||
  { echo "FAIL: installed hugeslab run does not preload $prefix/lib/libhugeslab.so"; exit 1; }
echo "installed: ok in $((SECONDS - start)) s"
exit 0
