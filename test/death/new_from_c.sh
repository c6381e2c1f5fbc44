#!/bin/bash
# operator new from a C program (new_from_c.c), linked and preloaded: an
# impossible request must die of SIGABRT with exactly the one stderr line
# "hugeslab: operator new(): out of memory"; the nothrow forms must return
# NULL and exit 0 with nothing on stderr. dlopen_cxx pins the documented
# limit (COMPAT.md): C++ code dlopen()ed after start-up gets the same abort.
set -u
b="$HS_BUILDDIR/test/death"
dso="$b/.libs/libnew_late_dso.so"
ulimit -c 0 || true
fail=0
run() { # variant stderr-file args...
  local v=$1 err=$2
  shift 2
  # The braces with 2>/dev/null keep bash's own "Aborted" report out of it.
  if [ "$v" = linked ]; then
    { timeout 10 "$b/new_from_c" "$@" 2>"$err"; } 2>/dev/null
  else
    { timeout 10 env LD_PRELOAD="$HUGESLAB_LIB" "$b/new_from_c-plain" "$@" 2>"$err"; } 2>/dev/null
  fi
}
check() { # variant want-status want-stderr-regex args...
  local v=$1 want=$2 re=$3 err status line
  shift 3
  err=$(mktemp)
  run "$v" "$err" "$@"; status=$?
  line=$(cat "$err")
  if [ "$status" -ne "$want" ]; then
    echo "FAIL: $v $1: status $status (want $want)"; fail=1
    sed 's/^/    stderr: /' "$err" | head -n 5
  elif [ -n "$re" ] && { [ "$(wc -l <"$err")" -ne 1 ] || ! [[ "$line" =~ $re ]]; }; then
    echo "FAIL: $v $1: stderr was: $line"; fail=1
  elif [ -z "$re" ] && [ -s "$err" ]; then
    echo "FAIL: $v $1: stderr was: $line"; fail=1
  else
    echo "PASS: $v $1"
  fi
  rm -f "$err"
}
[ -f "$dso" ] || { echo "FAIL: $dso is missing"; exit 1; }
oom='^hugeslab: operator new\(\): out of memory$'
for v in linked preloaded; do
  check "$v" 134 "$oom" new
  check "$v" 134 "$oom" new_array
  check "$v" 134 "$oom" new_aligned
  check "$v" 0 '' nothrow
  check "$v" 134 "$oom" dlopen_cxx "$dso"
done
exit "$fail"
