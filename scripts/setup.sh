#!/usr/bin/env bash
# One-time set-up, safe to run every time: npm packages, then the Debian packages Chancery
# runs against (redis-server for the queue, poppler-utils for the tests' PDF checks).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # npm ci trips over msgpackr-extract's optional platform packages missing from the lock file; install honours the lock.
  npm install --no-audit --no-fund
fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "chancery: please install the Debian packages: ${missing[*]}" >&2; exit 3
  fi
  echo "chancery: installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
