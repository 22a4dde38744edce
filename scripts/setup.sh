#!/usr/bin/env bash
# One-time set-up, safe to run every time: npm packages (npm ci), then the Debian packages Chancery runs
# against. `setup.sh demo`: redis-server (the managed queue). `setup.sh test`: also poppler-utils
# (the tests read PDFs back with pdftotext/pdftoppm), chromium (the web console's browser tests) and
# postgresql (the store tests run on PostgreSQL too: a private cluster made with Debian's initdb).
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-test}"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # Exactly the committed lock file; it is never rewritten here.
  npm ci --no-audit --no-fund
fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "$purpose" = test ]; then
  command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin, not on PATH.
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "chancery: please install the Debian packages: ${missing[*]}" >&2; exit 3
  fi
  echo "chancery: installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
