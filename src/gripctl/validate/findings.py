"""Findings: what a validation check reports, with its severity, place and (optional) suppression."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

# The Kubernetes version the offline schema check validates against (`validate --kube-version`).
DEFAULT_KUBE_VERSION = "1.36"


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.info: 0, Severity.warning: 1, Severity.error: 2}


# Every check gripctl validate runs: id -> (default severity, one-line description). The ids are what
# `policies.checks`, `policies.exceptions` and `gripctl.dev/ignore-<check>` annotations name.
CHECKS: dict[str, tuple[Severity, str]] = {
    "helm-lint": (Severity.error, "helm lint of the chart with the environment's values"),
    "render": (Severity.error, "the chart renders (helm template) with the environment's values"),
    "secrets-decrypt": (Severity.error, "the release's SOPS secrets decrypt so that the render is complete"),
    "schema": (Severity.error, "rendered objects match the Kubernetes (or the platform's CRD) schema"),
    "server-validate": (
        Severity.error,
        "with --server: the environment's API server accepts every object (server-side dry-run apply)",
    ),
    "yamllint": (Severity.warning, "repository YAML passes yamllint"),
    "secret-scan": (Severity.error, "no secrets in plaintext in the repository (detect-secrets)"),
    "plaintext-secrets": (Severity.error, "no decrypted *.dec.yaml or age private key tracked by git"),
    # from gripctl.secrets.check_secrets (the secrets room), reported under its own ids
    "secrets-plaintext": (Severity.error, "every secrets file is SOPS-encrypted"),
    "secrets-rule": (
        Severity.error,
        "a .sops.yaml creation rule with age recipients covers every secrets file",
    ),
    "secrets-recipients": (Severity.error, "secrets files are encrypted for exactly their rule's recipients"),
    "secrets-mac": (Severity.error, "secrets files were not changed outside sops (MAC verifies)"),
    "secrets-no-key": (Severity.warning, "an age key is available to test-decrypt secrets files"),
    "resources": (Severity.error, "containers set resource requests and limits"),
    "probes": (Severity.warning, "long-running containers have liveness and readiness probes"),
    "security-context": (
        Severity.error,
        "containers run as non-root, without privilege escalation, with a read-only root filesystem",
    ),
    "network-policy": (Severity.warning, "every namespace that runs workloads has a NetworkPolicy"),
    "image-pinned": (Severity.error, "images are pinned to a tag other than latest, or a digest"),
    "chart-version": (Severity.error, "a chart whose files changed against --base has a new version"),
    "image-scan": (Severity.error, "images have no known HIGH/CRITICAL vulnerabilities (trivy)"),
    "drift-ignore": (Severity.warning, "every drift ignore rule in gripctl.yaml matches a rendered object"),
    "prometheus-query": (
        Severity.error,
        "health.prometheus queries parse (asked of the environment's Prometheus)",
    ),
    "prometheus-reachable": (
        Severity.warning,
        "the environment's Prometheus answers, so that its health queries could be checked",
    ),
}


@dataclass(frozen=True)
class Finding:
    """One problem (or notice) found by a check.

    `file` is relative to the platform root; `kind`/`name` name the rendered object when there is one.
    `suppressed` carries the reason of the exception that covers this finding: shown, never dropped.
    """

    check: str
    severity: Severity
    message: str
    release: str | None = None
    environment: str | None = None
    file: str | None = None
    line: int | None = None
    hint: str | None = None
    kind: str | None = None
    name: str | None = None
    suppressed: str | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def location(self) -> str | None:
        if self.file is None:
            return None
        return f"{self.file}:{self.line}" if self.line else self.file

    def with_(self, **changes: object) -> Finding:
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {
            "check": self.check,
            "severity": self.severity.value,
            "release": self.release,
            "environment": self.environment,
            "file": self.file,
            "line": self.line,
            "object": f"{self.kind}/{self.name}" if self.kind else None,
            "message": self.message,
            "hint": self.hint,
            "suppressed": self.suppressed is not None,
            "suppression_reason": self.suppressed,
        }


@dataclass
class Report:
    """All findings of one `gripctl validate` run and the threshold that decides its exit code."""

    findings: list[Finding]
    fail_on: Severity
    environments: list[str]
    releases: list[str]

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed is None]

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.active if f.severity.rank >= self.fail_on.rank]

    @property
    def exit_code(self) -> int:
        return 1 if self.failing else 0

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for f in self.active:
            out[f.severity.value] += 1
        out["suppressed"] = len(self.findings) - len(self.active)
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "environments": self.environments,
            "releases": self.releases,
            "fail_on": self.fail_on.value,
            "summary": self.counts(),
            "exit_code": self.exit_code,
            "findings": [f.to_dict() for f in self.findings],
        }
