#!/usr/bin/env bash
# Make sure this Debian machine can build the demo corpus: apt lists (for `apt-get download`) and the
# man-page renderer (man-db, groff, col). Needs root only when something is missing.
set -euo pipefail
need=()
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
command -v col >/dev/null || need+=(bsdextrautils)
lists_ok=0
ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 && lists_ok=1
if [ "${#need[@]}" -eq 0 ] && [ "$lists_ok" -eq 1 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "The demo corpus needs apt package lists and: ${need[*]:-nothing else}." >&2
  echo "Run as root once:  apt-get update && apt-get install -y man-db groff-base bsdextrautils" >&2
  exit 1
fi
apt-get update -qq
if [ "${#need[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
