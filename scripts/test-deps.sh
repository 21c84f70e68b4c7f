#!/usr/bin/env bash
# System tools some tests use: Chromium (the safety review page is tested in a real headless browser) and
# unshare from util-linux (the code sandbox's namespaces). Installed when missing and we are root;
# otherwise those tests skip and say why.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v unshare >/dev/null || need+=(util-linux)
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "note: ${need[*]} missing and not root: the tests that need them will be skipped" >&2
  exit 0
fi
ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
