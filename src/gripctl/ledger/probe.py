"""Look at a ledger without changing it: reachable? at the newest schema? (for `gripctl doctor`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from gripctl.ledger.db import DATABASE_URL_ENV, engine_for, mask_url, resolve_url
from gripctl.ledger.migrations import HEAD


@dataclass(frozen=True)
class Probe:
    url: str  # masked: no password
    revision: str | None  # the schema revision found; None for an empty database
    head: str = HEAD
    error: str = ""
    hint: str = ""
    note: str = ""

    @property
    def at_head(self) -> bool:
        return self.revision == self.head


def probe(root: Path) -> Probe:
    """The platform's ledger as `open_ledger` would find it, read-only (a missing SQLite file is not
    created: it reads as an empty ledger, made on first use)."""
    url = resolve_url(None, root, create=False)
    shown = mask_url(url)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return Probe(shown, HEAD, note="not created yet: made on first use")
    try:
        engine = engine_for(url)
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return Probe(shown, None)
            revisions = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
        engine.dispose()
    except (SQLAlchemyError, ValueError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return Probe(
            shown,
            None,
            error=f"cannot reach it: {reason}",
            hint=f"check that the database runs and {DATABASE_URL_ENV} or gripctl.yaml's ledger.url is right",
        )
    return Probe(shown, ",".join(revisions) or None)
