#!/usr/bin/env bash
# The cluster's certificates and kubeconfigs, made with openssl (no kubeadm). Keeps every file
# that already exists, so a restart does not invalidate kubeconfigs that tests hold.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
mkdir -p "$K8S_PKI" "$K8S_KUBECONFIGS"
umask 077
cd "$K8S_PKI"

[ -f ca.key ] || openssl genrsa -out ca.key 2048 2>/dev/null
[ -f ca.crt ] || openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=knit-dev-cluster-ca" -out ca.crt
# The key pair the apiserver signs and checks ServiceAccount tokens with.
[ -f sa.key ] || openssl genrsa -out sa.key 2048 2>/dev/null
[ -f sa.pub ] || openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null

# issue NAME SUBJECT USAGE [SUBJECT_ALT_NAMES]: a key and a certificate signed by the CA.
issue() {
  local name=$1 subject=$2 usage=$3 sans=${4:-}
  [ -f "$name.crt" ] && return 0
  openssl genrsa -out "$name.key" 2048 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    if [ -n "$sans" ]; then echo "subjectAltName=$sans"; fi
  } > "$name.ext"
  openssl req -new -key "$name.key" -subj "$subject" 2>/dev/null |
    openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.ext"
}
issue apiserver /CN=kube-apiserver serverAuth \
  "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$K8S_SERVICE_FIRST_IP,IP:$K8S_NODE_IP"
# The apiserver's identity towards the kubelet (logs, exec): needs the node proxy rights of system:masters.
issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
issue admin "/O=system:masters/CN=knit-dev-admin" clientAuth
issue controller-manager /CN=system:kube-controller-manager clientAuth
issue scheduler /CN=system:kube-scheduler clientAuth
# The built-in ClusterRoleBinding system:node-proxier names this user.
issue kube-proxy /CN=system:kube-proxy clientAuth
# The Node authorizer and NodeRestriction recognise a kubelet only by this exact name and group.
issue kubelet-client "/O=system:nodes/CN=system:node:$K8S_NODE_NAME" clientAuth
issue kubelet-server "/CN=$K8S_NODE_NAME" serverAuth "DNS:$K8S_NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$K8S_NODE_IP"

# kubeconfig FILE USER CERT: a kubeconfig with the CA and the client certificate embedded, so it
# can be copied or read by a test without the PKI folder.
kubeconfig() {
  local file=$K8S_KUBECONFIGS/$1.conf user=$2 cert=$3
  [ -f "$file" ] && return 0
  cat > "$file.tmp" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: knit-dev
  cluster:
    server: $K8S_APISERVER_URL
    certificate-authority-data: $(base64 -w0 < ca.crt)
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$cert.crt")
    client-key-data: $(base64 -w0 < "$cert.key")
contexts:
- name: knit-dev
  context:
    cluster: knit-dev
    user: $user
current-context: knit-dev
YAML
  mv "$file.tmp" "$file"
}
kubeconfig admin knit-dev-admin admin
kubeconfig controller-manager system:kube-controller-manager controller-manager
kubeconfig scheduler system:kube-scheduler scheduler
kubeconfig kube-proxy system:kube-proxy kube-proxy
kubeconfig kubelet "system:node:$K8S_NODE_NAME" kubelet-client
