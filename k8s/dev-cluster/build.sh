#!/usr/bin/env bash
# Builds the Kubernetes control plane and kubelet from the Go module proxy (no release download
# reaches this network). Kubernetes' own go.mod points its staging modules at ./staging, so a
# plain `go install k8s.io/kubernetes/cmd/...` cannot resolve them: a small wrapper module
# requires k8s.io/kubernetes and maps each staging module to its published v0.X.Y twin.
#
# Everything lands under $KNIT_K8S_CACHE (default /var/cache/knit/k8s), which a CI machine may
# keep between runs. With the binaries there, this script returns at once and needs no Go.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

want_version="v$K8S_VERSION"
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

up_to_date() {
  for b in "${binaries[@]}" crictl; do [ -x "$K8S_BIN/$b" ] || return 1; done
  "$K8S_BIN/kubelet" --version 2>/dev/null | grep -qx "Kubernetes $want_version"
}
if up_to_date; then say "binaries $want_version already in $K8S_BIN"; exit 0; fi

command -v go >/dev/null || export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || die "Go >= 1.24 is needed to build Kubernetes (or put the built binaries in $K8S_BIN)"
export GOCACHE="$KNIT_K8S_CACHE/gocache" GOMODCACHE="$KNIT_K8S_CACHE/gomod" GOFLAGS=-buildvcs=false CGO_ENABLED=0
wrapper="$KNIT_K8S_CACHE/wrapper-$want_version"
mkdir -p "$wrapper" "$K8S_BIN"
cd "$wrapper"

if [ ! -f go.sum ]; then
  say "resolving k8s.io/kubernetes@$want_version and its staging modules"
  upstream_gomod=$(go mod download -json "k8s.io/kubernetes@$want_version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  staging_version="v0.${K8S_VERSION#1.}"
  go mod edit -json "$upstream_gomod" > upstream-go.mod.json
  python3 - "$staging_version" "$want_version" upstream-go.mod.json > go.mod <<'PY'
import json, sys
staging_version, k8s_version, upstream_json = sys.argv[1:4]
upstream = json.load(open(upstream_json))
print("module knit.local/k8s-dev-cluster\n")
print(f"go {upstream['Go']}\n")
print(f"require k8s.io/kubernetes {k8s_version}\n")
print("replace (")
for r in upstream.get("Replace") or []:
    if r["New"]["Path"].startswith("./staging/"):
        print(f"\t{r['Old']['Path']} => {r['Old']['Path']} {staging_version}")
print(")")
PY
fi
# tools.go names every binary, so a cache made before a binary joined the list still resolves it.
{
  echo '//go:build tools'; echo; echo 'package cluster'; echo; echo 'import ('
  for b in "${binaries[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$b\""; done
  echo ')'
} > tools.go.new
if ! cmp -s tools.go.new tools.go; then mv tools.go.new tools.go; go mod tidy; else rm tools.go.new; fi

# Without the version stamps every binary calls itself v0.0.0-master and the Node reports a
# bogus kubeletVersion.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$want_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
say "go build of ${binaries[*]} (cold: about 10 minutes on 2 cores)"
started=$(date +%s)
go build -trimpath -ldflags "$ldflags" -o "$K8S_BIN/" "${binaries[@]/#/k8s.io/kubernetes/cmd/}"
# crictl removes pod sandboxes through CRI on stop, so CNI releases their addresses cleanly.
GOBIN="$K8S_BIN" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION" \
  "sigs.k8s.io/cri-tools/cmd/crictl@v$CRICTL_VERSION"
say "built in $(( $(date +%s) - started )) s: $("$K8S_BIN/kubelet" --version)"
