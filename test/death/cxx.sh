#!/bin/bash
# Runs each C++ misuse case (misuse_cxx.cc) linked and preloaded; each must die
# of SIGABRT with exactly one stderr line naming the call and the pointer the
# program printed.
set -u
b="$HS_BUILDDIR/test/death"
fail=0
check() { # variant case regex
  local out err status
  out=$(mktemp) err=$(mktemp)
  if [ "$1" = linked ]; then
    timeout 10 "$b/misuse_cxx" "$2" >"$out" 2>"$err"; status=$?
  else
    timeout 10 env LD_PRELOAD="$HUGESLAB_LIB" "$b/misuse_cxx-plain" "$2" >"$out" 2>"$err"; status=$?
  fi
  local ptr line
  ptr=$(head -n1 "$out")
  line=$(cat "$err")
  if [ "$status" -ne 134 ]; then
    echo "FAIL: $1 $2: status $status (want 134, SIGABRT)"; fail=1
  elif [ "$(wc -l <"$err")" -ne 1 ] || ! [[ "$line" =~ $3 ]]; then
    echo "FAIL: $1 $2: stderr was: $line"; fail=1
  elif [ "${line##* }" != "$ptr" ]; then
    echo "FAIL: $1 $2: reported ${line##* }, program had $ptr"; fail=1
  else
    echo "PASS: $1 $2"
  fi
  rm -f "$out" "$err"
}
for v in linked preloaded; do
  check "$v" sized_delete_mismatch '^hugeslab: operator delete\(\): size mismatch 0x[0-9a-f]+$'
  check "$v" double_delete '^hugeslab: free\(\): double free 0x[0-9a-f]+$'
done
exit "$fail"
