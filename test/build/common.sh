# shellcheck shell=bash
# Sourced (not run) by test/build/*.sh: the scratch copy of the source tree
# that those tests configure and build on their own.
#
# The source tree is usually configured in-tree, and automake refuses a VPATH
# build from a configured source directory, so each test copies the sources
# (only sources: no build outputs, no configure results) into a temporary
# directory and runs autoreconf/configure/make there.

# hs_scratch_init NAME: sets $scratch to a new empty directory under $TMPDIR,
# removed when the script exits (kept, and named, with HS_BUILD_KEEP=1: to
# re-run a failing program by hand).
hs_scratch_init() {
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/hs-$1.XXXXXX") || { echo "FAIL: mktemp failed"; exit 1; }
  if [ "${HS_BUILD_KEEP:-0}" = 1 ]; then
    trap 'echo "scratch directory kept: $scratch"' EXIT
  else
    trap 'rm -rf "$scratch"' EXIT
  fi
  trap 'exit 130' INT TERM HUP
}

# hs_copy_source SRCDIR DEST: copy the source files of SRCDIR into DEST.
# A git checkout gives its file list (tracked files plus untracked ones that
# .gitignore does not exclude, so work in progress is tested too); otherwise
# (a distribution tarball) everything is copied but build outputs and
# configure's products.
hs_copy_source() {
  local src=$1 dest=$2 top
  mkdir -p "$dest" || return 1
  top=$(git -C "$src" rev-parse --show-toplevel 2>/dev/null || true)
  if [ -n "$top" ] && [ "$(cd "$top" && pwd -P)" = "$(cd "$src" && pwd -P)" ]; then
    # Tracked files deleted in the work tree are listed but absent: skip them.
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
       while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
       xargs -0 -r cp -P --parents -t "$dest") || return 1
  else
    (cd "$src" && tar -cf - --exclude=.git --exclude=autom4te.cache --exclude=.libs \
       --exclude=.deps --exclude='*.o' --exclude='*.lo' --exclude='*.la' --exclude='*.log' \
       --exclude='*.trs' --exclude=.dirstamp --exclude=config.status --exclude=libtool \
       --exclude=stamp-h1 --exclude=build-config.h --exclude=hugeslab.pc --exclude=Makefile \
       --exclude='hugeslab-*.tar.gz' .) |
      (cd "$dest" && tar -xf -) || return 1
  fi
  [ -f "$dest/configure.ac" ] || { echo "FAIL: no configure.ac copied from $src"; return 1; }
}

# The environment of the make that runs us must not leak into the nested
# build: its MAKEFLAGS may carry variable overrides (TESTS=...) and jobserver
# descriptors we do not have, and CC/CFLAGS are for the outer configuration.
hs_clean_build_env() {
  unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES GNUMAKEFLAGS
  unset CC CXX CPP CXXCPP CFLAGS CXXFLAGS CPPFLAGS LDFLAGS LIBS
  unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
}

# hs_step LOG CMD...: run CMD niced with its output in LOG; on failure print
# the end of LOG and exit 1.
hs_step() {
  local log=$1
  shift
  if ! nice -n 10 "$@" >"$log" 2>&1; then
    echo "FAIL: $* (in $PWD)"
    tail -n 40 "$log"
    exit 1
  fi
}
