#!/bin/bash
# README's options table is the library's: the same keys in the same order,
# with the same defaults, as `hugeslab conf --tabs` prints from the one
# options table (config.c). A key added to the library without a README row,
# or a default changed on one side only, fails here.
set -u
cmd="$HS_BUILDDIR/hugeslab"
readme="$HS_SRCDIR/README.md"
if [ ! -x "$cmd" ]; then
  grep -q '^#define HS_SYMBOL_PREFIX' "$HS_BUILDDIR/build-config.h" 2>/dev/null && { echo "SKIP: prefixed build"; exit 77; }
  echo "FAIL: $cmd not built"; exit 1
fi
lib=$(env -u HUGESLAB_CONF "$cmd" conf --tabs | awk -F'\t' '{ print $1 " " $2 }') || { echo "FAIL: hugeslab conf"; exit 1; }
# README rows: | `key` | `default` ... | meaning |
doc=$(sed -n '/^| key | default | meaning |$/,/^$/p' "$readme" |
  sed -nE 's/^\| `([a-z_]+)` \| `([^`]*)`.*/\1 \2/p')
[ -n "$doc" ] || { echo "FAIL: no options table in README.md"; exit 1; }
if [ "$lib" != "$doc" ]; then
  echo "FAIL: README.md's options table and the library's differ (< library, > README):"
  diff <(echo "$lib") <(echo "$doc")
  exit 1
fi
echo "options_doc: $(echo "$lib" | wc -l) options agree"
