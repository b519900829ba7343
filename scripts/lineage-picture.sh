#!/usr/bin/env bash
# Draws a Data's lineage as SVG with Graphviz, through the CLI as a person would:
#   knit data lineage -n all --format dot ID | dot -Tsvg > OUT
# Usage: scripts/lineage-picture.sh [DATA_ID [OUT]], against the knit at KNIT_SERVER (or the
# profile's). Without an id, the newest metrics of the demo pipeline (project:iris,
# type:metrics): run the demo first (npm run demo). OUT defaults to docs/lineage.svg, the
# picture the README shows.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dot > /dev/null || { echo "lineage-picture: Graphviz's dot is not on PATH (Debian: apt-get install graphviz)" >&2; exit 1; }
knit() { node bin/knit.js "$@"; }

ID="${1:-}"
OUT="${2:-docs/lineage.svg}"
if [ -z "$ID" ]; then
  ID="$(knit data find -t project:iris -t type:metrics --json | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const v=JSON.parse(s).filter(d=>!d.transient).sort((a,b)=>a.createdAt.localeCompare(b.createdAt));if(!v.length){process.exit(1)}console.log(v[v.length-1].id)})')" \
    || { echo "lineage-picture: no Data tagged project:iris, type:metrics at the knit server: run the demo first, or name a Data id" >&2; exit 1; }
fi
mkdir -p "$(dirname "$OUT")"
# Written aside and moved, so a failure leaves no half picture behind.
knit data lineage -n all --format dot "$ID" | dot -Tsvg > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "lineage of $ID drawn in $OUT" >&2
