"""The Ledger: one typed facade over the ledger database, made of one class per record.

Callers get frozen records (gripctl.ledger.types), never ORM objects, so nothing holds a session and the
engine may call in from several threads. Each method runs one short transaction (gripctl.ledger.db);
the methods themselves live with their record in gripctl.ledger.records.
"""

from __future__ import annotations

from pathlib import Path

# Callers elsewhere import these from here; they belong to the plumbing in gripctl.ledger.db.
from gripctl.ledger.db import (
    DATABASE_URL_ENV,
    READONLY,
    UNSET,
    alembic_config,
    configured_url,
    connect,
    mask_url,
    resolve_url,
)
from gripctl.ledger.records.audit import AuditRecords
from gripctl.ledger.records.drift import DriftRecords
from gripctl.ledger.records.incidents import IncidentRecords
from gripctl.ledger.records.locks import LockRecords
from gripctl.ledger.records.plans import PlanRecords
from gripctl.ledger.records.runs import RunRecords
from gripctl.ledger.records.secrets import SecretRecords
from gripctl.ledger.records.tokens import TokenRecords


class Ledger(
    RunRecords,
    PlanRecords,
    LockRecords,
    IncidentRecords,
    SecretRecords,
    TokenRecords,
    AuditRecords,
    DriftRecords,
):
    """The durable record. One Session per call; safe to share between threads."""


def open_ledger(url: str | None = None, *, root: Path | None = None) -> Ledger:
    """Open (creating or migrating to head as needed) the ledger at `url`, else $GRIPCTL_DATABASE_URL,
    else gripctl.yaml's `ledger.url` under `root`, else `<root>/.gripctl/ledger.sqlite`.
    Raises LedgerError when the database cannot be reached."""
    return Ledger(connect(resolve_url(url, root)))


__all__ = [
    "DATABASE_URL_ENV",
    "READONLY",
    "UNSET",
    "Ledger",
    "alembic_config",
    "configured_url",
    "mask_url",
    "open_ledger",
]
