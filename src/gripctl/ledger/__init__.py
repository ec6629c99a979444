"""Ledger: the durable SQL record of runs, actions, events, plans and their approvals, locks and leases,
incidents and notifications, secret rotations, API tokens, the audit log and drift findings.

`open_ledger()` connects (SQLite by default, PostgreSQL for teams), migrates the schema to head with
Alembic, and returns a `Ledger` whose methods return plain frozen records.
"""

from typing import TYPE_CHECKING, Any

from gripctl.ledger.types import (
    ActionKind,
    ActionOutcome,
    ActionRecord,
    ApiTokenRecord,
    ApprovalDecision,
    ApprovalMethod,
    ApprovalRecord,
    AuditRecord,
    CommitInfo,
    DriftKind,
    DriftRecord,
    EnvLockRecord,
    EventRecord,
    IncidentEventKind,
    IncidentEventRecord,
    IncidentRecord,
    IncidentStatus,
    LeaseRecord,
    NotificationOutcome,
    NotificationRecord,
    PlanRecord,
    RunKind,
    RunOutcome,
    RunRecord,
    SecretRotationRecord,
    Severity,
    TokenRole,
)

if TYPE_CHECKING:
    from gripctl.ledger.records.tokens import TokenRefused
    from gripctl.ledger.store import DATABASE_URL_ENV, UNSET, Ledger, mask_url, open_ledger

# The store imports SQLAlchemy (a large import): loaded on first use, so that `gripctl --help` and the
# record types (imported by the CLI's option signatures) do not pay for it.
_LAZY = {
    "DATABASE_URL_ENV": "gripctl.ledger.store",
    "UNSET": "gripctl.ledger.store",
    "Ledger": "gripctl.ledger.store",
    "mask_url": "gripctl.ledger.store",
    "open_ledger": "gripctl.ledger.store",
    "TokenRefused": "gripctl.ledger.records.tokens",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATABASE_URL_ENV",
    "UNSET",
    "ActionKind",
    "ActionOutcome",
    "ActionRecord",
    "ApiTokenRecord",
    "ApprovalDecision",
    "ApprovalMethod",
    "ApprovalRecord",
    "AuditRecord",
    "CommitInfo",
    "DriftKind",
    "DriftRecord",
    "EnvLockRecord",
    "EventRecord",
    "IncidentEventKind",
    "IncidentEventRecord",
    "IncidentRecord",
    "IncidentStatus",
    "LeaseRecord",
    "Ledger",
    "NotificationOutcome",
    "NotificationRecord",
    "PlanRecord",
    "RunKind",
    "RunOutcome",
    "RunRecord",
    "SecretRotationRecord",
    "Severity",
    "TokenRefused",
    "TokenRole",
    "mask_url",
    "open_ledger",
]
