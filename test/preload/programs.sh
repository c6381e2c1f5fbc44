#!/bin/bash
# Real programs from Debian run once without and once with
# LD_PRELOAD=$HUGESLAB_LIB; every output they print and every exit status must
# be identical. This is the drop-in promise (interposition really happens;
# malloc before our constructor: ld.so, libc and the programs' own start-up
# allocate early; LD_PRELOAD with initial-exec TLS) tested on large
# allocation-heavy programs instead of our own test programs, with threads
# (python, sort --parallel, git pack-objects) and children (gcc runs cc1, as,
# collect2 and ld; git gc runs git repack).
#
# A run that silently fell back to glibc would also print identical output,
# so each preloaded run is checked for proof that libhugeslab was really in
# use: ld.so's own log (LD_DEBUG=libs,bindings, written to files by
# LD_DEBUG_OUTPUT so stdout and stderr stay untouched) must show, for every
# process the program started, "calling init: $HUGESLAB_LIB", and for the
# program itself, malloc and free bound to $HUGESLAB_LIB. python, perl and
# sort also read their own /proc/self/maps and must find the library there.
#
# Finally a plain python3 run (json of a million integers) is compared with
# glibc's, with no LD_DEBUG in the environment.
#
# Needs python3 perl sqlite3 git gcc coreutils (the README's apt-get line).
# A missing program is reported as SKIP and makes the script exit 77 when
# nothing failed. Run alone: HUGESLAB_LIB=/abs/path/libhugeslab.so bash THIS
#
# make check runs this with $(SHELL), which may be dash: re-run under bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -eu
set -o pipefail

fail() { echo "programs.sh: FAIL: $*" >&2; exit 1; }

: "${HUGESLAB_LIB:?HUGESLAB_LIB must be the absolute path of libhugeslab.so (make check sets it)}"
case "$HUGESLAB_LIB" in
  /*) ;;
  *) fail "HUGESLAB_LIB=$HUGESLAB_LIB is not an absolute path" ;;
esac
case "$HUGESLAB_LIB" in
  *[[:space:]:]*) fail "HUGESLAB_LIB=$HUGESLAB_LIB contains a space or colon; LD_PRELOAD would split it" ;;
esac
[ -f "$HUGESLAB_LIB" ] || fail "HUGESLAB_LIB=$HUGESLAB_LIB does not exist (build the library first)"

# Nothing inherited may preload or trace the reference runs.
unset LD_PRELOAD LD_DEBUG LD_DEBUG_OUTPUT
STEP_TIMEOUT=60    # seconds for one command; a hang is a failure, not a stuck make check

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hs-programs.XXXXXX")
# HS_PRELOAD_KEEP=1 keeps the outputs and ld.so logs for a look after a failure.
if [ "${HS_PRELOAD_KEEP:-0}" = 1 ]; then
  trap 'echo "programs.sh: outputs kept in $tmp" >&2' EXIT
else
  trap 'rm -rf "$tmp"' EXIT
fi
trap 'exit 130' INT TERM HUP

failures=0
missing=""

# ---- helpers ------------------------------------------------------------

# step CMD ARGS...: one command of a workload, run through $RUN (plain or
# preloaded). Its exit status is printed into the workload's stdout, so the
# two runs are compared on every status, not only the last one.
step() {
  local rc=0
  "${RUN[@]}" "$@" || rc=$?
  printf '[%s exited %d]\n' "${1##*/}" "$rc"
  if [ "$rc" -ne 0 ]; then step_failed=1; fi
  return 0
}

# plain CMD ARGS...: a helper command of a workload that is never preloaded
# (editing files between git commits, running the program gcc built).
plain() {
  local rc=0
  "$@" || rc=$?
  printf '[plain %s exited %d]\n' "${1##*/}" "$rc"
  if [ "$rc" -ne 0 ]; then step_failed=1; fi
  return 0
}

