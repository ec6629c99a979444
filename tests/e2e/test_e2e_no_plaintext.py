"""Issue 5, "done when": no plaintext secret reaches the disk while `gripctl plan` and `gripctl deploy`
run against the real sandbox (the example's grafana stack and what it needs, decrypted with the
example's TEST ONLY age key). Issue 14 extends the same watch over `validate` with the key,
`secrets rotate` (a new value, generated and encrypted in memory), `plan --out` + `apply` of the
rotated secret (killed once its helm upgrade ran), and the `recover` that finishes it."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from e2e_helpers import GRAFANA_SUBSET, E2EPlatform, known_test_values, with_base64
from plaintext_watch import PlaintextWatch

from gripctl.adapters.toolchain import find_tool

KILLPOINT = Path(__file__).resolve().parents[1] / "chaos" / "killpoint.py"

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

    new_password = _validate_rotate_apply_recover(webgrip)
    assert (
        base64.b64decode(
            webgrip.kubectl(
                "get", "secret", "grafana-admin", "-n", ns, "-o", "jsonpath={.data.admin-password}"
            ).stdout
        ).decode()
        == new_password
    )  # the rotated value is live: it went through apply and recover

    plaintext_watch.stop()
    known = _known_temp_files(plaintext_watch)
    plaintext_watch.written -= set(known)
    plaintext_watch.assert_no_plaintext(with_base64([*known_test_values(), new_password]))


def _validate_rotate_apply_recover(webgrip: E2EPlatform) -> str:
    """validate with the key; rotate grafana's admin password; plan --out and apply it, the apply
    killed right after its helm upgrade; recover. Returns the new password (read through a pipe)."""
    check = webgrip.gripctl("validate", "-e", "staging", *GRAFANA_SUBSET)
    assert check.returncode in (0, 1) and "Traceback" not in check.stderr, check
    assert "secrets-decrypt" not in check.stdout and "secrets-no-key" not in check.stdout, check

    config = webgrip.config()
    config["secrets_rotation"] = {
        "060-grafana-stack-secrets": {"grafana.adminPassword": {"generator": "password", "length": 32}}
    }
    webgrip.write_config(config)
    rotated = webgrip.gripctl(
        "secrets", "rotate", "060-grafana-stack", "grafana.adminPassword", "-e", "staging"
    )
    assert rotated.returncode == 0, rotated
    secrets_file = webgrip.root / "ops" / "secrets" / "060-grafana-stack-secrets" / "values.sops.yaml"
    plain = subprocess.run(
        [find_tool("sops"), "decrypt", str(secrets_file)],
        capture_output=True,
        env={**os.environ, "SOPS_AGE_KEY_FILE": str(webgrip.root / "keys" / "test-only.agekey")},
        check=True,
    ).stdout
    new_password = str(yaml.safe_load(plain)["grafana"]["adminPassword"])
    assert new_password not in known_test_values() and len(new_password) == 32

    plan_file = webgrip.root / "plan.json"
    planned = webgrip.gripctl("plan", "-e", "staging", *GRAFANA_SUBSET, "--out", str(plan_file))
    assert planned.returncode == 2, planned  # the secrets release changes
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(webgrip.root / "keys" / "test-only.agekey")}
    env.pop("GRIPCTL_DATABASE_URL", None)
    env["GRIPCTL_TOOLCHAIN_BIN"] = env.get("GRIPCTL_TOOLCHAIN_BIN") or str(Path(find_tool("helm")).parent)
    apply = subprocess.run(
        [sys.executable, str(KILLPOINT), "gripctl.engine.ports:LiveCluster.verify", "before", "--",
         "-C", str(webgrip.root), "apply", str(plan_file), "-e", "staging", "--wait-lock", "180"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert apply.returncode == -signal.SIGKILL, apply.stdout + apply.stderr
    # "staging" is every e2e copy's environment name: its cluster Lease is shared, hence --wait-lock.
    recovered = webgrip.gripctl("recover", "-e", "staging", "--wait-lock", "180")
    assert recovered.returncode == 0, recovered
    assert "was deployed and is healthy" in recovered.stdout, recovered
    return new_password
