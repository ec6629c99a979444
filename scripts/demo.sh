#!/usr/bin/env bash
# `make demo`: a local sandbox cluster, the example platform deployed through gripctl, the result shown.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gripctl="$root/.venv/bin/gripctl"
platform="$root/examples/webgrip"
# The example's age key is a labelled test-only key; real platforms keep theirs out of the repo.
export SOPS_AGE_KEY_FILE="$platform/keys/test-only.agekey"
export GRIPCTL_DATABASE_URL="${GRIPCTL_DATABASE_URL:-sqlite:///$HOME/.cache/gripctl/demo/ledger.sqlite}"
mkdir -p "$HOME/.cache/gripctl/demo"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Sandbox cluster (etcd + kube-apiserver + controller-manager + scheduler + kwok)"
"$gripctl" sandbox up

step "Validate the example platform (staging)"
"$gripctl" -C "$platform" validate -e staging || echo "(validation findings shown above; the demo deploys anyway)"

step "Dependency graph"
"$gripctl" -C "$platform" graph -e staging

step "Deploy to staging in dependency order"
"$gripctl" -C "$platform" deploy -e staging

step "Status"
"$gripctl" -C "$platform" status -e staging
"$gripctl" -C "$platform" runs

step "DORA metrics from the ledger"
"$gripctl" -C "$platform" metrics -e staging

echo
echo "The sandbox keeps running: try \`$gripctl -C $platform plan -e staging\`; stop it with \`make demo-down\`."