# show_diff A B: the first lines where two outputs differ.
show_diff() {
  echo "--- first differing lines (< without preload, > with preload):" >&2
  diff "$1" "$2" | head -n 20 >&2 || true
}

# show_tail FILE WHAT: the end of a stderr log, to see e.g. a hugeslab abort line.
show_tail() {
  if [ -s "$1" ]; then
    echo "--- last lines of $2:" >&2
    tail -n 15 "$1" >&2
  fi
}

# check_proof NAME LOGDIR PROGRAM...: ld.so's logs of the preloaded run of
# NAME prove the library was loaded and in use. Every process's log must show
# our constructor being called; each PROGRAM named (matched against the
# program ld.so initialised, by basename) must have run at least once, and in
# the process of the first PROGRAM both malloc and free must be bound to us.
check_proof() {
  local name=$1 logdir=$2 main=$3 prog f found bad=0
  shift 2
  local logs=("$logdir"/ld.*)
  if [ ! -e "${logs[0]}" ]; then
    echo "$name: no LD_DEBUG log at all: the preloaded program never started" >&2
    return 1
  fi
  for f in "${logs[@]}"; do
    if ! grep -qF "calling init: $HUGESLAB_LIB" "$f"; then
      echo "$name: process $(grep -m1 'initialize program:' "$f" | sed 's/.*initialize program: //') never ran libhugeslab's init (ld.so log $f):" >&2
      grep 'calling init:' "$f" | head -n 12 >&2 || true
      bad=1
    fi
  done
  for prog in "$@"; do
    found=$(grep -lE "initialize program: (.*/)?$prog\$" "${logs[@]}" || true)
    if [ -z "$found" ]; then
      echo "$name: no process '$prog' ran under the preload; programs that did:" >&2
      grep -h 'initialize program:' "${logs[@]}" | sed 's/.*initialize program: /  /' | sort -u >&2
      bad=1
      continue
    fi
    if [ "$prog" = "$main" ]; then
      f=$(echo "$found" | head -n 1)
      for sym in malloc free; do
        if ! grep -qF " to $HUGESLAB_LIB [0]: normal symbol \`$sym'" "$f"; then
          echo "$name: in '$prog', $sym is not bound to $HUGESLAB_LIB; bindings seen:" >&2
          grep -F "normal symbol \`$sym'" "$f" | head -n 5 >&2 || true
          bad=1
        fi
      done
    fi
  done
  return "$bad"
}

# run_case NAME PROGRAM...: runs the workload case_NAME twice, each time in
# a fresh directory prepared by setup_NAME (if defined): once plain, once
# preloaded (and logged by ld.so). Compares stdout and exit status and checks
# the proof of use (see check_proof) for PROGRAM....
run_case() {
  local name=$1 mode rc_plain=0 rc_pre=0
  shift
  for mode in plain pre; do
    mkdir -p "$tmp/$mode/$name" "$tmp/ld/$name"
    if declare -F "setup_$name" >/dev/null; then
      (cd "$tmp/$mode/$name" && "setup_$name") ||
        fail "$name: preparing the input files failed (not a hugeslab problem)"
    fi
  done
  local out_plain="$tmp/$name.plain.out" out_pre="$tmp/$name.pre.out"
  RUN=(timeout -k 5 "$STEP_TIMEOUT" env)
  (cd "$tmp/plain/$name" && step_failed=0 && "case_$name" && exit "$step_failed") \
    >"$out_plain" 2>"$tmp/$name.plain.err" </dev/null || rc_plain=$?
  RUN=(timeout -k 5 "$STEP_TIMEOUT" env "LD_PRELOAD=$HUGESLAB_LIB"
       "LD_DEBUG=libs,bindings" "LD_DEBUG_OUTPUT=$tmp/ld/$name/ld")
  (cd "$tmp/pre/$name" && step_failed=0 && "case_$name" && exit "$step_failed") \
    >"$out_pre" 2>"$tmp/$name.pre.err" </dev/null || rc_pre=$?

  if [ "$rc_plain" -ne 0 ]; then
    echo "FAIL: $name: the workload fails even without the preload (exit $rc_plain), so the comparison means nothing:" >&2
    grep -F ' exited ' "$out_plain" | grep -v ' exited 0]' >&2 || true
    show_tail "$tmp/$name.plain.err" "its stderr"
    failures=$((failures + 1))
    return 0
  fi
  local bad=0
  if [ "$rc_pre" -ne "$rc_plain" ]; then
    echo "FAIL: $name: exit status $rc_pre with the preload, $rc_plain without" >&2
    bad=1
  fi
  if ! cmp -s "$out_plain" "$out_pre"; then
    echo "FAIL: $name: stdout differs with the preload" >&2
    show_diff "$out_plain" "$out_pre"
    bad=1
  fi
  if [ "$bad" -ne 0 ]; then
    show_tail "$tmp/$name.pre.err" "stderr with the preload"
  fi
  if ! check_proof "$name" "$tmp/ld/$name" "$@"; then
    echo "FAIL: $name: no proof that libhugeslab was in use in the preloaded run" >&2
    bad=1
  fi
  if [ "$bad" -ne 0 ]; then
    failures=$((failures + 1))
    return 0
  fi
  echo "PASS: $name ($(wc -l <"$out_plain") lines of output identical)"
}

