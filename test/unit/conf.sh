#!/bin/bash
# HUGESLAB_CONF: a bad key or value warns exactly once (one line naming it),
# the defaults stay for it, and the valid keys beside it still apply
# (stats:1 prints the report at exit; arenas:3 shows in it).
set -eu
probe="$HS_BUILDDIR/test/unit/conf_probe"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; echo "--- stderr:"; cat "$tmp/err"; exit 1; }

run() { HUGESLAB_CONF="$1" "$probe" >"$tmp/out" 2>"$tmp/err" || fail "probe exited non-zero with HUGESLAB_CONF=$1"; grep -qx "probe ok" "$tmp/out" || fail "probe output wrong"; }

run "arenas:3,stats:1"
grep -q '^  arenas = 3 ' "$tmp/err" || fail "arenas:3 / stats:1 not applied"
[ "$(grep -c '^hugeslab: HUGESLAB_CONF' "$tmp/err" || true)" = 0 ] || fail "warning for a valid configuration"

run "bogus:1,arenas:3,stats:1"
[ "$(grep -c '^hugeslab: ' "$tmp/err")" = 1 ] || fail "expected exactly one warning line"
grep -qx "hugeslab: HUGESLAB_CONF: unknown key 'bogus' ignored, default kept" "$tmp/err" || fail "unknown key not named"
grep -q '^  arenas = 3 ' "$tmp/err" || fail "valid keys beside a bad one not applied"

run "arenas:x,stats:1"
grep -qx "hugeslab: HUGESLAB_CONF: bad value in 'arenas:x' ignored, default kept" "$tmp/err" || fail "bad value not named"
grep -q '^  arenas = 3 ' "$tmp/err" && fail "bad value applied"

# Booleans: 1/0 or true/false.
run "arenas:3,stats:true"
grep -q '^  arenas = 3 ' "$tmp/err" || fail "stats:true not applied"
run "stats:yes"
grep -qx "hugeslab: HUGESLAB_CONF: bad value in 'stats:yes' ignored, default kept" "$tmp/err" || fail "stats:yes not refused"

run "stats_print:loud"
grep -qx "hugeslab: HUGESLAB_CONF: bad value in 'stats_print:loud' ignored, default kept" "$tmp/err" || fail "stats_print:loud not refused"
[ "$(grep -c '^hugeslab: ' "$tmp/err")" = 1 ] || fail "stats_print:loud: expected only the warning (no report)"
run "arenas:3,stats_print:true"
grep -q '^  arenas = 3 ' "$tmp/err" || fail "stats_print:true not applied"

# stats_file: the report goes to the file (%p: the pid), appended; stderr
# keeps only what the program writes; an empty value or one too long is
# refused; stats_file:stderr is the default; a file that cannot be opened
# says so in one line and the report goes to stderr.
run "stats_print:true,arenas:3,stats_file:$tmp/rep.%p"
[ ! -s "$tmp/err" ] || fail "stats_file: stderr not empty"
[ "$(ls "$tmp" | grep -c '^rep\.[0-9][0-9]*$')" = 1 ] && grep -q '^  arenas = 3 ' "$tmp"/rep.* || fail "stats_file: no report in the file"
run "stats_print:true,stats_file:$tmp/rep.fixed"
run "stats_print:true,stats_file:$tmp/rep.fixed"
[ "$(grep -c '^hugeslab [0-9]' "$tmp/rep.fixed")" = 2 ] || fail "stats_file: the second report did not append"
run "stats_file:"
grep -qx "hugeslab: HUGESLAB_CONF: bad value in 'stats_file:' ignored, default kept" "$tmp/err" || fail "empty stats_file not refused"
run "stats_file:/$(printf 'x%.0s' $(seq 300))"
[ "$(grep -c "^hugeslab: HUGESLAB_CONF: bad value in 'stats_file:/xxx" "$tmp/err")" = 1 ] || fail "a 301-byte stats_file not refused"
run "stats_print:true,arenas:3,stats_file:stderr"
grep -q '^  arenas = 3 ' "$tmp/err" || fail "stats_file:stderr does not print on stderr"
run "stats_print:true,arenas:3,stats_file:$tmp/no/such/dir/rep"
grep -qx "hugeslab: stats_file: cannot open $tmp/no/such/dir/rep, the report goes to stderr" "$tmp/err" || fail "unopenable stats_file not named"
grep -q '^  arenas = 3 ' "$tmp/err" || fail "unopenable stats_file: no report on stderr"

run "thp:sometimes"
[ "$(grep -c '^hugeslab: ' "$tmp/err")" = 1 ] || fail "bad thp value: expected one warning"

for v in "thp:never" "thp:always" "thp:auto,thp_min_mb:0" "tcache:0" "tcache:false" "arenas:1" \
    "fork_fresh:false" "fork_settle_ms:-1" "fork_settle_ms:0" "pool_ksm:true" "hardened:true" "hardened:0"; do
  run "$v"
  [ ! -s "$tmp/err" ] || fail "unexpected stderr for $v"
done
echo "conf: all cases passed"
