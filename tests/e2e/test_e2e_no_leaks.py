"""Issue 5, "done when": no secret value — nor its base64 form — appears in anything gripctl prints or
records: a full deploy of every secrets release, a plan after a secret changed (re-encrypted with the
real sops), `--output json` plan and deploy, a failing deploy that is rolled back, the run listings and
timelines, and a dump of the whole ledger database.

Out of scope: Helm's own release record in the cluster (`helm get values`) necessarily holds the values
gripctl passed to it, as does the Secret object itself; both are guarded by cluster RBAC, not by gripctl.
"""

from __future__ import annotations

import base64
import json
import uuid

from e2e_helpers import E2EPlatform, find_leaks, known_test_values, with_base64

# Every secrets file of the example (010's on its own: its chart installs a CRD with a fixed name, which
# would collide with other users of the shared sandbox), and the releases that use them.
SELECTION = (
    "--only",
    "005-tainters,007-cluster-monitoring,060-grafana-stack,950-example-services,010-cert-manager-secrets",
)
SECRETS_RELEASES = ("010-cert-manager-secrets", "060-grafana-stack-secrets", "950-example-services-secrets")


def _live_password(webgrip: E2EPlatform) -> str:
    ns = webgrip.namespace("060-grafana-stack")
    got = webgrip.kubectl("get", "secret", "grafana-admin", "-n", ns, "-o", "jsonpath={.data.admin-password}")
    assert got.returncode == 0, got.stderr
    return base64.b64decode(got.stdout).decode()


def test_no_secret_in_outputs_or_ledger(webgrip: E2EPlatform) -> None:
    values = known_test_values()
    changed = f"grafana-admin-TESTVALUE-changed-{uuid.uuid4().hex[:8]}"
    needles = with_base64([*values, changed])

    # 1. A full deploy: all three secrets releases, decrypted and applied.
    first = webgrip.gripctl("deploy", "-e", "staging", *SELECTION, "--wait-lock", "180")
    assert first.returncode == 0, first
    for rid in SECRETS_RELEASES:
        assert f"{rid}: [healthy]" in first.stdout, first
    assert _live_password(webgrip) in values  # the values really reached the cluster

    # 2. A changed secret value, re-encrypted with the real sops: the plan shows a change, not the value.
    webgrip.sops_set("060-grafana-stack-secrets", "grafana.adminPassword", changed)
    plan = webgrip.gripctl("plan", "-e", "staging", *SELECTION)
    assert plan.returncode == 2, plan
    assert "060-grafana-stack-secrets upgrade" in plan.stdout and "~ Secret" in plan.stdout, plan

    # 3. --output json: the plan document and the deploy's JSON lines.
    plan_json = webgrip.gripctl("--output", "json", "plan", "-e", "staging", *SELECTION)
    assert plan_json.returncode == 2, plan_json
    changed_ids = {r["release_id"] for r in plan_json.json()["releases"] if r["action"] != "noop"}
    assert changed_ids == {"060-grafana-stack-secrets"}, plan_json
    deploy_json = webgrip.gripctl(
        "--output", "json", "deploy", "-e", "staging", *SELECTION, "--wait-lock", "180"
    )
    assert deploy_json.returncode == 0, deploy_json
    documents = [json.loads(line) for line in deploy_json.stdout.splitlines() if line.strip()]
    assert documents[-1]["outcome"] == "succeeded", deploy_json
    assert _live_password(webgrip) == changed

    # 4. A failing deploy: grafana's pods crash, the release is rolled back.
    webgrip.inject("060-grafana-stack", "grafana.yaml")
    failing = webgrip.gripctl("deploy", "-e", "staging", *SELECTION, "--wait-lock", "180")
    assert failing.returncode == 1, failing
    assert "rolled_back" in failing.stdout + failing.stderr, failing
    history = webgrip.helm_history("060-grafana-stack")
    assert [e["status"] for e in history[-2:]] == ["superseded", "deployed"], failing  # upgrade, rollback
    assert history[-1]["description"] == history[-2]["description"], failing  # one run made both

    # 5. What an operator reads afterwards: the run list, and the failed run's timeline (text and JSON;
    # the other runs' timelines are in the ledger dump below).
    listing = webgrip.gripctl("--output", "json", "runs", "-e", "staging")
    assert listing.returncode == 0, listing
    runs = listing.json()
    assert [r["outcome"] for r in runs][:3] == ["rolled_back", "succeeded", "succeeded"], listing
    assert webgrip.gripctl("runs", "-e", "staging").returncode == 0
    shown = webgrip.gripctl("runs", "show", str(runs[0]["id"]))
    assert shown.returncode == 0 and "CrashLoopBackOff" in shown.stdout, shown
    assert webgrip.gripctl("--output", "json", "runs", "show", str(runs[0]["id"])).returncode == 0

    # The search finds a value when gripctl is asked to print it (`secrets decrypt` is meant to): the
    # needles and the search work on real output. That one deliberate print is then left out.
    shown_on_purpose = webgrip.gripctl("secrets", "decrypt", "060-grafana-stack")
    assert find_leaks(shown_on_purpose.stdout, needles) == [changed], shown_on_purpose
    webgrip.runs.remove(shown_on_purpose)

    # The haystack: every byte gripctl printed (stdout and stderr of every call) and the whole ledger.
    dump = webgrip.ledger_dump()
    assert "rolled_back" in dump and "060-grafana-stack" in dump  # the dump is the real record
    assert find_leaks(webgrip.output(), needles) == []
    assert find_leaks(dump, needles) == []
