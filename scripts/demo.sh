#!/usr/bin/env bash
# `make demo`: two local sandbox clusters (staging, production), the example platform deployed to staging
# through gripctl's automatic entry, promoted to production after an approval, the result shown, and
# the GitHub Actions workflows `gripctl ci init` writes for it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gripctl="$root/.venv/bin/gripctl"
platform="$root/examples/webgrip"
demo="$HOME/.cache/gripctl/demo"
# The example's age key is a labelled test-only key; real platforms keep theirs out of the repo.
export SOPS_AGE_KEY_FILE="$platform/keys/test-only.agekey"
export GRIPCTL_DATABASE_URL="${GRIPCTL_DATABASE_URL:-sqlite:///$demo/ledger.sqlite}"
mkdir -p "$demo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Two sandbox clusters: staging (context gripctl-sandbox) and production (gripctl-sandbox-production)"
"$gripctl" sandbox up
"$gripctl" sandbox up --name production

step "Validate the example platform (staging)"
"$gripctl" -C "$platform" validate -e staging || echo "(validation findings shown above; the demo deploys anyway)"

step "Dependency graph"
"$gripctl" -C "$platform" graph -e staging

step "Deploy to staging in dependency order, as the push workflow does (staging is deploy: auto)"
"$gripctl" -C "$platform" deploy -e staging --auto

step "The automatic entry refuses production (deploy: manual): a person deploys it"
"$gripctl" -C "$platform" deploy -e production --auto || echo "(refused, as it should be)"

step "Plan production: the pull-request comment body (gripctl plan --format markdown), its first lines"
code=0
"$gripctl" -C "$platform" plan -e production --format markdown --out "$work/plan.json" > "$work/plan.md" \
  || code=$?
[ "$code" -eq 0 ] || [ "$code" -eq 2 ] || exit "$code"  # 0: no changes, 2: changes
head -n 24 "$work/plan.md"
printf '... (%d lines, %d characters in all; one collapsible diff per release)\n' \
  "$(wc -l < "$work/plan.md")" "$(wc -c < "$work/plan.md")"
plan_id=$("$root/.venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$work/plan.json")

step "The server: dashboard, API and live runs (gripctl serve), where approvals are authenticated"
port="${GRIPCTL_DEMO_PORT:-8080}"
server="http://127.0.0.1:$port"
pidfile="$demo/serve.pid"
if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  kill "$(cat "$pidfile")" && sleep 1  # the previous demo's server: start afresh
fi
nohup "$gripctl" -C "$platform" serve --host 127.0.0.1 --port "$port" >"$demo/serve.log" 2>&1 &
echo $! >"$pidfile"
for _ in $(seq 1 100); do
  curl -fsS "$server/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
echo "serving on $server/"
# bob approves through the server with his token: a name typed after --as proves nothing any more, and
# four eyes keep the requester from approving their own plan.
bob=$("$gripctl" -C "$platform" token create --user bob --role approver --env production --expires 1d | tail -n 1)

step "bob approves plan $plan_id, then alice promotes to production (approval: required; promote_from: staging)"
"$gripctl" -C "$platform" approve "$plan_id" --server "$server" --token "$bob" -m "make demo"
# --monitor 0: production watches every release for 10 s once it is healthy, along a chain of seven
# releases (75 s); the demo skips that window to stay quick.
promote=("$gripctl" -C "$platform" deploy -e production --as alice --monitor 0)
if ! "${promote[@]}" 2> >(tee "$work/deploy.err" >&2); then
  grep -q "promotes from staging" "$work/deploy.err" || exit 1
  # Only on a machine whose staging an older gripctl deployed: it recorded no values digests, and
  # staging, already in sync, recorded nothing new. The override is recorded in the run's timeline.
  echo "(staging was deployed by a gripctl that did not record values digests yet: overriding once)"
  "${promote[@]}" --force-promotion
fi

step "Status of both environments"
for env in staging production; do
  printf '\n%s:\n' "$env"
  "$gripctl" -C "$platform" status -e "$env"
done
printf '\nthe runs in the ledger:\n'
"$gripctl" -C "$platform" runs

step "DORA metrics from the ledger"
"$gripctl" -C "$platform" metrics -e production

step "CI: gripctl ci init writes the platform repository's GitHub Actions workflows"
repo="$demo/platform-repo"
rm -rf "$repo"
mkdir -p "$repo"
(cd "$platform" && tar --exclude=.gripctl --exclude=site -cf - .) | (cd "$repo" && tar -xf -)
git -C "$repo" init -q -b main
"$gripctl" -C "$repo" ci init
for file in "$repo"/.github/workflows/*.yml; do
  printf '  %-48s %4d lines\n' "${file#"$repo"/}" "$(wc -l < "$file")"
done
printf '\n--- .github/workflows/gripctl-deploy.yml\n'
cat "$repo/.github/workflows/gripctl-deploy.yml"
if command -v actionlint > /dev/null; then
  actionlint "$repo"/.github/workflows/*.yml && echo "actionlint: every workflow passes"
else
  echo "(actionlint is not in this toolchain yet: the tests check the workflows with it)"
fi

step "The dashboard"
viewer=$("$gripctl" -C "$platform" token create --user demo --role viewer --expires 7d | tail -n 1)
echo "dashboard:    $server/"
echo "viewer token: $viewer"
echo "  (log in with it; \`gripctl token create --user NAME --role deployer|approver|admin\` makes others)"

echo
echo "Both sandboxes and the server keep running: try \`$gripctl -C $platform plan -e production\`, and look"
echo "at the workflows in $repo/.github/workflows; stop them with \`make demo-down\`."
