#!/usr/bin/env bash
# README command 1: on the embedded defaults, start the local stack (PostgreSQL as PGlite, the
# Temporal dev server, the API and the worker), then run a two-stage pipeline end to end:
# push a dataset, apply a "train" and an "evaluate" plan, wait for their runs in Docker, print
# the results and the lineage. Also shows tagging and a byte-identical pull. Stops what it started.
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
# json EXPR [ARG…]: prints EXPR evaluated over the JSON on stdin (as v); extra args are argv[2…].
json() { node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>{const v=JSON.parse(s);console.log(eval(process.argv[1]))})' "$@"; }

WORK="$(mktemp -d)"
UP_PID=""
cleanup() {
  if [ -n "$UP_PID" ]; then
    say "stopping knit (Ctrl-C)"
    kill -INT "$UP_PID" 2>/dev/null || true
    wait "$UP_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

say "building the demo image knit-test/busybox:1 locally (no registry)"
bash scripts/build-test-image.sh

if node -e "fetch(process.env.KNIT_SERVER + '/api/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
  say "using the knit already running at $KNIT_SERVER"
else
  say "starting knit (knit up) with KNIT_HOME=$KNIT_HOME"
  node bin/knit.js up --listen "127.0.0.1:$PORT" > "$WORK/up.out" 2> "$WORK/up.err" &
  UP_PID=$!
  for _ in $(seq 1 600); do
    grep -q 'Press Ctrl-C' "$WORK/up.out" 2>/dev/null && break
    if ! kill -0 "$UP_PID" 2>/dev/null; then cat "$WORK/up.err" >&2; UP_PID=""; exit 1; fi
    sleep 0.2
  done
  cat "$WORK/up.out" >&2
fi

say "a dataset"
DATASET="$WORK/iris"
mkdir -p "$DATASET"
cp examples/iris/data/iris.csv "$DATASET/iris.csv"
ln -s iris.csv "$DATASET/latest.csv"

say "knit data push -t project:iris -t type:dataset -n iris/"
DATA_ID="$(knit data push -t project:iris -t type:dataset -n "$DATASET" | json 'v.id')"

say "knit plan apply examples/iris/train.yaml; knit plan apply examples/iris/evaluate.yaml"
# Applying twice is refused as equivalent: on a second demo, reuse the plan already there.
apply() {
  local out
  if out="$(knit plan apply "$1" 2>/dev/null)"; then echo "$out" | json 'v.id'; else knit plan find -o "$2" --json | json 'v[0].id'; fi
}
TRAIN="$(apply examples/iris/train.yaml type:model)"
EVAL="$(apply examples/iris/evaluate.yaml type:metrics)"
echo "  train plan:    $TRAIN" >&2
echo "  evaluate plan: $EVAL" >&2

say "waiting for the train run, then the evaluate run it sets off"
wait_for_run() {
  local plan="$1" id=""
  for _ in $(seq 1 600); do
    id="$(knit run find -p "$plan" -i "$2" --json | json 'v.length ? v[v.length - 1].id : ""')"
    [ -n "$id" ] && break
    sleep 0.2
  done
  knit run wait "$id" > /dev/null
  echo "$id"
}
TRAIN_RUN="$(wait_for_run "$TRAIN" "$DATA_ID")"
MODEL_ID="$(knit run show "$TRAIN_RUN" --json | json 'v.outputs[0].dataId')"
EVAL_RUN="$(wait_for_run "$EVAL" "$MODEL_ID")"
knit run find -p "$TRAIN" -p "$EVAL" --json | json 'v.map(r => `  ${r.plan.id === process.argv[2] ? "train   " : "evaluate"} run ${r.id}  ${r.status}  exit ${r.exitCode}`).join("\n")' "$TRAIN" >&2

say "results"
METRICS_ID="$(knit run show "$EVAL_RUN" --json | json 'v.outputs[0].dataId')"
knit data pull -x "$MODEL_ID" "$WORK/out" > /dev/null 2>&1
knit data pull -x "$METRICS_ID" "$WORK/out" > /dev/null 2>&1
echo "  model ($MODEL_ID):"; sed 's/^/    /' "$WORK/out/$MODEL_ID/model.txt"
echo "  metrics ($METRICS_ID):"; sed 's/^/    /' "$WORK/out/$METRICS_ID/metrics.txt"
echo "  train log:"; knit run log "$TRAIN_RUN" | sed 's/^/    /'

say "lineage of the metrics, back to the upload (knit data lineage -u $METRICS_ID)"
knit data lineage -u -n all --format tree "$METRICS_ID" | sed 's/^/  /'
echo "  (as a picture: bash scripts/lineage-picture.sh $METRICS_ID lineage.svg)"

say "tags change, content never does: knit data tag --add stage:validated $DATA_ID"
knit data tag --add stage:validated "$DATA_ID" --json | json '"  tags: " + v.tags.join(" ")'
knit data pull -x "$DATA_ID" "$WORK/pulled" > /dev/null 2>&1
if diff -r --no-dereference "$DATASET" "$WORK/pulled/$DATA_ID" >&2; then
  say "pulled the dataset back byte-identical"
else
  echo "the pulled dataset differs from the pushed one" >&2
  exit 1
fi
