#!/bin/bash
# The kept fuzzing corpus (test/fuzz/corpus: inputs `make fuzz FUZZ_MERGE=1`
# found to add coverage) replayed through the fuzz harness against the
# normal library, linked and preloaded, and in hardened mode: every input that once found a new
# path keeps passing its content and contract checks.
set -u
build=${HS_BUILDDIR:?HS_BUILDDIR must be the build directory}
corpus=${HS_SRCDIR:?HS_SRCDIR must be the source directory}/test/fuzz/corpus
inputs=("$corpus"/*)
[ -f "${inputs[0]}" ] || { echo "FAIL: no inputs in $corpus"; exit 1; }
"$build/test/fuzz/replay" "${inputs[@]}" 2>"$build/test/fuzz/replay.err" ||
  { tail -n 3 "$build/test/fuzz/replay.err"; echo "FAIL: linked replay"; exit 1; }
LD_PRELOAD=$HUGESLAB_LIB "$build/test/fuzz/replay-plain" "${inputs[@]}" 2>"$build/test/fuzz/replay.err" ||
  { tail -n 3 "$build/test/fuzz/replay.err"; echo "FAIL: preloaded replay"; exit 1; }
HUGESLAB_CONF=hardened:true "$build/test/fuzz/replay" "${inputs[@]}" 2>"$build/test/fuzz/replay.err" ||
  { tail -n 3 "$build/test/fuzz/replay.err"; echo "FAIL: linked replay, hardened mode"; exit 1; }
echo "corpus: ${#inputs[@]} inputs replayed, linked and preloaded, and linked in hardened mode"