# prove_maps NAME CMD...: CMD, run under the preload, prints the lines of its
# own /proc/self/maps that name libhugeslab; there must be at least one.
prove_maps() {
  local name=$1 rc=0
  shift
  timeout -k 5 "$STEP_TIMEOUT" env "LD_PRELOAD=$HUGESLAB_LIB" "$@" >"$tmp/$name.maps" 2>&1 </dev/null || rc=$?
  if [ "$rc" -ne 0 ] || ! grep -q libhugeslab "$tmp/$name.maps"; then
    echo "FAIL: $name: libhugeslab not found in the program's own /proc/self/maps (exit $rc):" >&2
    head -n 10 "$tmp/$name.maps" >&2
    failures=$((failures + 1))
  fi
}

# need NAME PATH: PATH is an executable; else record NAME as missing.
need() {
  if [ -n "$2" ] && [ -x "$2" ]; then return 0; fi
  echo "SKIP: $1: program not installed (apt-get install python3 perl sqlite3 git gcc coreutils)"
  missing="$missing $1"
  return 1
}

# ---- python3: the Debian interpreter, never a pyenv shim ------------------
PYTHON=/usr/bin/python3
JSON_SNIPPET='import json; print(len(json.dumps(list(range(10**6)))))'

# Dicts of short strings built by producer threads and consumed (so freed) by
# other threads: many small allocations freed on another thread than the one
# that made them.
cat >"$tmp/dicts.py" <<'EOF'
import hashlib, queue, threading

def make(seed, n):
    d = {}
    x = seed
    for i in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        k = "k%04x" % (x >> 50)
        d[k] = d.get(k, "") + chr(97 + (x >> 33) % 26) * (1 + x % 5)
    return d

def producer(seed, q):
    for r in range(6):
        q.put(make(seed * 100 + r, 20000))
    q.put(None)

def consumer(q, out, idx):
    h = hashlib.sha256()
    total = 0
    while True:
        d = q.get()
        if d is None:
            break
        s = ";".join(k + "=" + v[::-1].upper() for k, v in sorted(d.items()))
        h.update(s.encode())
        total += len(s) + len(d)
        del d, s
    out[idx] = (total, h.hexdigest())

