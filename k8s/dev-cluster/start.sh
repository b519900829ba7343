#!/usr/bin/env bash
# Starts the single-node dev cluster: etcd, a containerd of its own, kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy and the kubelet, each as a plain background process
# (no systemd, no kubeadm). Returns once the node is Ready and the default ServiceAccount exists,
# i.e. once a Pod can be created. Idempotent: a component whose PID file names a live process is
# left alone, so running it on a healthy cluster only re-checks it.
#
# Needs: deps.sh's packages and build.sh's binaries. Run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/../../scripts/lib/test-image.sh"

[ "$(id -u)" = 0 ] || die "run as root (it creates network links, mounts and cgroups)"
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl crictl; do
  [ -x "$K8S_BIN/$b" ] || die "$K8S_BIN/$b is missing; run k8s/dev-cluster/build.sh"
done

started_at=$EPOCHREALTIME
elapsed() { printf '%5.1fs' "$(awk -v a="$started_at" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')"; }
step() { say "$(elapsed) $*"; }

alive() { [ -f "$K8S_PIDS/$1.pid" ] && kill -0 "$(cat "$K8S_PIDS/$1.pid")" 2>/dev/null; }
# launch NAME COMMAND...: starts COMMAND in its own session, logging to logs/NAME.log.
launch() {
  local name=$1; shift
  if alive "$name"; then step "$name already running (pid $(cat "$K8S_PIDS/$name.pid"))"; return; fi
  setsid "$@" >>"$K8S_LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$K8S_PIDS/$name.pid"
  step "started $name (pid $!)"
}
# await WHAT SECONDS COMMAND...: polls COMMAND; on timeout shows the tail of every log and fails.
await() {
  local what=$1 seconds=$2; shift 2
  local until=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $until ]; then
      say "gave up after ${seconds}s waiting for $what"
      for f in "$K8S_LOGS"/*.log; do echo "--- $f" >&2; tail -n 8 "$f" >&2; done
      exit 1
    fi
    sleep 0.2
  done
  step "$what"
}

# Fail early, and say who, when a port we need is held by something that is not ours.
for entry in etcd:2379 etcd:2380 etcd:2381 kube-apiserver:6443 kube-controller-manager:10257 \
             kube-scheduler:10259 kubelet:10248 kubelet:10250 kube-proxy:10249 kube-proxy:10256; do
  name=${entry%%:*} port=${entry##*:}
  if ! alive "$name" && ss -ltnH "sport = :$port" | grep -q .; then
    die "port $port (for $name) is taken: $(ss -ltnpH "sport = :$port")"
  fi
done

mkdir -p "$K8S_LOGS" "$K8S_PIDS" "$K8S_CONFIG/cni" "$K8S_IMAGES" "$K8S_CONTAINERD_STATE" \
  "$K8S_DATA"/{etcd,kubelet,pod-logs,cni-ipam}
"$here/pki.sh"

# The kernel settings the kubelet will change, as they are before it ever ran (not overwritten
# while a cluster, or the leftovers of one that was not stopped, holds them).
if [ ! -f "$K8S_PIDS/sysctl.saved" ]; then
  for key in "${K8S_TOUCHED_SYSCTLS[@]}"; do echo "$key=$(sysctl -n "$key")"; done >"$K8S_PIDS/sysctl.saved.tmp"
  mv "$K8S_PIDS/sysctl.saved.tmp" "$K8S_PIDS/sysctl.saved"
fi

# The node address: the kubelet refuses a loopback one and this kernel has no dummy links, so a
# bridge with no ports holds it.
ensure_bridge() { # LINK ADDRESS/PREFIX MAC
  ip link show "$1" >/dev/null 2>&1 || ip link add "$1" type bridge
  ip -br addr show dev "$1" | grep -qw "$2" || ip addr add "$2" dev "$1"
  # A bridge without a set address takes the lowest of its ports' (the Pods' veths), so it
  # changes as Pods come and go, and Pods that cached the old one in ARP cannot reach the host
  # (an agent's upload to knitd then stalls). A fixed, locally administered address never moves.
  ip link set "$1" address "$3"
  ip link set "$1" up
}
ensure_bridge "$K8S_NODE_LINK" "$K8S_NODE_IP/32" 02:6b:6e:74:00:01
# The pod bridge with its gateway address, made now rather than by CNI at the first Pod, so a
# host service (knitd, for the Pods' agent) can bind 10.88.0.1 before any Pod exists. CNI finds
# the bridge and the address in place and uses them.
ensure_bridge "$K8S_POD_BRIDGE" "$K8S_POD_GATEWAY/$K8S_POD_PREFIX" 02:6b:6e:74:00:02

render() { # TEMPLATE OUTPUT
  sed -e "s#@DATA@#$K8S_DATA#g" -e "s#@STATE@#$K8S_CONTAINERD_STATE#g" -e "s#@SOCK@#$K8S_CONTAINERD_SOCK#g" \
      -e "s#@CONFIG@#$K8S_CONFIG#g" -e "s#@PKI@#$K8S_PKI#g" -e "s#@NODE_IP@#$K8S_NODE_IP#g" \
      -e "s#@PAUSE_IMAGE@#$K8S_PAUSE_IMAGE#g" -e "s#@POD_BRIDGE@#$K8S_POD_BRIDGE#g" \
      -e "s#@POD_SUBNET@#$K8S_POD_SUBNET#g" -e "s#@POD_GATEWAY@#$K8S_POD_GATEWAY#g" \
      -e "s#@SERVICE_SUBNET@#$K8S_SERVICE_SUBNET#g" -e "s#@NODE_NAME@#$K8S_NODE_NAME#g" \
      -e "s#@KUBECONFIGS@#$K8S_KUBECONFIGS#g" \
      "$here/templates/$1" >"$2"
}
render containerd.toml "$K8S_CONFIG/containerd.toml"
render kubelet.yaml "$K8S_CONFIG/kubelet.yaml"
render cni.conflist "$K8S_CONFIG/cni/10-knit-pods.conflist"
render kube-proxy.yaml "$K8S_CONFIG/kube-proxy.yaml"
# Docker sets the FORWARD policy to DROP, and br_netfilter sends bridged traffic through it, so
# Pod-to-Pod packets (a Service's, after kube-proxy's DNAT) need a rule of their own. stop.sh
# deletes it by the same spec.
if ! iptables -C FORWARD "${K8S_FORWARD_RULE[@]}" 2>/dev/null; then iptables -I FORWARD 1 "${K8S_FORWARD_RULE[@]}"; fi
# crictl looks for its config beside itself; stop.sh also passes the endpoint explicitly.
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 20\n' \
  "$K8S_CONTAINERD_SOCK" "$K8S_CONTAINERD_SOCK" >"$K8S_CONFIG/crictl.yaml"
step "certificates, bridges and configuration ready"

launch etcd /usr/bin/etcd --name "$K8S_NODE_NAME" --data-dir "$K8S_DATA/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster "$K8S_NODE_NAME=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381
launch containerd /usr/bin/containerd --config "$K8S_CONFIG/containerd.toml"
await "etcd healthy" 60 curl -sf http://127.0.0.1:2379/health

# A Pod holds its node's not-ready/unreachable taint for this long before it is evicted. The
# default, 300 s, is shorter than the VM stalls seen on this kind of machine, and on a single node
# an eviction cannot move the Pod anywhere: it only kills a Run that would have carried on.
launch kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$K8S_NODE_IP" \
  --tls-cert-file="$K8S_PKI/apiserver.crt" --tls-private-key-file="$K8S_PKI/apiserver.key" \
  --client-ca-file="$K8S_PKI/ca.crt" \
  --kubelet-client-certificate="$K8S_PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$K8S_PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$K8S_PKI/ca.crt" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$K8S_PKI/sa.pub" --service-account-signing-key-file="$K8S_PKI/sa.key" \
  --service-cluster-ip-range="$K8S_SERVICE_SUBNET" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --default-not-ready-toleration-seconds=3600 --default-unreachable-toleration-seconds=3600 \
  --allow-privileged=true --profiling=false --v=1

await "containerd answering" 60 k8s_ctr version
# The sandbox image: pause.c from the Kubernetes source the binaries were built from, static.
if ! k8s_ctr images ls -q "name==$K8S_PAUSE_IMAGE" | grep -q .; then
  pause_src=$KNIT_K8S_CACHE/gomod/k8s.io/kubernetes@v$K8S_VERSION/build/pause/linux/pause.c
  if [ ! -f "$pause_src" ]; then
    command -v go >/dev/null || export PATH=/usr/local/go/bin:$PATH
    pause_src=$(GOMODCACHE="$KNIT_K8S_CACHE/gomod" GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/build/pause/linux/pause.c
  fi
  pause_root=$(mktemp -d)
  gcc -Os -static -DVERSION=v3.10.1-knit -o "$pause_root/pause" "$pause_src"
  strip "$pause_root/pause"
  python3 "$here/oci-image.py" "$pause_root" --ref "$K8S_PAUSE_IMAGE" --out "$K8S_IMAGES/pause.tar" --entrypoint '["/pause"]' >/dev/null
  rm -rf "$pause_root"
  k8s_ctr images import "$K8S_IMAGES/pause.tar" >/dev/null
  step "imported $K8S_PAUSE_IMAGE"
fi
# The tests' image, under the name the kubelet resolves `knit-test/busybox:1` to.
if ! k8s_ctr images ls -q "name==docker.io/$TEST_IMAGE" | grep -q .; then
  image_root=$(mktemp -d)
  make_test_image_rootfs "$image_root"
  "$here/import-image.sh" "$TEST_IMAGE" "$image_root" --env "$TEST_IMAGE_ENV" --cmd "[\"$TEST_IMAGE_CMD\"]" >/dev/null
  rm -rf "$image_root"
  step "imported $TEST_IMAGE"
fi

await "kube-apiserver ready" 120 k8s_kubectl get --raw=/readyz

# Services route (ClusterIPs, NodePorts on the node address), so a Pod reaches the apiserver
# through its in-cluster config and other Pods through their Service, as on any cluster.
launch kube-proxy "$K8S_BIN/kube-proxy" --config="$K8S_CONFIG/kube-proxy.yaml" --v=1

launch kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig="$K8S_KUBECONFIGS/controller-manager.conf" \
  --authentication-kubeconfig="$K8S_KUBECONFIGS/controller-manager.conf" \
  --authorization-kubeconfig="$K8S_KUBECONFIGS/controller-manager.conf" \
  --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
  --service-account-private-key-file="$K8S_PKI/sa.key" --root-ca-file="$K8S_PKI/ca.crt" \
  --cluster-signing-cert-file="$K8S_PKI/ca.crt" --cluster-signing-key-file="$K8S_PKI/ca.key" \
  --use-service-account-credentials=true --allocate-node-cidrs=false --profiling=false --v=1
launch kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig="$K8S_KUBECONFIGS/scheduler.conf" \
  --authentication-kubeconfig="$K8S_KUBECONFIGS/scheduler.conf" \
  --authorization-kubeconfig="$K8S_KUBECONFIGS/scheduler.conf" \
  --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false --v=1
launch kubelet "$K8S_BIN/kubelet" \
  --config="$K8S_CONFIG/kubelet.yaml" --kubeconfig="$K8S_KUBECONFIGS/kubelet.conf" \
  --root-dir="$K8S_DATA/kubelet" --hostname-override="$K8S_NODE_NAME" --node-ip="$K8S_NODE_IP" --v=1

await "node $K8S_NODE_NAME registered" 120 k8s_kubectl get node "$K8S_NODE_NAME"
await "node $K8S_NODE_NAME Ready" 180 k8s_kubectl wait --for=condition=Ready "node/$K8S_NODE_NAME" --timeout=2s
await "default ServiceAccount present" 120 k8s_kubectl get serviceaccount default --namespace default
await "kube-proxy synced" 60 curl -sf http://127.0.0.1:10256/healthz
step "cluster up; KUBECONFIG=$KUBECONFIG_ADMIN"
