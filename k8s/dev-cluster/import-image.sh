#!/usr/bin/env bash
# Puts an image into the dev cluster's containerd, where Pods find it with imagePullPolicy Never
# (the cluster has no registry).
#
#   import-image.sh NAME:TAG ROOTFS_DIR [oci-image.py options: --env, --cmd, --entrypoint, --workdir]
#   import-image.sh NAME:TAG --docker IMAGE     moves an image of the local Docker engine over
#
# NAME is stored the way the kubelet looks it up: `knit-test/busybox:1` in a Pod spec means
# `docker.io/knit-test/busybox:1`, and `busybox:1` means `docker.io/library/busybox:1`, so a Pod
# spec can use the short name. Prints the stored name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

usage() { echo "usage: $0 NAME:TAG (ROOTFS_DIR [--env K=V] [--cmd JSON] [--entrypoint JSON] [--workdir DIR] | --docker IMAGE)" >&2; exit 2; }
[ $# -ge 2 ] || usage

# The reference normalisation of containerd's CRI (and Docker): a first part with a dot or a
# colon, or `localhost`, is a registry; otherwise the image is on docker.io, under library/ when
# it has no slash.
full_name() {
  local ref=$1 first=${1%%/*}
  case $ref in
    */*) case $first in *.*|*:*|localhost) echo "$ref" ;; *) echo "docker.io/$ref" ;; esac ;;
    *) echo "docker.io/library/$ref" ;;
  esac
}
name=$1; shift
case ${name##*/} in
  *:*) ;;
  *) die "NAME:TAG: '$name' has no tag (a Pod with imagePullPolicy Never needs the exact tag)" ;;
esac
[[ $name =~ ^[a-z0-9][a-z0-9._/:-]*$ ]] || die "NAME:TAG: '$name' is not an image reference"
target=$(full_name "$name")
[ -S "$K8S_CONTAINERD_SOCK" ] || die "the dev cluster's containerd is not running ($K8S_CONTAINERD_SOCK); run k8s/dev-cluster/start.sh"

if [ "$1" = --docker ]; then
  [ $# -eq 2 ] || usage
  source_image=$2
  docker image inspect "$source_image" >/dev/null || die "--docker: no image '$source_image' in the Docker engine"
  # `docker save` writes the Docker archive format, which containerd's importer reads; the name
  # it gets is the normalised form of the tag we saved by.
  saved_as=$(full_name "$source_image")
  docker save "$source_image" | k8s_ctr images import - >/dev/null
  if [ "$saved_as" != "$target" ]; then
    k8s_ctr images tag --force "$saved_as" "$target" >/dev/null
    k8s_ctr images rm "$saved_as" >/dev/null
  fi
else
  rootfs=$1; shift
  [ -d "$rootfs" ] || die "ROOTFS_DIR: '$rootfs' is not a folder"
  archive=$(mktemp "${TMPDIR:-/tmp}/knit-oci.XXXXXX.tar")
  trap 'rm -f "$archive"' EXIT
  python3 "$here/oci-image.py" "$rootfs" --ref "$target" --out "$archive" "$@" >/dev/null
  k8s_ctr images import "$archive" >/dev/null
fi
k8s_ctr images ls -q "name==$target" | grep -qx "$target" || die "containerd does not list $target after the import"
echo "$target"
