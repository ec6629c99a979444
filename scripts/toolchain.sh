#!/usr/bin/env bash
# Builds gripctl's pinned toolchain (tools/versions.env) from the Go module proxy into a cache
# outside the repository, keyed by the pins, and prints the bin directory. Idempotent: a warm
# cache returns at once. Usage: scripts/toolchain.sh [--print-bin]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tools/versions.env
source "$root/tools/versions.env"

cache_root=${GRIPCTL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gripctl}
# Bump when the build steps below change in a way that changes the binaries.
recipe=1
key=$( (echo "recipe=$recipe"; cat "$root/tools/versions.env" "$root"/tools/*/go.mod "$root"/tools/*/go.sum
        go env GOVERSION GOOS GOARCH) | sha256sum | cut -c1-16)
dest="$cache_root/toolchain/$key"
bin="$dest/bin"

# `current` points at the toolchain of this checkout's pins; gripctl looks there for its binaries.
link_current() { ln -sfn "$key" "$cache_root/toolchain/current"; }

if [[ -f "$dest/.complete" ]]; then
  link_current
  echo "$bin"
  exit 0
fi

log() { printf '[toolchain %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
log "building pinned toolchain into $dest (cold build: about 15-25 minutes on 2 cores)"
mkdir -p "$cache_root/toolchain"
work=$(mktemp -d "$cache_root/toolchain/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
started=$SECONDS

log "helm $HELM_VERSION"
GOBIN="$work/bin" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"

log "sops $SOPS_VERSION, age $AGE_VERSION"
GOBIN="$work/bin" go install -trimpath -ldflags "-s -w" "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION"
GOBIN="$work/bin" go install -trimpath -ldflags "-s -w" \
  "filippo.io/age/cmd/age@$AGE_VERSION" "filippo.io/age/cmd/age-keygen@$AGE_VERSION"

kube_minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
log "kwok, kwokctl $KWOK_VERSION"
GOBIN="$work/bin" go install -trimpath \
  -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBERNETES_VERSION" \
  "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"

log "etcd $ETCD_VERSION"
(cd "$root/tools/etcd" && go build -trimpath -ldflags "-s -w" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3)

log "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $KUBERNETES_VERSION"
vpkg=k8s.io/component-base/version
cpkg=k8s.io/client-go/pkg/version
kldflags="-s -w"
for p in $vpkg $cpkg; do
  kldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$kube_minor"
  kldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
(cd "$root/tools/kube" && go build -trimpath -ldflags "$kldflags" -o "$work/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)

rm -rf "$dest"
mv "$work/bin" "$dest.tmp-bin" && mkdir -p "$dest" && mv "$dest.tmp-bin" "$bin"
du -sh "$bin" | awk '{print $1}' > "$dest/size"
echo "$((SECONDS - started))" > "$dest/build-seconds"
touch "$dest/.complete"
link_current
log "done in $((SECONDS - started))s"
echo "$bin"
