"""Issue 5, "done when": no plaintext secret reaches the disk while `gripctl plan` and `gripctl deploy`
run against the real sandbox (the example's grafana stack and what it needs, decrypted with the
example's TEST ONLY age key)."""

from __future__ import annotations

import base64
from pathlib import Path

from e2e_helpers import GRAFANA_SUBSET, E2EPlatform, known_test_values, with_base64
from plaintext_watch import PlaintextWatch

# Python's tempfile module writes this into a new file to find a usable temp folder.
TEMPFILE_PROBE = b"blat"


def _known_temp_files(watch: PlaintextWatch) -> dict[Path, str]:
    """Files in the deploy path's private TMPDIR that are harmless by content: Python's tempfile probe.

    Kubeconfig credentials (CA, client certificate and private key), which the Kubernetes client copies
    to $TMPDIR, are kept in memory by gripctl.adapters.kubeconfig: any such file fails the test.
    """
    found: dict[Path, str] = {}
    for path in watch.written:
        if not path.is_relative_to(watch.private_tmp):
            continue
        contents = {c for c in watch.snapshots.get(path, []) if c}
        if contents <= {TEMPFILE_PROBE}:
            found[path] = "python tempfile probe" if contents else "empty"
    return found


def test_plan_and_deploy_write_no_plaintext(webgrip: E2EPlatform, plaintext_watch: PlaintextWatch) -> None:
    # `webgrip` comes first in the signature: the copy is made before the watch starts.
    plan = webgrip.gripctl("plan", "-e", "staging", *GRAFANA_SUBSET)
    assert plan.returncode == 2, plan  # 2: changes
    assert "+ Secret" in plan.stdout and "/grafana-admin" in plan.stdout, plan

    deploy = webgrip.gripctl("deploy", "-e", "staging", *GRAFANA_SUBSET, "--wait-lock", "180")
    assert deploy.returncode == 0, deploy
    assert "succeeded" in deploy.stdout, deploy

    # The decrypted value really went to the cluster, so the absence on disk below means something.
    ns = webgrip.namespace("060-grafana-stack")
    live = webgrip.kubectl(
        "get", "secret", "grafana-admin", "-n", ns, "-o", "jsonpath={.data.admin-password}"
    )
    assert live.returncode == 0, live.stderr
    password = next(v for v in known_test_values() if v.startswith("grafana-admin-"))
    assert base64.b64decode(live.stdout).decode() == password

    # The watch saw the deploy's own writes (the ledger), so it was looking at the right places.
    assert webgrip.ledger_path.resolve() in plaintext_watch.written, plaintext_watch.backend
    plaintext_watch.stop()
    known = _known_temp_files(plaintext_watch)
    plaintext_watch.written -= set(known)
    plaintext_watch.assert_no_plaintext(with_base64(known_test_values()))