out = [None] * 4
queues = [queue.Queue(maxsize=2) for _ in out]
threads = [threading.Thread(target=producer, args=(i + 1, queues[i])) for i in range(4)]
threads += [threading.Thread(target=consumer, args=(queues[i], out, i)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for total, digest in out:
    print(total, digest)

words = [("w%d" % (i * 7919 % 5003)) * (1 + i % 3) for i in range(200000)]
text = " ".join(words)
counts = {}
for w in text.split():
    counts[w] = counts.get(w, 0) + 1
big = {w: n for w, n in counts.items() if n > 1}
print(len(text), len(counts), len(big), sum(big.values()))
print(text.replace("w1", "W-1").count("W-1"), hashlib.sha256(text.upper().encode()).hexdigest())
EOF

case_python() {
  step "$PYTHON" -c "$JSON_SNIPPET"
  step "$PYTHON" "$tmp/dicts.py"
}

# ---- perl ------------------------------------------------------------------
# shellcheck disable=SC2016  # the perl program is in single quotes on purpose
case_perl() {
  step "$PERL" -e '
    my %h;
    for my $i (1 .. 300000) {
      my $k = "key" . ($i * 7919 % 100003);
      $h{$k} .= chr(97 + $i % 26) x (1 + $i % 3);
    }
    my $n = grep { /^key\d*7\d$/ } keys %h;
    my @s = sort { length($h{$a}) <=> length($h{$b}) or $a cmp $b } keys %h;
    my $t = join ",", map { "$_=$h{$_}" } @s[0 .. 199];
    (my $u = $t) =~ s/([aeiou]+)/uc($1) . length($1)/ge;
    my @w = split /,/, $u;
    print scalar(keys %h), " $n ", length($u), " ", scalar(@w), "\n$w[0] $w[-1]\n";
    delete @h{grep { /5$/ } keys %h};
    my $all = join "", map { $h{$_} } sort keys %h;
    my %c; $c{$1}++ while $all =~ /([a-f]{3,})/g;
    print scalar(keys %h), " ", length($all), " ", scalar(keys %c), "\n";
    print join(" ", map { "$_:$c{$_}" } (sort { $c{$b} <=> $c{$a} or $a cmp $b } keys %c)[0 .. 9]), "\n";
  '
}

# ---- sqlite3 -----------------------------------------------------------------
cat >"$tmp/sqlite.sql" <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000)
INSERT INTO t(id, grp, name, val)
  SELECT x, x % 97, printf('name-%08d-%s', (x * 7919) % 50000, hex(x * x)), (x % 1000) / 7.0 FROM c;
SELECT count(*), sum(grp), total(val) FROM t;
SELECT grp, count(*), round(sum(val), 3), min(name), max(name) FROM t GROUP BY grp ORDER BY grp;
SELECT val, count(*) FROM t GROUP BY val ORDER BY 2 DESC, 1 LIMIT 5;
SELECT length(group_concat(name, ',')) FROM t;
CREATE INDEX t_name ON t(name);
EXPLAIN QUERY PLAN SELECT count(*) FROM t WHERE name BETWEEN 'name-00010000' AND 'name-00020000';
SELECT count(*) FROM t WHERE name BETWEEN 'name-00010000' AND 'name-00020000';
SELECT id, name FROM t ORDER BY name LIMIT 5 OFFSET 25000;
DELETE FROM t WHERE grp % 3 = 0;
UPDATE t SET name = upper(name) || name WHERE grp % 5 = 1;
SELECT count(*), max(length(name)) FROM t;
PRAGMA integrity_check;
EOF

case_sqlite3() {
  step "$SQLITE3" -batch test.db <"$tmp/sqlite.sql"
  step "$SQLITE3" -batch test.db 'VACUUM; SELECT count(*), sum(length(name)) FROM t;'
}

# ---- git -------------------------------------------------------------------
setup_git() {
  local i
  mkdir -p home repo/src repo/doc
  for i in $(seq 1 150); do
    seq "$i" 7 $((i * 40)) | sed "s/^/line $i value /" >"repo/src/file$i.c"
  done
  for i in $(seq 1 30); do
    printf 'Document %d\n%s\n' "$i" "$(seq -s ' ' 1 $((i * 20)))" >"repo/doc/d$i.txt"
  done
}

case_git() {
  export HOME=$PWD/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null TZ=UTC
  export GIT_AUTHOR_NAME='Test Author' GIT_AUTHOR_EMAIL=author@example.org
  export GIT_COMMITTER_NAME='Test Committer' GIT_COMMITTER_EMAIL=committer@example.org
  export GIT_AUTHOR_DATE='2024-01-02T03:04:05Z' GIT_COMMITTER_DATE='2024-01-02T03:04:05Z'
  local git=("$GIT" -C repo -c gc.autoDetach=false -c pack.threads=2)
  step "$GIT" -c init.defaultBranch=main init -q repo
  step "${git[@]}" add -A
  step "${git[@]}" commit -q -m 'first commit'
  plain sed -i 's/value/VALUE/' repo/src/file1*.c
  step "${git[@]}" mv doc/d1.txt doc/renamed.txt
  step "${git[@]}" rm -q src/file99.c
  step "${git[@]}" commit -q -a -m 'second commit'
  export GIT_AUTHOR_DATE='2024-01-03T00:00:00Z' GIT_COMMITTER_DATE='2024-01-03T00:00:00Z'
  plain cp repo/src/file2.c repo/src/copy.c
  step "${git[@]}" add -A
  step "${git[@]}" commit -q -m 'third commit'
  step "${git[@]}" log --format=%H
  step "${git[@]}" diff --stat HEAD~2 HEAD
  step "${git[@]}" gc -q --aggressive
  step "${git[@]}" fsck --strict --no-dangling
  step "${git[@]}" cat-file --batch-all-objects --batch-check='%(objectname) %(objecttype) %(objectsize)'
  step "${git[@]}" log --format='%H %an %s' --numstat
}

# ---- gcc ---------------------------------------------------------------------
setup_gcc() {
  local i
  {
    echo '#include <stdio.h>'
    echo '#include <stdlib.h>'
    for i in $(seq 0 199); do
      printf 'static unsigned f%d(unsigned x) {\n  switch (x %% 7) {\n' "$i"
      printf '  case 0: return x * %du + 1u;\n  case 1: return (x >> 3) ^ %du;\n' $((i * 2 + 3)) "$i"
      printf '  case 2: return x + (x << %d);\n  case 3: return ~x + %du;\n' $((i % 13 + 1)) $((i * i))
      printf '  default: return x * x + %du;\n  }\n}\n' "$i"
    done
    echo 'static unsigned (*const fns[])(unsigned) = {'
    for i in $(seq 0 199); do printf '  f%d,\n' "$i"; done
    echo '};'
    cat <<'EOF'
static int cmp(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
  return (x > y) - (x < y);
}
int main(void) {
  enum { N = 100000 };
  unsigned *v = malloc(N * sizeof *v), acc = 12345;
  if (!v) return 1;
  for (unsigned i = 0; i < N; i++) v[i] = acc = fns[i % 200](acc + i);
  qsort(v, N, sizeof *v, cmp);
  printf("%u %u %u %u\n", v[0], v[N / 2], v[N - 1], acc);
  free(v);
  return 0;
}
EOF
  } >prog.c
}

case_gcc() {
  # The same compiler input must give the same assembly, the same binary
  # (gcc is deterministic for this input and these flags) and a program that
  # prints the same thing. gcc's warnings go to stdout to be compared too.
  step "$GCC" -O2 -Wall -Wextra -S -o prog.s prog.c 2>&1
  step "$GCC" -O2 -Wall -Wextra -o prog prog.c 2>&1
  plain cksum prog.s prog
  plain ./prog
}

# ---- sort --------------------------------------------------------------------
# 200 000 lines of pseudo-random text, made once and read by both runs.
awk 'BEGIN {
  x = 12345
  for (i = 0; i < 200000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648
    y = (x * 69069 + 1) % 4294967296
    printf "%s-%07d %d %c%c%c tail%d\n", (x % 3 ? "alpha" : "Beta"), x % 9999991, y % 100000, \
      97 + x % 26, 65 + y % 26, 97 + (x + y) % 26, i % 1000
  }
}' >"$tmp/sort-input.txt"

