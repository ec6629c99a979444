"""Light engine option types: what the CLI needs in its signatures without importing the engine."""

from __future__ import annotations

from enum import StrEnum


class OnFailure(StrEnum):
    halt = "halt"  # let running releases finish, start nothing new; dependents are skipped
    rollback_run = "rollback-run"  # also roll back every release this run changed
