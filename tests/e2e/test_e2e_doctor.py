"""`gripctl doctor` on a machine that is ready: the pinned tools, the sandbox, the example's key."""

from __future__ import annotations

from e2e_helpers import E2EPlatform


def test_doctor_says_ready(webgrip: E2EPlatform) -> None:
    done = webgrip.gripctl("doctor", "-e", "staging", "-o", "json")
    assert done.returncode == 0, done
    checks = {c["name"]: c for c in done.json()["checks"]}
    assert checks["helm"]["ok"] and str(checks["helm"]["detail"]).startswith("4.")
    assert checks["cluster of staging"]["ok"] and "Kubernetes v1." in str(
        checks["cluster of staging"]["detail"]
    )
    assert checks["age key"]["ok"] and checks["ledger"]["ok"]
    assert done.json()["ok"] is True