case_sort() {
  # with LC_ALL=C: a plain sort, a parallel one with a 50 MiB buffer, one
  # with a 1 MiB buffer so it must spill to temporary files and merge them,
  # and a keyed unique sort; then the parallel sort in the inherited locale.
  export LC_ALL=C
  step "$SORT" "$tmp/sort-input.txt"
  step "$SORT" -S 50M --parallel=2 "$tmp/sort-input.txt"
  step "$SORT" -S 1M -T . --parallel=2 "$tmp/sort-input.txt"
  step "$SORT" -t ' ' -k2,2n -k1,1 -u -S 50M --parallel=2 "$tmp/sort-input.txt"
  unset LC_ALL
  step "$SORT" -S 50M --parallel=2 "$tmp/sort-input.txt"
}

# ---- run everything ----------------------------------------------------------
if need python3 "$PYTHON"; then
  run_case python python3
  prove_maps python "$PYTHON" -c "import sys; l = [s for s in open('/proc/self/maps') if 'libhugeslab' in s]; print(''.join(l), end=''); sys.exit(0 if l else 1)"

  # A plain python3 run, byte for byte against glibc's.
  rc_plain=0 rc_pre=0
  /usr/bin/python3 -c 'import json; print(len(json.dumps(list(range(10**6)))))' >"$tmp/accept.plain" 2>"$tmp/accept.plain.err" || rc_plain=$?
  LD_PRELOAD=$HUGESLAB_LIB /usr/bin/python3 -c 'import json; print(len(json.dumps(list(range(10**6)))))' >"$tmp/accept.pre" 2>"$tmp/accept.pre.err" || rc_pre=$?
  if [ "$rc_plain" -ne 0 ] || [ ! -s "$tmp/accept.plain" ]; then
    echo "FAIL: acceptance check: python3 fails without the preload (exit $rc_plain)" >&2
    show_tail "$tmp/accept.plain.err" "its stderr"
    failures=$((failures + 1))
  elif [ "$rc_pre" -ne "$rc_plain" ] || ! cmp -s "$tmp/accept.plain" "$tmp/accept.pre"; then
    echo "FAIL: acceptance check: with the preload python3 printed '$(head -c 200 "$tmp/accept.pre")' exit $rc_pre, without '$(cat "$tmp/accept.plain")' exit $rc_plain" >&2
    show_tail "$tmp/accept.pre.err" "stderr with the preload"
    failures=$((failures + 1))
  else
    echo "PASS: acceptance check (python3 json of range(10**6): $(cat "$tmp/accept.plain") both ways)"
  fi
fi

PERL=$(command -v perl || true)
if need perl "$PERL"; then
  run_case perl perl
  prove_maps perl "$PERL" -ne 'print if /libhugeslab/' /proc/self/maps
fi

SQLITE3=$(command -v sqlite3 || true)
if need sqlite3 "$SQLITE3"; then
  run_case sqlite3 sqlite3
fi

GIT=$(command -v git || true)
if need git "$GIT"; then
  run_case git git
fi

GCC=$(command -v gcc || true)
if need gcc "$GCC"; then
  # the driver, and the compiler proper, assembler and linker it starts
  run_case gcc gcc cc1 as ld
fi

SORT=$(command -v sort || true)
if need sort "$SORT"; then
  run_case sort sort
  # sort reads its own /proc/self/maps as an input file
  prove_maps sort "$SORT" /proc/self/maps
fi

if [ "$failures" -ne 0 ]; then
  echo "programs.sh: $failures check(s) failed" >&2
  exit 1
fi
if [ -n "$missing" ]; then
  echo "programs.sh: skipped, not installed:$missing"
  exit 77
fi
echo "programs.sh: all programs behave the same with and without the preload"
