#!/usr/bin/env bash
# Fetches the delta corpus (the firmware pairs pinned in pairs.tsv) into DEST:
#   bash fetch-corpus.sh DEST
# Writes DEST/<pair>/old.bin and new.bin and DEST/manifest.tsv; downloads stay in DEST/.cache, so a
# second run needs no network. Exits non-zero when a file could not be fetched or its SHA-256 is
# not the pinned one. See README.md beside this script.
set -uo pipefail

dest=${1:?usage: fetch-corpus.sh DEST}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$dest" && dest=$(cd "$dest" && pwd)
cache=$dest/.cache
aptdir=$cache/apt
mkdir -p "$cache/npm" "$cache/deb" "$cache/tmp"

say() { printf '%s\n' "$*" >&2; }

# npm: `npm pack` fetches a package's published tarball without installing it.
npm_tarball() { # NAME VERSION -> path of the cached tarball
  local name=$1 version=$2 file
  file=$cache/npm/$name-$version.tgz
  if [ ! -s "$file" ]; then
    local packed
    packed=$(cd "$cache/npm" && npm pack "$name@$version" --silent 2>/dev/null | tail -n 1) || return 1
    [ -n "$packed" ] && [ -s "$cache/npm/$packed" ] || return 1
    [ "$cache/npm/$packed" = "$file" ] || mv "$cache/npm/$packed" "$file"
  fi
  printf '%s\n' "$file"
}

# Debian: apt-get with its own configuration under $aptdir (sources, lists, cache), so the
# machine's apt state is left alone. The archive is the one this machine's apt sources already
# name; we add the components and the suite the pinned packages live in.
apt_args=(
  -o "Dir::Etc::SourceList=$aptdir/sources.list"
  -o "Dir::Etc::SourceParts=$aptdir/sources.list.d"
  -o "Dir::Etc::Preferences=$aptdir/preferences"
  -o "Dir::Etc::PreferencesParts=$aptdir/preferences.d"
  -o "Dir::State::Lists=$aptdir/lists"
  -o "Dir::Cache=$aptdir/cache"
  -o "Acquire::Languages=none"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
)
# Refreshed at most once per run (a marker file: deb_package runs in command substitutions).
rm -f "$aptdir/.updated"

system_archive() { # the first Debian archive URI (not the security one) in the system's sources
  local uri
  for uri in $(
    {
      sed -n 's/^[[:space:]]*URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
      sed -n 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
    } | tr ' ' '\n'
  ); do
    case $uri in */debian | */debian/) printf '%s\n' "${uri%/}"; return 0 ;; esac
  done
  return 1
}

apt_prepare() {
  [ -f "$aptdir/.updated" ] && return 0
  local archive keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  archive=$(system_archive) || { say "no Debian archive in this machine's apt sources"; return 1; }
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" \
    "$aptdir/sources.list.d" "$aptdir/preferences.d"
  {
    for suite in bookworm bookworm-updates bookworm-backports; do
      echo "deb [signed-by=$keyring] $archive $suite main non-free-firmware"
    done
  } > "$aptdir/sources.list"
  say "apt-get update (private lists in $aptdir)"
  apt-get "${apt_args[@]}" -qq update >&2 || { say "apt-get update failed"; return 1; }
  touch "$aptdir/.updated"
}

deb_package() { # NAME VERSION -> path of the cached .deb
  local name=$1 version=$2 dir file
  dir=$cache/deb/$name/$version
  file=$(find "$dir" -maxdepth 1 -name '*.deb' 2>/dev/null | head -n 1)
  if [ -z "$file" ]; then
    apt_prepare || return 1
    mkdir -p "$dir"
    (cd "$dir" && apt-get "${apt_args[@]}" -qq download "$name=$version" >&2) ||
      { say "apt-get download $name=$version failed (gone from the archive?)"; return 1; }
    file=$(find "$dir" -maxdepth 1 -name '*.deb' | head -n 1)
  fi
  [ -n "$file" ] && printf '%s\n' "$file"
}

fetch_file() { # KIND NAME VERSION PATH OUT
  local kind=$1 name=$2 version=$3 path=$4 out=$5 archive
  case $kind in
    npm)
      archive=$(npm_tarball "$name" "$version") || { say "npm pack $name@$version failed"; return 1; }
      tar -xzOf "$archive" "$path" > "$out" ;;
    npm-ihex)
      archive=$(npm_tarball "$name" "$version") || { say "npm pack $name@$version failed"; return 1; }
      tar -xzOf "$archive" "$path" > "$cache/tmp/image.hex" &&
        node "$here/ihex-to-bin.mjs" "$cache/tmp/image.hex" "$out" ;;
    deb)
      archive=$(deb_package "$name" "$version") || return 1
      dpkg-deb --fsys-tarfile "$archive" | tar -xOf - "$path" > "$out" ;;
    *) say "unknown kind $kind"; return 1 ;;
  esac
}

status=0
declare -A complete=()
while IFS=$'\t' read -r pair side kind name version path sha256; do
  case $pair in '' | '#'*) continue ;; esac
  [ "${complete[$pair]:-1}" = 0 ] && continue
  mkdir -p "$dest/$pair"
  part=$dest/$pair/$side.bin.part
  if ! fetch_file "$kind" "$name" "$version" "$path" "$part" || [ ! -s "$part" ]; then
    say "miss $pair/$side.bin ($kind $name $version)"
    rm -f "$part"; complete[$pair]=0; status=1; continue
  fi
  actual=$(sha256sum "$part" | cut -d ' ' -f 1)
  if [ "$actual" != "$sha256" ]; then
    say "miss $pair/$side.bin: sha256 $actual, pinned $sha256"
    rm -f "$part"; complete[$pair]=0; status=1; continue
  fi
  mv "$part" "$dest/$pair/$side.bin"
  complete[$pair]=${complete[$pair]:-1}
done < "$here/pairs.tsv"

# manifest.tsv lists the complete pairs; it is written last, so its presence means a finished run.
{
  printf 'pair\told_bytes\tnew_bytes\n'
  for pair in $(grep -v '^#' "$here/pairs.tsv" | cut -f 1 | uniq); do
    if [ "${complete[$pair]:-0}" = 1 ] && [ -s "$dest/$pair/old.bin" ] && [ -s "$dest/$pair/new.bin" ]; then
      printf '%s\t%s\t%s\n' "$pair" "$(stat -c %s "$dest/$pair/old.bin")" "$(stat -c %s "$dest/$pair/new.bin")"
      say "ok   $pair"
    fi
  done
} > "$dest/manifest.tsv.part"
mv "$dest/manifest.tsv.part" "$dest/manifest.tsv"
exit $status
