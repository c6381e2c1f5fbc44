# test/peers/lib.sh: helpers shared by the peer harnesses (sourced, not run).
#
# Every harness reports in the same shape, so that scripts/check can count
# peer results with the rest of the suite: per peer test and per mode a file
# test/peers/out/SUITE/NAME.MODE.trs holding one automake-style line
# ":test-result: PASS|FAIL|SKIP|ERROR", the test's output beside it in
# NAME.MODE.log, one "RESULT: SUITE/NAME (MODE)" line on stdout, and a
# closing "check-SUITE: N passed, M failed, K skipped".

# peer_init SUITE [OUTNAME]: checks the environment the make targets pass,
# and empties this suite's result directory (stale .trs files from an
# earlier run would otherwise be counted again by scripts/check).
peer_init() {
  peer_suite=$1
  : "${HUGESLAB_LIB:?HUGESLAB_LIB must be the absolute path of libhugeslab.so}"
  : "${HS_BUILDDIR:?HS_BUILDDIR must be the absolute build directory}"
  : "${HS_SRCDIR:=$HS_BUILDDIR}"
  peer_cache=${HS_PEER_CACHE:-/var/cache/hugeslab-peers}
  peer_out=$HS_BUILDDIR/test/peers/out/${2:-$1}
  mkdir -p "$peer_out"
  rm -f "$peer_out"/*.trs "$peer_out"/*.log
  peer_pass=0 peer_fail=0 peer_skip=0
  peer_t0=$(date +%s)
}

# peer_result NAME MODE RESULT [LOGFILE]: records one result.  LOGFILE (the
# test's captured output) is moved to NAME.MODE.log; without one, an empty
# log is written so every .trs has its .log.
peer_result() {
  local name=$1 mode=$2 res=$3 log=${4:-}
  local base=$peer_out/$name.$mode
  if [ -n "$log" ] && [ "$log" != "$base.log" ]; then
    mv -f "$log" "$base.log"
  elif [ -z "$log" ]; then
    : >"$base.log"
  fi
  echo ":test-result: $res" >"$base.trs"
  case $res in
    PASS) peer_pass=$((peer_pass + 1)) ;;
    SKIP) peer_skip=$((peer_skip + 1)) ;;
    *) peer_fail=$((peer_fail + 1)) ;;
  esac
  echo "$res: $peer_suite/$name ($mode)"
}

# peer_program_name T: the result name of test program T
# (test/api/core_basic -> api-core_basic).
peer_program_name() {
  local name=${1#test/}
  echo "${name//\//-}"
}

# peer_verdict RC LOG REPORTS: the result of a test program that exited
# with RC, its output in LOG: FAIL when a line of LOG matches the extended
# regex REPORTS (a checking tool's report; the lines are shown), else PASS
# for 0, SKIP for 77 (the test skipped itself), FAIL otherwise (the end of
# LOG is shown). The lines shown go to stderr.
peer_verdict() {
  local rc=$1 log=$2 reports=$3
  if grep -qE "$reports" "$log"; then
    grep -E "$reports" "$log" | sort | uniq -c | head -n 5 >&2
    echo FAIL
  elif [ "$rc" = 0 ]; then
    echo PASS
  elif [ "$rc" = 77 ]; then
    echo SKIP
  else
    { echo "  (exit $rc)"; tail -n 5 "$log"; } >&2
    echo FAIL
  fi
}

# peer_summary [EXTRA]: the closing line; returns non-zero if anything
# failed.
peer_summary() {
  local t=$(( $(date +%s) - peer_t0 ))
  echo "check-$peer_suite: $peer_pass passed, $peer_fail failed, $peer_skip skipped${1:+, $1} (${t}s)"
  [ "$peer_fail" -eq 0 ]
}

# peer_proven FILE: true when FILE holds the report hugeslab prints at exit
# under HUGESLAB_CONF=stats:1, i.e. the process really ran on hugeslab.
peer_proven() {
  grep -qE '^hugeslab [0-9][^ ]* \(thp: ' "$1"
}

# peer_install PKG...: installs the Debian packages among PKG that are
# missing (as scripts/deps does: only when missing, no recommends).
peer_install() {
  local missing=() p sudo=""
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "peers: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/hugeslab-peers-apt.log 2>&1; then
    $sudo apt-get update -q >>/tmp/hugeslab-peers-apt.log 2>&1
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/hugeslab-peers-apt.log 2>&1 ||
      { cat /tmp/hugeslab-peers-apt.log >&2; echo "peers: apt-get install failed" >&2; return 1; }
  fi
}

# peer_throttle N: waits until fewer than N background jobs run.
peer_throttle() {
  while [ "$(jobs -rp | wc -l)" -ge "$1" ]; do wait -n; done
}
