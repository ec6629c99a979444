"""What every operation starts from: the platform of one environment, a selection of its releases,
and the ledger. Light: reading the ledger imports no Kubernetes client (service/world.py does)."""

from __future__ import annotations

from pathlib import Path

from gripctl.errors import UsageError
from gripctl.ledger.store import Ledger, open_ledger
from gripctl.model.graph import Graph
from gripctl.model.loader import load_platform
from gripctl.model.selection import Selection, select
from gripctl.model.types import Platform


def load(root: Path, environment: str | None) -> Platform:
    return load_platform(root, environment)


def selected(platform: Platform, selection: Selection, *, allow_empty: bool = False) -> list[str]:
    """The selected release ids in topological order; an empty selection is a usage error."""
    ids = select(
        platform,
        Graph.from_platform(platform),
        only=list(selection.only),
        include_needs=selection.include_needs,
        include_dependents=selection.include_dependents,
        selectors=list(selection.selectors),
    )
    if not ids and not allow_empty:
        raise UsageError(
            "the selection matches no release", hint="check --only/--selector against `gripctl graph`"
        )
    return ids


def ledger_of(platform: Platform | Path) -> Ledger:
    root = platform.root if isinstance(platform, Platform) else platform
    return open_ledger(root=root)
