#!/usr/bin/env bash
# Installs the Debian packages Talos needs to build and test, if missing.
# Usage: scripts/deps.sh [build|test|run|softroce]   (default: build)
#   build: C headers for the verbs transport (cgo over libibverbs/librdmacm)
#   test:  build + redis-tools (redis-cli and redis-benchmark drive the server)
#   run:   build + redis-tools
set -euo pipefail

want=(gcc make pkg-config libibverbs-dev librdmacm-dev)
case "${1:-build}" in
  build) ;;
  test | run) want+=(redis-tools) ;;
  *) echo "deps.sh: unknown profile '${1}' (want build, test or run)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
  command -v sudo >/dev/null || { echo "deps.sh: need root to install: ${missing[*]}" >&2; exit 1; }
else
  sudo=
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
