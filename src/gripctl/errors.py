"""The one exception hierarchy of gripctl: every user-facing failure is a GripError.

A GripError says what went wrong, where (file:line or release), and what to do next. The CLI prints
it without a traceback and exits with its `exit_code`; any other exception reaching the CLI is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass


class ExitCode:
    """Process exit codes, documented in docs/cli.md."""

    OK = 0
    FAILED = 1  # the operation ran and failed (deploy failed, findings at failing severity, error)
    CHANGES = 2  # `plan`/`diff` only: there are changes (helmfile's --detailed-exitcode)
    BAD_INPUT = 2  # `validate` only: the input itself is broken
    USAGE = 64  # wrong command-line usage
    LOCKED = 75  # another run holds the environment lock (EX_TEMPFAIL: retry later)


@dataclass(frozen=True)
class Location:
    """Where in a file a problem is; line and column are 1-based."""

    path: str
    line: int | None = None
    column: int | None = None
    key_path: str | None = None

    def __str__(self) -> str:
        text = self.path
        if self.line is not None:
            text += f":{self.line}"
            if self.column is not None:
                text += f":{self.column}"
        if self.key_path:
            text += f" ({self.key_path})"
        return text


class GripError(Exception):
    """Base of every error gripctl reports to a user."""

    exit_code: int = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.location = location

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "location": str(self.location) if self.location else None,
        }


class ConfigError(GripError):
    """The platform repository (gripctl.yaml, charts, values) is malformed."""

    exit_code = ExitCode.BAD_INPUT


class UsageError(GripError):
    """The command line names something that does not exist (environment, release, file)."""

    exit_code = ExitCode.USAGE


class ToolMissingError(GripError):
    """An external program (helm, sops, age, kwokctl, ...) is not installed."""


class ToolError(GripError):
    """An external program ran and failed; the message carries its stderr."""


class ClusterError(GripError):
    """The Kubernetes cluster is unreachable, or the context is missing."""


class SecretsError(GripError):
    """SOPS/age: no key, wrong key, tampered file, plaintext where ciphertext belongs."""


class LedgerError(GripError):
    """The ledger database is unreachable or its schema is not at the expected revision."""


class LockedError(GripError):
    """Another run holds the environment, or a release is locked by another helm operation."""

    exit_code = ExitCode.LOCKED


class LockLostError(GripError):
    """A run stopped because it no longer holds its environment lock (another run took over)."""


class ApprovalError(GripError):
    """A change needs an approval that is missing or was given for a different plan."""


class PolicyError(GripError):
    """An environment's policy refuses this deploy: `deploy: manual` for the automatic entry, or
    `promote_from` without a success of the same chart version and values in the source environment."""


class PlanStaleError(GripError):
    """A saved plan no longer matches the repository, values or live releases it was computed from."""


class ValidationError(GripError):
    """A deploy refused by its pre-deployment checks (`gripctl validate` shows the findings)."""


class DeployError(GripError):
    """A deployment ran and failed (after remediation, if any)."""


class TemplateError(GripError):
    """An application template (copier) could not be rendered or applied."""


class DocsError(GripError):
    """The documentation site did not build, has broken links, or could not be published."""
