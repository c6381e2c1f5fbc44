#!/bin/bash
# Memcheck finds the bugs planted in test/valgrind/planted.c, in a program
# linked with -lhugeslab and in one that preloads it, as it finds them on
# glibc: each case must produce memcheck's own report line for its bug, from
# hugeslab's blocks (no frame of Valgrind's replacement malloc), and the
# clean case no error and no leak.
set -u
build=${HS_BUILDDIR:-.}
command -v valgrind >/dev/null || { echo "SKIP: valgrind not installed"; exit 77; }
grep -q '^#define HAVE_VALGRIND_MEMCHECK_H 1' "$build/build-config.h" ||
  { echo "SKIP: built without valgrind/memcheck.h (no client requests)"; exit 77; }
lib=${HUGESLAB_LIB:-$build/.libs/libhugeslab.so}
vg=(valgrind --soname-synonyms=somalloc=nouserintercepts --leak-check=full)
fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# case|pattern memcheck must print (grep -E)|a second one, or empty
cases=(
  "leak|definitely lost: 40 bytes in 1 blocks|"
  "overflow|Invalid write of size 1|0 bytes after a block of size 48 alloc'd"
  "overflow-run|Invalid write of size 1|0 bytes after a block of size 20,000 alloc'd"
  "overflow-huge|Invalid write of size 1|0 bytes after a block of size 8,388,608 alloc'd"
  "overflow-aligned|Invalid write of size 1|0 bytes after a block of size 256 alloc'd"
  "underflow|Invalid write of size 1|1 bytes before a block of size 32 alloc'd"
  "use-after-free|Invalid write of size 1|3 bytes inside a block of size 32 free'd"
  "use-after-reuse|Invalid write of size 1|3 bytes inside a block of size 32 free'd"
  "use-after-free-run|Invalid write of size 1|100 bytes inside a block of size 20,000 free'd"
  "stale-realloc|Invalid write of size 1|0 bytes inside a block of size 16 free'd"
  "uninitialised|Conditional jump or move depends on uninitialised value|"
  "invalid-free|Invalid free\\(\\)|^hugeslab: free\\(\\): invalid pointer 0x"
  "double-free|Invalid free\\(\\)|^hugeslab: free\\(\\): double free 0x"
  "clean|ERROR SUMMARY: 0 errors|All heap blocks were freed -- no leaks are possible"
)

for mode in linked preloaded; do
  for c in "${cases[@]}"; do
    IFS='|' read -r name want1 want2 <<<"$c"
    if [ $mode = linked ]; then
      "$build/libtool" --mode=execute "${vg[@]}" "$build/test/valgrind/planted" "$name" >"$out" 2>&1
    else
      LD_PRELOAD="$lib" "${vg[@]}" "$build/test/valgrind/planted-plain" "$name" >"$out" 2>&1
    fi
    ok=1
    grep -qE "$want1" "$out" || ok=0
    [ -z "$want2" ] || grep -qE "$want2" "$out" || ok=0
    # The blocks must be ours, announced by client requests.
    grep -q 'vg_replace_malloc' "$out" && ok=0
    [ "$name" = clean ] || [ "$name" = leak ] || [ "$name" = uninitialised ] ||
      grep -qE 'ERROR SUMMARY: [1-9]' "$out" || ok=0
    if [ $ok = 1 ]; then
      echo "ok: $mode $name"
    else
      echo "FAIL: $mode $name: memcheck said:"
      sed 's/^/    /' "$out"
      fail=1
    fi
  done
done
# Only memcheck switches the client requests on: another tool (callgrind,
# cachegrind, massif; here "none") must measure the normal paths.
for tool in memcheck none; do
  want="usable 1"
  [ $tool = none ] && want="usable 16"
  got=$("$build/libtool" --mode=execute valgrind -q --tool=$tool --soname-synonyms=somalloc=nouserintercepts \
        "$build/test/valgrind/planted" usable 2>/dev/null)
  if [ "$got" = "$want" ]; then
    echo "ok: --tool=$tool: $got"
  else
    echo "FAIL: --tool=$tool: malloc_usable_size(malloc(1)) says '$got', expected '$want'"
    fail=1
  fi
done
exit $fail
