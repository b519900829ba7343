#!/usr/bin/env bash
# Makes the root filesystem of knit's own image (knitd, the worker and the Pods' agent in one) in
# OUT_DIR, from this checkout's build and the worker's Node.js: no base image, no registry, no
# network. The layout is the Dockerfile's, so the manifests in k8s/ run either image:
#
#   /usr/local/bin/node     node and the libraries it links (scripts/lib/node-rootfs.sh)
#   /knit/bin/*.js          knitd.js, knit-worker.js, knit.js, knit-agent.js
#   /knit/dist/             the compiled code and the workflow bundle (no tests, no benchmarks)
#   /knit/node_modules/     the production dependencies only
#   /knit/agent -> dist/agent   so the image also serves as KNIT_AGENT_IMAGE (agent-image/image.ts)
#
#   build.sh OUT_DIR        OUT_DIR must be absent, empty, or an earlier output of this script
# Needs `npm run build` first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
die() { echo "k8s/image/build.sh: $*" >&2; exit 1; }
. "$repo/scripts/lib/node-rootfs.sh"

[ $# -eq 1 ] || die "usage: build.sh OUT_DIR"
out=$1
node_bin=${KNIT_IMAGE_NODE:-/opt/node24/bin/node}
[ -x "$node_bin" ] || die "no node binary at $node_bin (set KNIT_IMAGE_NODE)"
for f in dist/api/main.js dist/worker/main.js dist/workflow-bundle.js dist/agent/main.js; do
  [ -f "$repo/$f" ] || die "$repo/$f is missing: build first (npm run build)"
done

# The stamp, written first, says a folder is this script's to wipe.
stamp=.knit-image-rootfs
reset_output_dir "$out" "$stamp" knit-image
mkdir -p "$out/knit"
out=$(cd "$out" && pwd)
echo knit-image >"$out/$stamp"

make_node_rootfs "$out" "$node_bin"

cd "$repo"
cp package.json "$out/knit/"
cp -r bin "$out/knit/"
mkdir -p "$out/knit/dist"
for d in dist/*; do
  case ${d#dist/} in
    test|bench|agent-rootfs|knit-rootfs|*.tsbuildinfo) ;;
    *) cp -r "$d" "$out/knit/dist/" ;;
  esac
done
find "$out/knit/dist" \( -name '*.map' -o -name '*.d.ts' \) -delete
ln -s dist/agent "$out/knit/agent"

# Production dependencies as npm resolved them (the same tree as `npm ci --omit=dev`), copied
# rather than installed, so the build needs no network.
npm ls --omit=dev --parseable --all 2>/dev/null | tail -n +2 | sed "s#^$repo/##" | sort -u >"$out/.deps"
[ -s "$out/.deps" ] || die "npm ls found no production dependencies (run npm ci first)"
tar -C "$repo" -cf - --files-from="$out/.deps" | tar -C "$out/knit" -xf -
rm "$out/.deps"
# The Temporal core bridge ships a native library per platform; keep this machine's.
case $(uname -m) in
  x86_64) keep=x86_64-unknown-linux-gnu ;;
  aarch64) keep=aarch64-unknown-linux-gnu ;;
  *) keep=none ;;
esac
releases=$out/knit/node_modules/@temporalio/core-bridge/releases
if [ -d "$releases/$keep" ]; then
  find "$releases" -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} +
fi
# Native addons (the core bridge) link libraries node itself does not.
mapfile -t addons < <(find "$out/knit/node_modules" -name '*.node' -type f)
if [ ${#addons[@]} -gt 0 ]; then copy_linked_libraries "$out" "${addons[@]}"; fi
echo "$out"
