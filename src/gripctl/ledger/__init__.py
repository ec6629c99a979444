"""Ledger: the durable SQL record of runs, actions, events, plans, approvals, incidents and notifications.

`open_ledger()` connects (SQLite by default, PostgreSQL for teams), migrates the schema to head with
Alembic, and returns a `Ledger` whose methods return plain frozen records.
"""

from gripctl.ledger.store import DATABASE_URL_ENV, UNSET, Ledger, mask_url, open_ledger
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
