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
KUBECONFIG_ADMIN=$KNIT_K8S_ROOT/kubeconfig/admin.conf

say() { printf '[dev-cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
