#!/bin/bash
# test/peers/source.sh NAME [VERSION]
#
# Fetch and unpack the Debian source package NAME (optionally exactly
# VERSION, falling back to the newest one when that version is not offered)
# with `apt-get source`, and print the unpacked tree's absolute path on
# stdout.  Everything else goes to stderr.
#
# Why this way: the peer harnesses run other projects' own test suites, and
# the only place we take those sources from is Debian's archive, through
# apt, so that what we run is authenticated the same way the machine's own
# packages are and nothing of theirs is ever committed here.  The machine's
# apt configuration is left untouched: we derive a private deb-src list from
# /etc/apt/sources.list.d/debian.sources at run time and give apt private
# list and cache directories.
#
# The download and the unpacked tree are cached in $HS_PEER_CACHE (default
# /var/cache/hugeslab-peers, outside the git tree, so a fresh clone on the
# same machine reuses them); a cached tree is printed without asking the
# network anything.
set -u
name=${1:?usage: source.sh NAME [VERSION]}
version=${2:-}
cache=${HS_PEER_CACHE:-/var/cache/hugeslab-peers}
log() { echo "source.sh: $*" >&2; }

mkdir -p "$cache" 2>/dev/null || { log "cannot create cache $cache (set HS_PEER_CACHE)"; exit 1; }
cache=$(cd "$cache" && pwd)
pkgdir=$cache/src/$name
stamp=$pkgdir/.unpacked        # holds the unpacked directory's name
mkdir -p "$pkgdir"

# Fast path: already unpacked (and, when asked, the wanted version).
cached() {
  [ -f "$stamp" ] || return 1
  local d; d=$(head -n1 "$stamp")
  [ -n "$d" ] && [ -d "$pkgdir/$d" ] || return 1
  if [ -n "$version" ]; then
    # The stamp's second line is the full Debian version unpacked (the
    # directory name carries only the upstream version), its third the
    # version that was asked for: when that one was not offered, the
    # newest was taken instead, and asking again would only fetch it again.
    [ "$(sed -n 2p "$stamp")" = "$version" ] || [ "$(sed -n 3p "$stamp")" = "$version" ] || return 1
  fi
  echo "$pkgdir/$d"
}
cached && exit 0

# One fetch at a time per cache: make -j may start two harnesses at once.
exec 9>"$cache/.lock"
flock 9
cached && exit 0

# Tools: apt-get source unpacks with dpkg-source (dpkg-dev); xz-utils for
# the .tar.xz most packages ship.  Installed only when missing, as
# scripts/deps does.
missing=()
for p in dpkg-dev xz-utils; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >&2 || { log "apt-get install failed"; exit 1; }
fi

# The private deb-src list: every stanza of the machine's debian.sources,
# with "Types: deb" turned into "Types: deb-src" and all other fields
# (URIs, Suites, Components, Signed-By) kept as they are.
sys=/etc/apt/sources.list.d/debian.sources
[ -r "$sys" ] || { log "$sys not found; cannot derive the deb-src list"; exit 1; }
aptdir=$cache/apt
mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
srclist=$aptdir/F.sources
sed -E 's/^Types:.*$/Types: deb-src/' "$sys" >"$srclist.new"
mv "$srclist.new" "$srclist"
apt=(apt-get -q
     -o Dir::Etc::SourceList="$srclist"
     -o Dir::Etc::SourceParts=/nonexistent
     -o Dir::State::Lists="$aptdir/lists"
     -o Dir::Cache="$aptdir/cache"
     -o APT::Sandbox::User=root)  # private dirs are root's; no _apt chown dance

# The source indexes are refreshed only when we actually have to fetch (at
# most once a day, or when the wanted version is not in the ones we have).
fresh=$aptdir/.updated
if [ ! -f "$fresh" ] || [ -n "$(find "$fresh" -mmin +1440 2>/dev/null)" ]; then
  log "apt-get update (private deb-src lists in $aptdir)"
  "${apt[@]}" update >&2 || { log "apt-get update failed"; exit 1; }
  touch "$fresh"
fi

# Fetch into a scratch dir, then move the result into place, so an
# interrupted download never leaves a half tree that looks cached.
work=$pkgdir/.work.$$
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fetch() { "${apt[@]}" source "$1" >&2; }
if [ -n "$version" ] && ! fetch "$name=$version"; then
  log "$name=$version not offered; updating the lists and trying again"
  "${apt[@]}" update >&2 && touch "$fresh"
  if ! fetch "$name=$version"; then
    log "$name=$version still not offered; taking the newest $name instead"
    rm -rf "${work:?}"/*
    fetch "$name" || { log "apt-get source $name failed"; exit 1; }
  fi
elif [ -z "$version" ]; then
  fetch "$name" || { log "apt-get source $name failed"; exit 1; }
fi
dsc=$(ls ./*.dsc 2>/dev/null | head -n1)
tree=$(find . -mindepth 1 -maxdepth 1 -type d | head -n1)
[ -n "$dsc" ] && [ -n "$tree" ] || { log "apt-get source $name left no tree"; exit 1; }
got=$(sed -n 's/^Version: //p' "$dsc" | head -n1)
tree=${tree#./}
# Replace any older unpack of this package.
if [ -f "$stamp" ]; then
  old=$(head -n1 "$stamp")
  [ -n "$old" ] && rm -rf "${pkgdir:?}/$old"
  rm -f "$stamp"
fi
rm -rf "${pkgdir:?}/$tree" "$pkgdir"/dl
mkdir -p "$pkgdir/dl"
mv "$tree" "$pkgdir/$tree"
mv ./* "$pkgdir/dl/" 2>/dev/null   # .dsc, .orig.tar.*, .debian.tar.*
printf '%s\n%s\n%s\n' "$tree" "$got" "$version" >"$stamp"
log "$name $got unpacked in $pkgdir/$tree"
echo "$pkgdir/$tree"
