#!/usr/bin/env bash
# Stops what start.sh started and leaves the machine as it found it: Pods are removed through
# CRI (so CNI releases their addresses and netns), then the components stop by their PID files,
# our mounts are unmounted, our two bridges deleted and the kernel settings put back.
#   stop.sh           keeps cluster state, certificates and images: the next start is a restart
#   stop.sh --purge   also deletes all of it ($KNIT_K8S_ROOT): the next start is from nothing
# Never touches anything it did not create: no process is found by name, only by PID file or
# by being a shim of our own containerd socket.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
purge=false
case ${1:-} in --purge) purge=true ;; "") ;; *) echo "usage: $0 [--purge]" >&2; exit 2 ;; esac

started_at=$EPOCHREALTIME
elapsed() { printf '%5.1fs' "$(awk -v a="$started_at" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')"; }
alive() { [ -f "$K8S_PIDS/$1.pid" ] && kill -0 "$(cat "$K8S_PIDS/$1.pid")" 2>/dev/null; }

# stop_all NAME...: SIGTERM to each at once, then up to 20 s for each to exit, then SIGKILL.
stop_all() {
  local name pid entries=()
  for name in "$@"; do
    if alive "$name"; then pid=$(cat "$K8S_PIDS/$name.pid"); kill "$pid"; entries+=("$name:$pid"); fi
  done
  for entry in "${entries[@]}"; do
    name=${entry%%:*} pid=${entry##*:}
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then say "$name did not stop; SIGKILL"; kill -9 "$pid"; fi
    say "$(elapsed) stopped $name"
  done
  for name in "$@"; do rm -f "$K8S_PIDS/$name.pid"; done
}

# The control loops first, so nothing recreates what is removed next.
stop_all kube-scheduler kube-controller-manager kubelet kube-proxy

if alive containerd && [ -S "$K8S_CONTAINERD_SOCK" ]; then
  crictl=("$K8S_BIN/crictl" --runtime-endpoint "unix://$K8S_CONTAINERD_SOCK" --image-endpoint "unix://$K8S_CONTAINERD_SOCK" --timeout 20s)
  pods=$("${crictl[@]}" pods -q 2>/dev/null)
  if [ -n "$pods" ]; then
    # shellcheck disable=SC2086 # one argument per pod id
    "${crictl[@]}" stopp $pods >/dev/null 2>&1
    # shellcheck disable=SC2086
    "${crictl[@]}" rmp --force $pods >/dev/null 2>&1
  fi
  # Whatever CRI did not remove (a container whose sandbox is gone): kill and delete it directly.
  for task in $(k8s_ctr tasks ls -q 2>/dev/null); do k8s_ctr tasks kill --signal SIGKILL "$task" >/dev/null 2>&1; done
  for task in $(k8s_ctr tasks ls -q 2>/dev/null); do k8s_ctr tasks delete --force "$task" >/dev/null 2>&1; done
  for c in $(k8s_ctr containers ls -q 2>/dev/null); do k8s_ctr containers delete "$c" >/dev/null 2>&1; done
  say "$(elapsed) removed $(echo "$pods" | grep -c .) pod sandbox(es)"
fi

stop_all kube-apiserver containerd
stop_all etcd

# Shims outlive a containerd that was killed; ours are the ones started with our socket.
for dir in /proc/[0-9]*; do
  cmdline=$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null) || continue
  case $cmdline in
    *containerd-shim*" -address $K8S_CONTAINERD_SOCK "*) kill -9 "${dir#/proc/}" 2>/dev/null && say "killed leftover shim ${dir#/proc/}" ;;
  esac
done
# Mounts below our folders, deepest first: pod volumes, netns bind mounts, overlay rootfs, shm.
awk '{ print $2 }' /proc/mounts | grep -E "^($KNIT_K8S_ROOT|$K8S_CONTAINERD_STATE)(/|$)" | sort -r |
  while read -r m; do umount -l "$m" 2>/dev/null || say "could not unmount $m"; done
# kube-proxy's chains and rules, and our FORWARD rule for the Pods.
if [ -x "$K8S_BIN/kube-proxy" ]; then "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || say "kube-proxy --cleanup failed"; fi
while iptables -C FORWARD "${K8S_FORWARD_RULE[@]}" 2>/dev/null; do iptables -D FORWARD "${K8S_FORWARD_RULE[@]}"; done
# The kubelet's own chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT): the jumps to
# them from the built-in chains first, then the chains. Nothing else here names a chain KUBE-*.
for cmd in iptables ip6tables; do
  command -v "$cmd" >/dev/null || continue
  for table in mangle nat filter; do
    "$cmd" -t "$table" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' | sed 's/^-A/-D/' |
      while read -r rule; do eval "\"$cmd\" -t $table $rule" || say "could not delete $cmd -t $table $rule"; done
    chains=$("$cmd" -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/ { print $2 }')
    for chain in $chains; do "$cmd" -t "$table" -F "$chain"; done
    for chain in $chains; do "$cmd" -t "$table" -X "$chain" || say "could not delete chain $chain ($cmd -t $table)"; done
  done
done
ip link delete "$K8S_POD_BRIDGE" 2>/dev/null
ip link delete "$K8S_NODE_LINK" 2>/dev/null
# Leases of addresses whose Pods are gone; CNI would otherwise hand out fresh ones forever.
rm -rf "$K8S_DATA/cni-ipam"
# The kubelet's cgroups, once empty (rmdir refuses a cgroup that still has tasks).
for ctrl in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods.slice; do
  [ -d "$ctrl" ] && find "$ctrl" -depth -type d -exec rmdir {} \; 2>/dev/null
done

if [ -f "$K8S_PIDS/sysctl.saved" ]; then
  while IFS= read -r line; do sysctl -qw "$line" || say "could not restore $line"; done <"$K8S_PIDS/sysctl.saved"
  rm -f "$K8S_PIDS/sysctl.saved"
fi

if $purge; then
  rm -rf "$KNIT_K8S_ROOT" "$K8S_CONTAINERD_STATE"
  say "purged $KNIT_K8S_ROOT and $K8S_CONTAINERD_STATE"
fi
say "$(elapsed) stopped"
