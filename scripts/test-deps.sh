#!/usr/bin/env bash
# `npm test`'s first step: every system program the tests and benchmarks start is present, or gets installed with
# apt-get (Debian or Ubuntu, as root or with passwordless sudo), or the run stops naming the packages to install.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# variable|program|Debian package|what needs it. The variables are those the test helpers read for a program's path.
PROGRAMS=(
  "CHROMIUM_PATH|/usr/bin/chromium|chromium|browser tests"
  "FIREFOX_PATH|/usr/bin/firefox-esr|firefox-esr|browser tests"
  "TURNSERVER_PATH|/usr/bin/turnserver|coturn|TURN tests"
  "|certutil|libnss3-tools|TURN tests"
  "|openssl|openssl|test certificates"
  "|redis-server|redis-server|cluster tests"
  "|redis-cli|redis-tools|cluster tests"
  "HAPROXY_PATH|/usr/sbin/haproxy|haproxy|proxy test"
  "NFT_PATH|/usr/sbin/nft|nftables|network-switch test"
  "|systemd-analyze|systemd|systemd unit test"
)

present() { if [[ $1 == */* ]]; then [ -x "$1" ]; else command -v "$1" >/dev/null 2>&1; fi; }

missing=() programs=() purposes=()
declare -A for_purpose=()
for entry in "${PROGRAMS[@]}"; do
  IFS='|' read -r variable program package purpose <<<"$entry"
  if [ -n "$variable" ] && [ -n "${!variable:-}" ]; then
    # A path the user chose is theirs to fix: Debian's package would not put anything there.
    present "${!variable}" || th_die "$variable=${!variable} is not an executable; unset it to use Debian's $package"
    continue
  fi
  present "$program" && continue
  missing+=("$package") programs+=("$program")
  [ -n "${for_purpose[$purpose]:-}" ] || purposes+=("$purpose")
  for_purpose[$purpose]+="${for_purpose[$purpose]:+, }$package"
done
[ ${#missing[@]} -eq 0 ] && exit 0

INSTALL="apt-get install -y --no-install-recommends ${missing[*]}"
os_like=$( . /etc/os-release 2>/dev/null && echo "$ID ${ID_LIKE:-}" || true)
if [[ " $os_like " != *" debian "* && " $os_like " != *" ubuntu "* ]] || ! command -v apt-get >/dev/null 2>&1; then
  th_die "the tests need these Debian packages, missing here: ${missing[*]}; install them (or your system's equivalents) with: sudo $INSTALL"
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=(env)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n env)
else
  th_die "the tests need these Debian packages, missing here: ${missing[*]}; install them with: sudo $INSTALL"
fi

why=$(for purpose in "${purposes[@]}"; do printf '%s (%s); ' "${for_purpose[$purpose]}" "$purpose"; done)
th_log "installing with apt-get what the tests need: ${why%; }"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt() { "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0 "$@" >>"$log" 2>&1; }
installed() { dpkg-query -W -f '${db:Status-Abbrev} ${binary:Package}\n' | awk '$1 == "ii" { print $2 }' | sort; }

before=$(installed)
# Package lists are fetched only when they do not know a package yet, or are stale enough that a download fails.
if ! apt-cache show --no-all-versions "${missing[@]}" >/dev/null 2>&1; then apt update; fi
if ! apt install -y --no-install-recommends "${missing[@]}"; then
  apt update && apt install -y --no-install-recommends "${missing[@]}" \
    || { tail -n 20 "$log" >&2; th_die "apt-get could not install ${missing[*]}; try: sudo $INSTALL"; }
fi

# Postinst scripts may start system services (Redis on 6379, coturn on 3478/5349): the tests start their own on free
# ports, so whatever this install started or enabled is stopped and disabled again.
for package in $(comm -13 <(echo "$before") <(installed)); do
  dpkg-query -L "$package" 2>/dev/null | sed -nE 's#^(/usr)?/lib/systemd/system/([^/@]+\.service)$#\2#p; s#^/etc/init\.d/([^/]+)$#\1#p'
done | sed 's/\.service$//' | sort -u | while read -r service; do
  if [ -d /run/systemd/system ]; then
    if systemctl is-active --quiet "$service" || systemctl is-enabled --quiet "$service" 2>/dev/null; then
      "${as_root[@]}" systemctl disable --now --quiet "$service" >>"$log" 2>&1 || true
    fi
  elif [ -x "/etc/init.d/$service" ] && "${as_root[@]}" "/etc/init.d/$service" status >/dev/null 2>&1; then
    "${as_root[@]}" "/etc/init.d/$service" stop >>"$log" 2>&1 || true
  fi
done

for program in "${programs[@]}"; do
  present "$program" || th_die "apt-get installed ${missing[*]}, yet $program is still not found (PATH=$PATH)"
done
