#!/usr/bin/env bash
# Builds knit-test/busybox:1, the image tests and the demo run, from a static busybox: no registry.
set -euo pipefail
source "$(dirname "$0")/lib/test-image.sh"
IMAGE="${1:-$TEST_IMAGE}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
make_test_image_rootfs "$ROOT"
tar -C "$ROOT" -c . | docker import -c "ENV $TEST_IMAGE_ENV" -c "CMD [\"$TEST_IMAGE_CMD\"]" - "$IMAGE" >/dev/null
echo "built $IMAGE" >&2
