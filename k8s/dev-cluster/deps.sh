#!/usr/bin/env bash
# Debian packages the dev cluster runs on. Asks apt only for what is missing, so it returns in
# well under a second on a machine that has them all.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# etcd-server: the cluster's store; containerd + runc: the container runtime behind the kubelet
# (a second instance, not Docker's); containernetworking-plugins: bridge/host-local/loopback CNI;
# busybox-static: the test image; gcc + libc6-dev: the static pause binary; openssl: the PKI;
# iptables + conntrack: kube-proxy's Service rules.
K8S_DEB_PACKAGES=(etcd-server containerd runc containernetworking-plugins busybox-static gcc libc6-dev openssl iproute2 iptables conntrack)

missing=()
for p in "${K8S_DEB_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# On a host with systemd the etcd-server package starts a system etcd on our port 2379.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q etcd 2>/dev/null; then
  say "disabling the system etcd the package started"
  systemctl disable --now etcd
fi
say "packages present: ${K8S_DEB_PACKAGES[*]}"
