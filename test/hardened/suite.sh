#!/bin/bash
# make check-hardened: the api, thread and fork test programs (linked with
# -lhugeslab) run in hardened mode (HUGESLAB_CONF=hardened:true), where every
# block carries canaries, is zeroed when freed and waits in the quarantine:
# a correct program must pass its own checks with no report from hugeslab.
# A test of what hardened mode changes by design is skipped, with its
# reason. Arguments: make's TESTS, of which the programs (not scripts) of
# test/api, test/thread and test/fork are run. Results are counted by
# scripts/check from test/peers/out/hardened/*.trs (test/peers/lib.sh).
set -u
. "${HS_SRCDIR:?HS_SRCDIR must be the absolute source directory}/test/peers/lib.sh"
peer_init hardened
declare -A skip=(
  [test/api/core_realloc]="checks that realloc keeps a block in place up to its slot's usable size, which in hardened mode is the requested size (the rest of the slot holds the canaries)"
  [test/api/growth]="checks that a growing huge block stays in place (mremap); in hardened mode a huge block that outgrows its mapping moves"
  [test/thread/tcache_gc]="checks that thread caches shed idle slots; in hardened mode nothing is cached"
  [test/fork/cow]="bounds the pages a child copies when it frees inherited blocks, which hardened mode zeroes (a copy each)"
)
for t in "$@"; do
  case $t in *.sh) continue ;; test/api/* | test/thread/* | test/fork/*) ;; *) continue ;; esac
  name=$(peer_program_name "$t")
  if [ -n "${skip[$t]:-}" ]; then
    peer_result "$name" hardened SKIP
    echo "  ($t: ${skip[$t]})"
    continue
  fi
  log=$peer_out/run.tmp
  ( cd "$HS_BUILDDIR" && HUGESLAB_CONF=hardened:true timeout 600 "./$t" ) >"$log" 2>&1
  # hugeslab's own report (heap overflow, write after free, ...) fails a
  # test even when its exit status would not show it (a forked child).
  res=$(peer_verdict $? "$log" '^hugeslab: [a-z_]+\(\): ')
  peer_result "$name" hardened "$res" "$log"
done
peer_summary
