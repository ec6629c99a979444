"""Ledger fixtures shared by tests/ledger and tests/metrics: `ledger` runs each test on SQLite and on
PostgreSQL (skipped, naming `make postgres`, when GRIPCTL_TEST_POSTGRES_URL is unset); `clock` lets a test
move the ledger's time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gripctl.ledger import Ledger
from gripctl.ledger.testing import POSTGRES_URL_ENV, Clock, temporary_ledger


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not os.environ.get(POSTGRES_URL_ENV):
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: run `make postgres` and export it (make test does)")
    return str(request.param)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(backend: str, tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    with temporary_ledger(backend, tmp_path, os.environ.get(POSTGRES_URL_ENV)) as ledger:
        ledger.clock = clock
        yield ledger
