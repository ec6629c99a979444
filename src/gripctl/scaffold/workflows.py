"""The GitHub Actions workflows `gripctl ci init` writes into a platform repository. Pure text.

Three workflows, from the platform's environments (docs/ci.md):

- `gripctl-pull-request.yml`: `gripctl validate` with SARIF for code scanning and inline annotations;
  `gripctl plan` for every environment, posted as one pull-request comment updated in place;
- `gripctl-deploy.yml` (written when an environment is `deploy: auto`): on a push to the default
  branch, `gripctl deploy --auto` for each of them (gripctl refuses any that is not `auto`), one job per
  environment in its GitHub environment, with the job summary;
- `gripctl-deploy-manual.yml` (written when an environment is `deploy: manual`): a person dispatches
  it; a plan job records the plan (its id in the job summary, for `gripctl approve`), then the deploy
  job waits in the GitHub environment (its protection rules: required reviewers) and runs
  `gripctl deploy`, which still requires gripctl's own approval of that plan.

Every deploy job of an environment is in the concurrency group `gripctl-deploy-<env>`, in every
workflow, so GitHub never runs two deploys of one environment at once either (gripctl's lock would
refuse the second). tests/ci check every generated file with actionlint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gripctl.model.types import Environment

WORKFLOWS_DIR = ".github/workflows"
PULL_REQUEST = f"{WORKFLOWS_DIR}/gripctl-pull-request.yml"
DEPLOY = f"{WORKFLOWS_DIR}/gripctl-deploy.yml"
DEPLOY_MANUAL = f"{WORKFLOWS_DIR}/gripctl-deploy-manual.yml"
COMMENT_MARKER = "<!-- gripctl-plan -->"  # the first line of every plan comment (cli/markdown.py)
GITHUB_COMMENT_LIMIT = 65_536  # characters: GitHub refuses a longer comment body
CHECKOUT = "actions/checkout@v4"
UPLOAD_ARTIFACT = "actions/upload-artifact@v4"
UPLOAD_SARIF = "github/codeql-action/upload-sarif@v3"


def gh(expression: str) -> str:
    """A GitHub Actions expression, `${{ expression }}`."""
    return "${{ " + expression + " }}"


@dataclass(frozen=True)
class WorkflowSettings:
    action: str  # `uses:` of gripctl's composite action, pinned: "webgrip/gripctl@v0.1.0"
    platform_dir: str  # the platform's folder in the repository ("." at its root)
    branch: str  # the default branch pushes to which deploy `deploy: auto` environments
    version: str  # the gripctl that wrote them (named in each file's header)


def _header(title: str, settings: WorkflowSettings, what: str) -> str:
    return f"""\
# {title}: {what}
# Written by `gripctl ci init` (gripctl {settings.version}); `gripctl ci init --force` writes it again.
# Secrets (docs/ci.md): SOPS_AGE_KEY (the age key that decrypts ops/secrets), GRIPCTL_KUBECONFIG (a
# kubeconfig with the environments' contexts; a GitHub environment's own secret of that name wins in its
# deploy job), GRIPCTL_DATABASE_URL (the shared ledger: approvals, promotions and history across runs).
"""


def _setup(settings: WorkflowSettings, *, fetch_depth: int, cluster: bool = True) -> str:
    """Checkout, gripctl and its toolchain (cached), and (`cluster`) the kubeconfig from the secret."""
    text = f"""\
      - uses: {CHECKOUT}
        with:
          fetch-depth: {fetch_depth}
      - name: gripctl and its toolchain
        uses: {settings.action}
"""
    if not cluster:
        return text
    return (
        text
        + f"""\
      - name: kubeconfig
        env:
          KUBECONFIG_DATA: {gh("secrets.GRIPCTL_KUBECONFIG")}
        run: |
          umask 077
          printf '%s\\n' "$KUBECONFIG_DATA" > "$RUNNER_TEMP/kubeconfig"
          echo "KUBECONFIG=$RUNNER_TEMP/kubeconfig" >> "$GITHUB_ENV"
"""
    )


def _env_block(settings: WorkflowSettings) -> str:
    """A job's environment: the secrets gripctl reads, who acts, and where the platform is."""
    return (
        "    env:\n"
        f"      SOPS_AGE_KEY: {gh('secrets.SOPS_AGE_KEY')}\n"
        f"      GRIPCTL_DATABASE_URL: {gh('secrets.GRIPCTL_DATABASE_URL')}\n"
        f"      GRIPCTL_ACTOR: {gh('github.actor')}\n"
        f"      PLATFORM: {_quote(settings.platform_dir)}\n"
    )


