#!/usr/bin/env bash
# Builds knit-test/busybox:1, the image tests and the demo run, from a static busybox: no registry.
set -euo pipefail
IMAGE="${1:-knit-test/busybox:1}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
BUSYBOX="${BUSYBOX:-$(command -v busybox || true)}"
if [ -z "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "building $IMAGE needs a static busybox; install it (Debian: apt-get install busybox-static) or set BUSYBOX" >&2
  exit 1
fi
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/bin" "$ROOT/tmp" "$ROOT/etc"
chmod 1777 "$ROOT/tmp"
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$ROOT/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
tar -C "$ROOT" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$IMAGE" >/dev/null
echo "built $IMAGE" >&2
