# knit-test/busybox:1, the image of the tests and the demo: a static busybox and nothing else.
# Sourced by scripts/build-test-image.sh (Docker) and k8s/dev-cluster/start.sh (the dev cluster's
# containerd), so both engines run the same files with the same settings.
TEST_IMAGE=knit-test/busybox:1
TEST_IMAGE_ENV=PATH=/bin
TEST_IMAGE_CMD=sh

# make_test_image_rootfs DIR: writes the image's root filesystem into the empty folder DIR.
make_test_image_rootfs() {
  local root=$1 busybox=${BUSYBOX:-$(command -v busybox || true)}
  if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    echo "building $TEST_IMAGE needs a static busybox; install it (Debian: apt-get install busybox-static) or set BUSYBOX" >&2
    return 1
  fi
  mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  local applet
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
}