def _quote(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pull_request(settings: WorkflowSettings, environments: Sequence[Environment]) -> str:
    names = " ".join(e.name for e in environments)
    # One comment holds every environment's plan: each gets an equal share of GitHub's limit.
    budget = (GITHUB_COMMENT_LIMIT - 2000) // max(1, len(environments))
    text = (
        _header("gripctl pull request", settings, "validate, and the plan of every environment")
        + f"""\
name: gripctl pull request

on:
  pull_request:

permissions: {{}}

concurrency:
  group: gripctl-pull-request-{gh("github.event.pull_request.number")}
  cancel-in-progress: true

jobs:
  validate:
    name: gripctl validate
    runs-on: ubuntu-latest
    permissions:
      contents: read
      security-events: write  # code scanning: the SARIF upload
      actions: read
{_env_block(settings)}    steps:
{_setup(settings, fetch_depth=0, cluster=False)}\
      - name: gripctl validate
        env:
          BASE_REF: {gh("github.base_ref")}
        # Annotations inline (--format github), SARIF for code scanning, charts changed since the base
        # branch must carry a new version (--base).
        run: >-
          gripctl -C "$PLATFORM" validate --base "origin/$BASE_REF"
          --format github --sarif "$GITHUB_WORKSPACE/gripctl.sarif"
      - name: upload to code scanning
        if: {gh("!cancelled() && hashFiles('gripctl.sarif') != ''")}
        uses: {UPLOAD_SARIF}
        with:
          sarif_file: gripctl.sarif
          category: gripctl

  plan:
    name: gripctl plan
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: write  # the plan comment
{_env_block(settings)}    steps:
{_setup(settings, fetch_depth=1)}\
      - name: gripctl plan, every environment
        id: plan
        env:
          ENVIRONMENTS: {_quote(names)}
        run: |
          # Exit codes of gripctl plan: 0 no changes, 2 changes, anything else an error.
          failed=""
          mkdir -p "$RUNNER_TEMP/plans"
          : > "$RUNNER_TEMP/comment.md"
          for environment in $ENVIRONMENTS; do
            code=0
            gripctl -C "$PLATFORM" plan -e "$environment" --format markdown --max-chars {budget} \\
              --out "$RUNNER_TEMP/plans/plan-$environment.json" \\
              > "$RUNNER_TEMP/plan-$environment.md" 2> "$RUNNER_TEMP/plan-$environment.err" || code=$?
            if [ "$code" -eq 0 ] || [ "$code" -eq 2 ]; then
              cat "$RUNNER_TEMP/plan-$environment.md" >> "$RUNNER_TEMP/comment.md"
            else
              failed="$failed $environment"
              {{
                echo "{COMMENT_MARKER}"
                echo "### gripctl plan · \\`$environment\\` · failed (exit $code)"
                echo
                echo '```text'
                tail -n 40 "$RUNNER_TEMP/plan-$environment.err"
                echo '```'
              }} >> "$RUNNER_TEMP/comment.md"
              cat "$RUNNER_TEMP/plan-$environment.err" >&2
            fi
            echo >> "$RUNNER_TEMP/comment.md"
          done
          echo "failed=$failed" >> "$GITHUB_OUTPUT"
      - name: keep the full plans
        if: {gh("!cancelled()")}
        uses: {UPLOAD_ARTIFACT}
        with:
          name: gripctl-plans
          path: {gh("runner.temp")}/plans/
          if-no-files-found: ignore
      - name: comment on the pull request (one comment, updated in place)
        if: {gh("!cancelled() && steps.plan.outcome == 'success'")}
        env:
          GH_TOKEN: {gh("github.token")}
          PR: {gh("github.event.pull_request.number")}
        run: |
          jq -n --rawfile body "$RUNNER_TEMP/comment.md" '{{body: $body}}' > "$RUNNER_TEMP/comment.json"
          id=$(gh api --paginate "repos/$GITHUB_REPOSITORY/issues/$PR/comments" \\
            --jq '.[] | select(.user.login == "github-actions[bot]")
                      | select(.body | startswith("{COMMENT_MARKER}")) | .id' | head -n 1)
          if [ -n "$id" ]; then
            gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" \\
              --input "$RUNNER_TEMP/comment.json" > /dev/null
          else
            gh api --method POST "repos/$GITHUB_REPOSITORY/issues/$PR/comments" \\
              --input "$RUNNER_TEMP/comment.json" > /dev/null
          fi
      - name: fail when a plan failed
        if: {gh("steps.plan.outputs.failed != ''")}
        env:
          FAILED: {gh("steps.plan.outputs.failed")}
        run: |
          echo "::error title=gripctl plan::the plan failed for:$FAILED (the pull request comment says why)"
          exit 1
"""
    )
    return text


def _deploy_job(settings: WorkflowSettings, environment: Environment, needs: str | None) -> str:
    job = _job_id(environment.name)
    text = f"""\
  {job}:
    name: deploy {environment.name}
"""
    if needs:
        text += f"    needs: {_job_id(needs)}  # promote_from: {needs} deploys first\n"
    text += f"""\
    runs-on: ubuntu-latest
    environment: {environment.name}
    concurrency:
      group: gripctl-deploy-{environment.name}
      cancel-in-progress: false
{_env_block(settings)}    steps:
{_setup(settings, fetch_depth=0)}\
      - name: gripctl deploy --auto
        # --auto: gripctl itself refuses an environment whose policy is not `deploy: auto`.
        run: gripctl -C "$PLATFORM" deploy -e {environment.name} --auto
"""
    return text


def _job_id(name: str) -> str:
    return "deploy-" + name


def deploy_auto(settings: WorkflowSettings, environments: Sequence[Environment]) -> str:
    autos = [e for e in environments if e.deploy == "auto"]
    names = {e.name for e in autos}
    jobs = "\n".join(
        _deploy_job(settings, e, e.promote_from if e.promote_from in names else None) for e in autos
    )
    listed = ", ".join(e.name for e in autos)
    text = (
        _header("gripctl deploy", settings, f"on a push to {settings.branch}, deploy {listed}")
        + f"""\
name: gripctl deploy

on:
  push:
    branches: [{settings.branch}]

permissions:
  contents: read

jobs:
{jobs}"""
    )
    return text


def deploy_manual(settings: WorkflowSettings, environments: Sequence[Environment]) -> str:
    manual = [e for e in environments if e.deploy != "auto"]
    options = "\n".join(f"          - {e.name}" for e in manual)
    environment = gh("inputs.environment")
    text = (
        _header("gripctl deploy (manual)", settings, "a person deploys " + ", ".join(e.name for e in manual))
        + f"""\
name: gripctl deploy (manual)
run-name: deploy {environment} by @{gh("github.actor")}

on:
  workflow_dispatch:
    inputs:
      environment:
        description: "The environment to deploy (its policy is `deploy: manual`)"
        type: choice
        required: true
        options:
{options}
      force-promotion:
        description: Deploy releases its promote_from environment has not run (recorded in the ledger)
        type: boolean
        default: false

permissions:
  contents: read

jobs:
  plan:
    name: plan {environment}
    runs-on: ubuntu-latest
{_env_block(settings)}      ENVIRONMENT: {environment}
    steps:
{_setup(settings, fetch_depth=1)}\
      - name: gripctl plan (recorded in the ledger, to approve)
        run: |
          code=0
          gripctl -C "$PLATFORM" plan -e "$ENVIRONMENT" --format markdown --out "$RUNNER_TEMP/plan.json" \\
            > "$RUNNER_TEMP/plan.md" || code=$?
          cat "$RUNNER_TEMP/plan.md" >> "$GITHUB_STEP_SUMMARY"
          # 0: no changes, 2: changes (both fine); anything else is an error.
          [ "$code" -eq 0 ] || [ "$code" -eq 2 ]

  deploy:
    name: deploy {environment}
    needs: plan
    runs-on: ubuntu-latest
    # The GitHub environment's protection rules (required reviewers, wait timer) gate this job;
    # gripctl then requires its own approval of the plan (`approval: required` in gripctl.yaml).
    environment: {environment}
    concurrency:
      group: gripctl-deploy-{environment}
      cancel-in-progress: false
{_env_block(settings)}      ENVIRONMENT: {environment}
      FORCE_PROMOTION: {gh("inputs.force-promotion")}
    steps:
{_setup(settings, fetch_depth=0)}\
      - name: gripctl deploy
        run: |
          args=()
          if [ "$FORCE_PROMOTION" = "true" ]; then args+=(--force-promotion); fi
          gripctl -C "$PLATFORM" deploy -e "$ENVIRONMENT" "${{args[@]}}"
"""
    )
    return text


def workflows(settings: WorkflowSettings, environments: Sequence[Environment]) -> dict[str, str]:
    """Repository-relative path -> content of every workflow the platform's environments call for."""
    out = {PULL_REQUEST: pull_request(settings, environments)}
    if any(e.deploy == "auto" for e in environments):
        out[DEPLOY] = deploy_auto(settings, environments)
    if any(e.deploy != "auto" for e in environments):
        out[DEPLOY_MANUAL] = deploy_manual(settings, environments)
    return out
