#!/usr/bin/env bash
# README command 1: start the local stack on the embedded defaults and walk through knit:
# push a directory as tagged Data, find it, retag it, and pull it back byte-identical.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/env.sh
ensure_node_modules
npm run --silent build

export KNIT_HOME="${KNIT_HOME:-$HOME/.knit}"
PORT="${KNIT_DEMO_PORT:-7420}"
export KNIT_SERVER="${KNIT_SERVER:-http://127.0.0.1:$PORT}"
knit() { node bin/knit.js "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

WORK="$(mktemp -d)"
UP_PID=""
cleanup() {
  if [ -n "$UP_PID" ]; then
    kill -INT "$UP_PID" 2>/dev/null || true
    wait "$UP_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if node -e "fetch(process.env.KNIT_SERVER + '/api/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
  say "using the knit already running at $KNIT_SERVER"
else
  say "starting knit (knit up) with KNIT_HOME=$KNIT_HOME"
  node bin/knit.js up --listen "127.0.0.1:$PORT" > "$WORK/up.out" 2> "$WORK/up.err" &
  UP_PID=$!
  for _ in $(seq 1 300); do
    grep -q 'knit is up' "$WORK/up.out" 2>/dev/null && break
    if ! kill -0 "$UP_PID" 2>/dev/null; then cat "$WORK/up.err" >&2; exit 1; fi
    sleep 0.2
  done
  cat "$WORK/up.out" >&2
fi

say "a sample dataset"
DATASET="$WORK/iris"
mkdir -p "$DATASET/raw" "$DATASET/empty"
printf 'sepal_length,sepal_width,species\n5.1,3.5,setosa\n7.0,3.2,versicolor\n6.3,3.3,virginica\n' > "$DATASET/raw/iris.csv"
printf '#!/bin/sh\necho "checksum ok"\n' > "$DATASET/verify.sh" && chmod +x "$DATASET/verify.sh"
ln -s raw/iris.csv "$DATASET/latest.csv"
find "$DATASET" -printf '  %M %p\n' | sed "s#$WORK/##" >&2

say "knit data push -t type:dataset -t project:iris -n $DATASET"
ID="$(knit data push -t type:dataset -t project:iris -n "$DATASET" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).id))')"

say "knit data find -t project:iris"
knit data find -t project:iris --json | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{for(const d of JSON.parse(s))console.log(`  ${d.id}  ${d.createdAt}  ${d.tags.filter(t=>!t.startsWith("knit#")).join(" ")}`)})'

say "knit data tag --add stage:validated --remove type:dataset $ID"
knit data tag --add stage:validated --remove type:dataset "$ID" --json | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log("  tags: " + JSON.parse(s).tags.join(" ")))'

say "knit data pull -x $ID $WORK/pulled"
knit data pull -x "$ID" "$WORK/pulled" >/dev/null
if diff -r --no-dereference "$DATASET" "$WORK/pulled/$ID" >&2; then
  say "pulled back byte-identical: $WORK/pulled/$ID matches the pushed directory"
else
  echo "the pulled tree differs from the pushed one" >&2
  exit 1
fi
