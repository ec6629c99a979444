"""`gripctl status` for a viewer without the age key: state, revision and health of every release,
and drift "unknown" where the secrets cannot be decrypted here (it used to fail with "no age key")."""

from __future__ import annotations

from pathlib import Path

from e2e_helpers import GRAFANA_SUBSET, E2EPlatform


def test_status_needs_no_age_key(webgrip: E2EPlatform, tmp_path: Path) -> None:
    deployed = webgrip.gripctl("deploy", "-e", "staging", *GRAFANA_SUBSET)
    assert deployed.returncode == 0, deployed

    webgrip.env["SOPS_AGE_KEY_FILE"] = str(tmp_path / "no-such-key.txt")
    webgrip.env["HOME"] = str(tmp_path)  # and no ~/.config/sops/age/keys.txt either
    status = webgrip.gripctl("status", "-e", "staging", *GRAFANA_SUBSET, "-o", "json")
    assert status.returncode == 0, status
    rows = {r["release_id"]: r for r in status.json()}
    assert set(rows) >= {"060-grafana-stack", "060-grafana-stack-secrets", "007-cluster-monitoring"}
    for row in rows.values():
        assert row["status"] == "deployed" and row["revision"] == 1 and row["health"] == "healthy", row
    secrets = rows["060-grafana-stack-secrets"]
    assert secrets["drift"] is None and secrets["drift_reason"].startswith(
        "unknown: secrets not decryptable here"
    )
    plain = rows["007-cluster-monitoring"]  # no secrets: its drift is still computed
    assert plain["drift"] is False and plain["action"] == "noop"

    text = webgrip.gripctl("status", "-e", "staging", *GRAFANA_SUBSET)
    assert text.returncode == 0 and "unknown" in text.stdout, text
