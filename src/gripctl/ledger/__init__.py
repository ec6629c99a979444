"""Ledger: the durable SQL record of runs, actions, events, plans, approvals, incidents and notifications.

`open_ledger()` connects (SQLite by default, PostgreSQL for teams), migrates the schema to head with
Alembic, and returns a `Ledger` whose methods return plain frozen records.
"""

from typing import TYPE_CHECKING, Any

from gripctl.ledger.types import (
    ActionKind,
    ActionOutcome,
    ActionRecord,
    ApprovalRecord,
    CommitInfo,
    EnvLockRecord,
    EventRecord,
    IncidentEventKind,
    IncidentEventRecord,
    IncidentRecord,
    IncidentStatus,
    NotificationOutcome,
    NotificationRecord,
    PlanRecord,
    RunKind,
    RunOutcome,
    RunRecord,
    SecretRotationRecord,
    Severity,
)

if TYPE_CHECKING:
    from gripctl.ledger.store import DATABASE_URL_ENV, UNSET, Ledger, mask_url, open_ledger

# The store imports SQLAlchemy (a large import): loaded on first use, so that `gripctl --help` and the
# record types (imported by the CLI's option signatures) do not pay for it.
_STORE_NAMES = {"DATABASE_URL_ENV", "UNSET", "Ledger", "mask_url", "open_ledger"}


def __getattr__(name: str) -> Any:
    if name in _STORE_NAMES:
        from gripctl.ledger import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATABASE_URL_ENV",
    "UNSET",
    "ActionKind",
    "ActionOutcome",
    "ActionRecord",
    "ApprovalRecord",
    "CommitInfo",
    "EnvLockRecord",
    "EventRecord",
    "IncidentEventKind",
    "IncidentEventRecord",
    "IncidentRecord",
    "IncidentStatus",
    "Ledger",
    "NotificationOutcome",
    "NotificationRecord",
    "PlanRecord",
    "RunKind",
    "RunOutcome",
    "RunRecord",
    "SecretRotationRecord",
    "Severity",
    "mask_url",
    "open_ledger",
]
