# Shared settings of the dev-cluster scripts. Sourced, not run.
K8S_VERSION=${K8S_VERSION:-1.34.4}
CRICTL_VERSION=${CRICTL_VERSION:-1.34.0}
# Built binaries and Go caches: slow to make, worth keeping between CI runs.
KNIT_K8S_CACHE=${KNIT_K8S_CACHE:-/var/cache/knit/k8s}
K8S_BIN=${K8S_BIN:-$KNIT_K8S_CACHE/bin}
# Cluster state, certificates, logs and PID files of one running cluster.
KNIT_K8S_ROOT=${KNIT_K8S_ROOT:-/var/lib/knit-k8s}
# containerd's socket and state live on /run so they never mix with Docker's containerd.
K8S_CONTAINERD_STATE=${K8S_CONTAINERD_STATE:-/run/knit-k8s-containerd}
K8S_CONTAINERD_SOCK=$K8S_CONTAINERD_STATE/containerd.sock
K8S_NODE_NAME=${K8S_NODE_NAME:-knit-node}
# The kubelet refuses a loopback node address; a bridge with no ports carries this one.
K8S_NODE_IP=${K8S_NODE_IP:-10.87.0.1}
K8S_NODE_LINK=knitnode0
K8S_POD_BRIDGE=knitpods0
K8S_POD_SUBNET=${K8S_POD_SUBNET:-10.88.0.0/16}
K8S_POD_GATEWAY=${K8S_POD_GATEWAY:-10.88.0.1}
K8S_POD_PREFIX=${K8S_POD_SUBNET#*/}
K8S_SERVICE_SUBNET=${K8S_SERVICE_SUBNET:-10.96.0.0/16}
K8S_SERVICE_FIRST_IP=${K8S_SERVICE_FIRST_IP:-10.96.0.1}
K8S_APISERVER_URL=https://127.0.0.1:6443
# Pod-to-Pod forwarding through the host (see start.sh), tagged so stop.sh removes only ours.
K8S_FORWARD_RULE=(-s "$K8S_POD_SUBNET" -d "$K8S_POD_SUBNET" -m comment --comment knit-dev-cluster -j ACCEPT)

K8S_PKI=$KNIT_K8S_ROOT/pki
K8S_KUBECONFIGS=$KNIT_K8S_ROOT/kubeconfig
K8S_CONFIG=$KNIT_K8S_ROOT/config      # rendered templates
K8S_DATA=$KNIT_K8S_ROOT/data          # etcd, containerd content, kubelet, pod logs, CNI leases
K8S_LOGS=$KNIT_K8S_ROOT/logs
K8S_PIDS=$KNIT_K8S_ROOT/run
K8S_IMAGES=$KNIT_K8S_ROOT/images      # OCI archives of the pause and test images
KUBECONFIG_ADMIN=$K8S_KUBECONFIGS/admin.conf

# Our own build of the sandbox ("pause") image; the name says it is not the upstream one.
K8S_PAUSE_IMAGE=localhost/knit/pause:3.10.1
# The kubelet sets these on start (its kernel tunables); start.sh records them, stop.sh puts them back.
K8S_TOUCHED_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

k8s_ctr() { ctr -a "$K8S_CONTAINERD_SOCK" -n k8s.io "$@"; }
k8s_kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

say() { printf '[dev-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
