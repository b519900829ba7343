#!/usr/bin/env bash
# Builds knit's image from this checkout (k8s/image/build.sh, no base image) and puts it into the
# dev cluster's containerd as localhost/knit:<package version>, the name the CI overlay
# (k8s/overlays/ci) runs. With a registry, build the Dockerfile instead.
#
#   scripts/build-knit-image.sh [--no-import]    --no-import: build the rootfs only (no cluster)
# The rootfs is left in dist/knit-rootfs (KNIT_IMAGE_ROOTFS overrides).
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
npm run --silent build
rootfs=${KNIT_IMAGE_ROOTFS:-$repo/dist/knit-rootfs}
bash k8s/image/build.sh "$rootfs" >/dev/null
echo "knit rootfs: $rootfs ($(du -sh "$rootfs" | cut -f1))" >&2
if [ "$import" = yes ]; then
  version=$(node -p "require('./package.json').version")
  bash k8s/dev-cluster/import-image.sh "localhost/knit:$version" "$rootfs" \
    --entrypoint '["/usr/local/bin/node"]' --cmd '["/knit/bin/knitd.js"]' --workdir /knit \
    --env PATH=/usr/local/bin --env NODE_ENV=production
fi
