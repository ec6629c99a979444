#!/usr/bin/env bash
# The example platform deployed with nothing but helm and sops: what gripctl automates, by hand.
# Usage: scripts/plain-helm.sh install|uninstall [staging|production] [--kube-context CTX]
# Installs in dependency order (each secrets release right before the release it serves) with
# --wait, so a release only starts once everything it needs is Ready. Needs SOPS_AGE_KEY_FILE
# (defaults to the TEST ONLY key in keys/).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
action=${1:?usage: plain-helm.sh install|uninstall [staging|production] [--kube-context CTX]}
env=${2:-staging}
shift $(( $# >= 2 ? 2 : $# ))
context=(--kube-context "${KUBE_CONTEXT:-gripctl-sandbox}")
if [[ ${1:-} == --kube-context ]]; then context=(--kube-context "${2:?--kube-context needs a value}"); fi
export SOPS_AGE_KEY_FILE=${SOPS_AGE_KEY_FILE:-$here/keys/test-only.agekey}

# A topological order of gripctl.yaml's `needs` (tests/examples checks that it still is one).
order=(
  005-tainters
  007-cluster-monitoring
  010-cert-manager
  020-cluster-issuers
  030-ingress-controllers
  040-gha-runners-controller
  045-gha-runners
  060-grafana-stack
  950-example-services
)
declare -A namespace_of=([020-cluster-issuers]=cert-manager)

ns() { echo "${namespace_of[$1]:-${1#*-}}"; }

install_one() { # chart-dir release-id namespace
  local chart=$1 id=$2 namespace=$3 values=(--values "$here/envs/$env/values.yaml")
  echo "--- $id -> $namespace"
  if [[ -f $here/envs/$env/$id.yaml ]]; then values+=(--values "$here/envs/$env/$id.yaml"); fi
  if [[ -f $chart/values.sops.yaml ]]; then
    # Decrypted values go through a pipe, never to disk.
    sops --decrypt "$chart/values.sops.yaml" | helm upgrade --install "${id#*-}" "$chart" "${context[@]}" \
      --namespace "$namespace" --create-namespace "${values[@]}" --values - --wait --timeout 5m
  else
    helm upgrade --install "${id#*-}" "$chart" "${context[@]}" \
      --namespace "$namespace" --create-namespace "${values[@]}" --wait --timeout 5m
  fi
}

case $action in
  install)
    for id in "${order[@]}"; do
      secrets=$here/ops/secrets/$id-secrets
      if [[ -d $secrets ]]; then install_one "$secrets" "$id-secrets" "$(ns "$id")"; fi
      install_one "$here/ops/helm/$id" "$id" "$(ns "$id")"
    done
    ;;
  uninstall)
    for (( i=${#order[@]}-1; i>=0; i-- )); do
      id=${order[i]}
      helm uninstall "${id#*-}" "${context[@]}" --namespace "$(ns "$id")" --wait --ignore-not-found
      if [[ -d $here/ops/secrets/$id-secrets ]]; then
        helm uninstall "${id#*-}-secrets" "${context[@]}" --namespace "$(ns "$id")" --wait --ignore-not-found
      fi
    done
    # CRDs carry helm.sh/resource-policy: keep, and helm never deletes namespaces it created.
    echo "kept: CRDs clusterissuers.certs.webgrip.dev, runnerscalesets.actions.webgrip.dev and the namespaces"
    ;;
  *) echo "unknown action '$action': use install or uninstall" >&2; exit 64 ;;
esac
