#!/bin/bash
# The reports as a program reads them: the JSON of hs_stats_print and of
# HUGESLAB_CONF=stats_print:json at exit parses (python3 -m json.tool) and
# carries the schema, the totals, the options and every arena; stats_print:true
# and its alias stats:1 print the text report at exit, stats_print:false none;
# hs_ctl_get's opt.* read what HUGESLAB_CONF set; a stats_file path with a
# quote, a backslash and a tab in it comes back whole from the JSON; each
# arena's resident and huge-page figures are there, the huge pages within
# the resident bytes.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
prog="$HS_BUILDDIR/test/api/stats"
probe="$HS_BUILDDIR/test/unit/conf_probe"

check_json() { # FILE WHAT
  python3 - "$1" "$2" <<'PY' || fail "$2: not the JSON report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["schema"] >= 1, "schema"
for k in ("allocated", "active", "tcache", "mapped", "resident", "dirty", "returned_count", "returned_bytes",
          "hugepage", "guard", "metadata"):
    assert isinstance(r["stats"][k], int), k
assert r["opt"]["decay_ms"] == int(sys.argv[2].split("decay_ms:")[1]) if "decay_ms:" in sys.argv[2] else True
assert len(r["arena"]) == r["stats"]["arenas"], "one item per arena"
assert len(r["class"]) == len(r["arena"][0]["class"]) >= 30, "every class"
for a in r["arena"]:
    assert 0 <= a["hugepage"] <= a["resident"], a
for c in range(len(r["class"])):
    assert r["class"][c]["allocated"] == sum(a["class"][c]["allocated"] for a in r["arena"]), c
PY
}

"$prog" json >"$tmp/out" || fail "stats json exited non-zero"
python3 -m json.tool "$tmp/out" >/dev/null || fail "hs_stats_print(json) is not valid JSON"
check_json "$tmp/out" "hs_stats_print"

HUGESLAB_CONF=stats_print:json,decay_ms:300 "$probe" >"$tmp/stdout" 2>"$tmp/err" || fail "probe failed"
python3 -m json.tool "$tmp/err" >/dev/null || { cat "$tmp/err"; fail "stats_print:json at exit is not valid JSON"; }
check_json "$tmp/err" "stats_print:json,decay_ms:300"

odd="$tmp/we\"ird\\na$(printf '\t')me"
HUGESLAB_CONF="stats_print:json,stats_file:$odd" "$probe" >"$tmp/stdout" 2>"$tmp/err" || fail "probe failed (odd stats_file)"
[ ! -s "$tmp/err" ] || fail "stats_file: the report went to stderr"
python3 - "$odd" <<'PY' || fail "the JSON report in a file with an odd name does not parse or name it"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["opt"]["stats_file"] == sys.argv[1], r["opt"]["stats_file"]
PY

for conf in stats_print:true stats:1 stats_print:text; do
  HUGESLAB_CONF=$conf "$probe" >"$tmp/stdout" 2>"$tmp/err" || fail "probe failed ($conf)"
  grep -qE '^hugeslab [0-9][^ ]* \(thp: ' "$tmp/err" || fail "$conf: no text report at exit"
  grep -q '^Total (incl. mmap):$' "$tmp/err" || fail "$conf: no glibc summary"
done
HUGESLAB_CONF=stats_print:false "$probe" >"$tmp/stdout" 2>"$tmp/err" || fail "probe failed"
[ ! -s "$tmp/err" ] || fail "stats_print:false printed something"
# hs_ctl_get reads the options in force.
HUGESLAB_CONF=decay_ms:250,tcache:false,thp:never "$prog" options || fail "opt.* do not read as configured"
echo "stats_report: all cases passed"
