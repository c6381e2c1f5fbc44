#!/bin/bash
# The hugeslab command end to end: `run` preloads the library for the program
# and the programs it starts, passes the exit status (and a signal) through,
# adds --conf to HUGESLAB_CONF, and --stats / --stats=json print the report of
# each process on stderr at its exit; --stats-file=PATH appends them to PATH
# (%p: the pid) instead, so that a program that closes stderr (coreutils'
# ls) still has one; a program that cannot run gets 127/126;
# `conf` lists every option of the library's table; --version, --help; a
# bad command or option is a usage error (2).
set -u
cmd="$HS_BUILDDIR/hugeslab"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; [ -s "$tmp/err" ] && { echo "--- stderr:"; head -20 "$tmp/err"; }; exit 1; }
if [ ! -x "$cmd" ]; then
  # A --with-symbol-prefix build has no command (it could not preload).
  grep -q '^#define HS_SYMBOL_PREFIX' "$HS_BUILDDIR/build-config.h" 2>/dev/null && { echo "SKIP: prefixed build"; exit 77; }
  fail "$cmd not built"
fi
unset LD_PRELOAD HUGESLAB_CONF

"$cmd" --version >"$tmp/out" 2>"$tmp/err" || fail "--version exited $?"
grep -qE '^hugeslab [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out" || fail "--version printed: $(cat "$tmp/out")"
"$cmd" --help >"$tmp/out" 2>"$tmp/err" || fail "--help exited $?"
grep -q '^usage: hugeslab run' "$tmp/out" || fail "--help has no usage"
"$cmd" frobnicate >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "unknown command 'frobnicate'" "$tmp/err" || fail "bad command: exit $rc"
"$cmd" run --bogus -- true >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "unknown option '--bogus'" "$tmp/err" || fail "bad run option: exit $rc"
"$cmd" run >"$tmp/out" 2>"$tmp/err"; [ $? = 2 ] || fail "run without a program is not a usage error"

# The exit status and a signal pass through.
"$cmd" run -- sh -c 'exit 7' 2>"$tmp/err"; rc=$?
[ $rc = 7 ] || fail "exit status 7 came back as $rc"
"$cmd" run -- sh -c 'kill -TERM $$' 2>"$tmp/err"; rc=$?
[ $rc = 143 ] || fail "SIGTERM came back as exit $rc"
"$cmd" run -- /nonexistent/program 2>"$tmp/err"; rc=$?
[ $rc = 127 ] && grep -q "cannot run '/nonexistent/program'" "$tmp/err" || fail "missing program: exit $rc"

# The program and its children run on hugeslab (a grandchild reads its maps).
"$cmd" run -- sh -c 'cat /proc/self/maps' >"$tmp/out" 2>"$tmp/err" || fail "run cat failed"
grep -q 'libhugeslab' "$tmp/out" || fail "a child of the program does not map libhugeslab"
# Without --: the first word that is not an option is the program.
"$cmd" run cat /proc/self/maps >"$tmp/out" 2>"$tmp/err" || fail "run without -- failed"
grep -q 'libhugeslab' "$tmp/out" || fail "run without --: libhugeslab not mapped"
# What LD_PRELOAD held stays, after ours.
LD_PRELOAD=libc.so.6 "$cmd" run -- sh -c 'echo "$LD_PRELOAD"' >"$tmp/out" 2>"$tmp/err" || fail "run failed"
grep -qE '^/.*libhugeslab\.so[.0-9]* libc\.so\.6$' "$tmp/out" || fail "LD_PRELOAD became $(cat "$tmp/out")"

# --stats: one text report per process, on stderr; stdout untouched. (bash
# and our test program exit through exit(); dash's _exit and coreutils'
# closing of stderr leave no report, as LD_PRELOAD.md says.)
child="$HS_BUILDDIR/test/api/core_zero-plain"
"$cmd" run --stats -- bash -c "echo out; '$child' >/dev/null; exit 0" >"$tmp/out" 2>"$tmp/err" || fail "run --stats failed"
[ "$(cat "$tmp/out")" = out ] || fail "stdout changed under --stats"
n=$(grep -cE '^hugeslab [0-9][^ ]* \(thp: ' "$tmp/err")
[ "$n" = 2 ] || fail "--stats: $n reports on stderr, expected 2 (bash and its child)"
# --stats=json with --conf: the JSON parses and shows the option; HUGESLAB_CONF
# from the environment stays under --conf.
HUGESLAB_CONF=arenas:3 "$cmd" run --stats=json --conf decay_ms:77 -- "$child" >/dev/null 2>"$tmp/err" || fail "run --stats=json failed"
python3 - "$tmp/err" <<'PY' || fail "--stats=json --conf decay_ms:77: not the JSON report with the options"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["opt"]["decay_ms"] == 77 and r["opt"]["arenas"] == 3 and r["opt"]["stats_print"] == "json", r["opt"]
PY

# --stats-file: the report of a program that closes stderr before it exits
# (coreutils' ls), one file per process with %p; a bad path is a usage error.
ls_bin=$(command -v ls)
"$cmd" run --stats-file="$tmp/report.%p" -- "$ls_bin" / >/dev/null 2>"$tmp/err" || fail "run --stats-file ls failed"
n=$(ls "$tmp" | grep -c '^report\.[0-9][0-9]*$')
[ "$n" = 1 ] || fail "--stats-file: $n report files, expected 1"
grep -qE '^hugeslab [0-9][^ ]* \(thp: ' "$tmp"/report.* || fail "--stats-file: no text report in the file"
[ ! -s "$tmp/err" ] || fail "--stats-file: stderr not empty"
rm -f "$tmp"/report.*
"$cmd" run --stats=json --stats-file="$tmp/report.json" -- bash -c "'$child' >/dev/null; exit 0" 2>"$tmp/err" \
  || fail "run --stats=json --stats-file failed"
python3 - "$tmp/report.json" <<'PY' || fail "--stats=json --stats-file: the file does not hold two JSON reports"
import json, sys
text, dec, n, at = open(sys.argv[1]).read(), json.JSONDecoder(), 0, 0
while text[at:].strip():
    r, at = dec.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
    assert r["opt"]["stats_file"] == sys.argv[1], r["opt"]
    n += 1
assert n == 2, n
PY
"$cmd" run --stats-file=a,b -- true >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "without ','" "$tmp/err" || fail "--stats-file with a comma: exit $rc"

# conf: every option once, with its default, as the library's table has it.
"$cmd" conf --tabs >"$tmp/tabs" 2>"$tmp/err" || fail "conf --tabs failed"
for key in arenas tcache thp thp_min_mb stats_print decay_ms purge background_thread fork_fresh fork_settle_ms \
    pool_ksm hardened stats_file; do
  [ "$(awk -F'\t' -v k="$key" '$1 == k' "$tmp/tabs" | wc -l)" = 1 ] || fail "conf --tabs: no line for $key"
done
awk -F'\t' 'NF != 4 { exit 1 }' "$tmp/tabs" || fail "conf --tabs: a line without 4 fields"
awk -F'\t' '$1 == "decay_ms" && $2 == "1000" { ok = 1 } END { exit !ok }' "$tmp/tabs" || fail "decay_ms default not 1000"
HUGESLAB_CONF=decay_ms:5 "$cmd" conf >"$tmp/out" 2>"$tmp/err" || fail "conf failed"
grep -qE '^decay_ms +default 1000 \(now 5, from HUGESLAB_CONF\)$' "$tmp/out" || fail "conf does not show the value in force"
echo "command: all cases passed"
