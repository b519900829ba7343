#!/usr/bin/env bash
# Builds knit's agent image and puts it into the dev cluster's containerd as
# localhost/knit-agent:<package version> (what executor/kubernetes/agent-image/image.ts names).
# Idempotent: the rootfs and the OCI archive are deterministic, so a second run re-imports the
# same image digest.
#
#   scripts/build-agent-image.sh [--no-import]    --no-import: build the rootfs only (no cluster)
# The rootfs is left in dist/agent-rootfs (KNIT_AGENT_ROOTFS overrides).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH=/opt/node24/bin:$PATH
import=yes
case ${1:-} in
  "") ;;
  --no-import) import=no ;;
  *) echo "usage: $0 [--no-import]" >&2; exit 2 ;;
esac
npx tsc -p tsconfig.json
rootfs=${KNIT_AGENT_ROOTFS:-$repo/dist/agent-rootfs}
bash executor/kubernetes/agent-image/build.sh "$rootfs" >/dev/null
version=$(node -p "require('./package.json').version")
image=localhost/knit-agent:$version
echo "agent rootfs: $rootfs ($(du -sh "$rootfs" | cut -f1))" >&2
if [ "$import" = yes ]; then
  bash k8s/dev-cluster/import-image.sh "$image" "$rootfs" \
    --entrypoint '["/usr/local/bin/node","/knit/agent/main.js"]' --env PATH=/usr/local/bin
fi
