"""The `policies:` section of gripctl.yaml: severities per check, the failing threshold, and exceptions.

An exception must say why (`reason`): an unexplained exception is a ConfigError, because a silent
waiver is exactly what a review should catch. Objects may also waive a check for themselves with the
annotation `gripctl.dev/ignore-<check>: "<reason>"`. Waived findings stay in the report, marked
suppressed with their reason.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from gripctl.errors import ConfigError, Location
from gripctl.model.types import Platform
from gripctl.validate.findings import CHECKS, Finding, Severity

IGNORE_ANNOTATION_PREFIX = "gripctl.dev/ignore-"


@dataclass(frozen=True)
class PolicyException:
    """One entry of `policies.exceptions`: waives `check` for a release (optionally one object) or a path."""

    check: str
    reason: str
    release: str | None = None
    kind: str | None = None
    name: str | None = None
    path: str | None = None  # a glob or folder prefix, for repository findings (e.g. test fixtures)

    def covers(self, finding: Finding) -> bool:
        if finding.check != self.check:
            return False
        if self.release is not None and finding.release != self.release:
            return False
        if self.kind is not None and (finding.kind or "").lower() != self.kind.lower():
            return False
        if self.name is not None and finding.name != self.name:
            return False
        if self.path is not None:
            if finding.file is None:
                return False
            prefix = self.path.rstrip("/") + "/"
            if not (finding.file.startswith(prefix) or fnmatch.fnmatch(finding.file, self.path)):
                return False
        return True


@dataclass(frozen=True)
class Policies:
    fail_on: Severity = Severity.error
    severities: dict[str, Severity | None] = field(default_factory=dict)  # None = off
    exceptions: tuple[PolicyException, ...] = ()

    def enabled(self, check: str) -> bool:
        return self.severities.get(check, CHECKS[check][0]) is not None

    def severity(self, check: str, found: Severity) -> Severity:
        """The configured severity of `check`, or what the check itself said when none is configured."""
        configured = self.severities.get(check)
        return configured if configured is not None else found

    def apply(self, findings: list[Finding]) -> list[Finding]:
        """Set configured severities, drop checks that are off, and mark excepted findings suppressed."""
        out: list[Finding] = []
        for f in findings:
            if f.check in self.severities and self.severities[f.check] is None:
                continue
            # Info findings are notices ("skipped: no scanner", helm lint advice): they stay info whatever
            # the check's configured severity, so that `image-scan: error` never fails on a skip note.
            configured = self.severities.get(f.check)
            if configured is not None and f.severity is not Severity.info:
                f = f.with_(severity=configured)
            reason = self._reason(f)
            out.append(f.with_(suppressed=reason) if reason else f)
        return out

    def _reason(self, f: Finding) -> str | None:
        for exc in self.exceptions:
            if exc.covers(f):
                return f"policies.exceptions: {exc.reason}"
        note = f.annotations.get(IGNORE_ANNOTATION_PREFIX + f.check, "").strip()
        if note:
            return f"annotation {IGNORE_ANNOTATION_PREFIX}{f.check}: {note}"
        return None


def _severity(value: object, where: Location, what: str) -> Severity | None:
    text = str(value).strip().lower()
    if text == "off" or value is False:
        return None
    try:
        return Severity(text)
    except ValueError:
        raise ConfigError(
            f"{what}: {value!r} is not a severity",
            hint="use one of info, warning, error (or off to turn the check off)",
            location=where,
        ) from None


def load_policies(platform: Platform) -> Policies:
    """Parse `policies:` from the loaded gripctl.yaml; errors name the file and line."""
    raw = platform.raw
    section = raw.get("policies") or {}
    root = platform.root
    path = platform.config_path
    display = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    def loc(*keys: object) -> Location:
        key_path = "policies"
        for key in keys:
            key_path += f"[{key}]" if isinstance(key, int) else f".{key}"
        found = platform.locations.get(key_path)
        return found if found is not None else Location(display, key_path=key_path)

    if not isinstance(section, dict):
        raise ConfigError("policies must be a mapping", location=loc(), hint="see docs/validate.md")

    fail_on = Severity.error
    if "fail_on" in section:
        parsed = _severity(section["fail_on"], loc("fail_on"), "policies.fail_on")
        if parsed is None:
            raise ConfigError("policies.fail_on cannot be off", location=loc("fail_on"), hint="use error")
        fail_on = parsed

    severities: dict[str, Severity | None] = {}
    checks = section.get("checks") or {}
    if not isinstance(checks, dict):
        raise ConfigError("policies.checks must be a mapping of check id to severity", location=loc("checks"))
    for check, value in checks.items():
        if check not in CHECKS:
            raise ConfigError(
                f"policies.checks names an unknown check {check!r}",
                location=loc("checks", check),
                hint=f"known checks: {', '.join(CHECKS)}",
            )
        severities[check] = _severity(value, loc("checks", check), f"policies.checks.{check}")

    exceptions: list[PolicyException] = []
    entries = section.get("exceptions") or []
    if not isinstance(entries, list):
        raise ConfigError("policies.exceptions must be a list", location=loc("exceptions"))
    for i, entry in enumerate(entries):
        where = loc("exceptions", i)
        if not isinstance(entry, dict):
            raise ConfigError(f"policies.exceptions[{i}] must be a mapping", location=where)
        check = str(entry.get("check") or "")
        if check not in CHECKS:
            raise ConfigError(
                f"policies.exceptions[{i}] names an unknown check {check or '(none)'!r}",
                location=where,
                hint=f"known checks: {', '.join(CHECKS)}",
            )
        reason = str(entry.get("reason") or "").strip()
        if not reason:
            target = entry.get("release") or entry.get("path") or "?"
            raise ConfigError(
                f"policies.exceptions[{i}] ({check} for {target}) has no reason",
                location=where,
                hint="every exception needs `reason:` saying why the check does not apply and until when",
            )
        if not entry.get("release") and not entry.get("path"):
            raise ConfigError(
                f"policies.exceptions[{i}] ({check}) names neither a release nor a path",
                location=where,
                hint="add `release: NNN-name` (rendered objects) or `path: some/folder` (repository files)",
            )
        exceptions.append(
            PolicyException(
                check=check,
                reason=reason,
                release=_opt(entry.get("release")),
                kind=_opt(entry.get("kind")),
                name=_opt(entry.get("name")),
                path=_opt(entry.get("path")),
            )
        )
    return Policies(fail_on=fail_on, severities=severities, exceptions=tuple(exceptions))


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
