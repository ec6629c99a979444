"""The plan digest: one sha256 over every named input a plan was computed from, and staleness checks.

Inputs are named for people ("values file envs/production/values.yaml", "live release 010-cert-manager")
so that a stale plan can say *what* changed. Secret values are only ever hashed, never stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from gripctl.errors import PlanStaleError
from gripctl.plan.types import Plan

DIGEST_VERSION = "gripctl-plan-digest/v1"


def combine(inputs: Mapping[str, str]) -> str:
    """The plan digest: sha256 over the sorted (name, input digest) pairs."""
    h = hashlib.sha256(DIGEST_VERSION.encode() + b"\n")
    for name in sorted(inputs):
        h.update(name.encode() + b"\0" + inputs[name].encode() + b"\n")
    return h.hexdigest()


def changed_inputs(saved: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Human lines naming each input that differs: "<name> changed|is new|is gone"."""
    lines: list[str] = []
    for name in sorted(set(saved) | set(current)):
        if name not in current:
            lines.append(f"{name} is gone")
        elif name not in saved:
            lines.append(f"{name} is new")
        elif saved[name] != current[name]:
            lines.append(f"{name} changed")
    return lines


def check_fresh(saved: Plan, current: Plan) -> None:
    """Raise PlanStaleError, naming what changed, unless `current` (just recomputed) matches `saved`."""
    if saved.digest == current.digest and saved.environment == current.environment:
        return
    what = changed_inputs(saved.inputs, current.inputs)
    if saved.environment != current.environment:
        what.insert(0, f"environment is {current.environment!r}, the plan was for {saved.environment!r}")
    if not what:  # same named inputs, different digest: an older digest scheme or an edited plan file
        what = ["the plan digest does not match its inputs"]
    raise PlanStaleError(
        f"{'; '.join(what)} since plan {saved.id}; re-run gripctl plan",
        hint=f"`gripctl plan -e {saved.environment}` computes a fresh plan to review and approve",
    )
