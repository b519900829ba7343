#!/usr/bin/env bash
# npm run bench [name…]: runs the benchmarks in bench/ (all by default) and prints their figures.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/env.sh
ensure_node_modules
npm run --silent build
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=()
  for f in dist/bench/*.js; do names+=("$(basename "$f" .js)"); done
fi
for name in "${names[@]}"; do
  echo "== bench/$name" >&2
  node "dist/bench/$name.js"
done
