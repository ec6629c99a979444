"""The plan digest: one sha256 over every named input a plan was computed from, and staleness checks.

Inputs are named for people ("values file envs/production/values.yaml", "live release 010-cert-manager")
so that a stale plan can say *what* changed. Secret values are only ever hashed, never stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gripctl.errors import PlanStaleError
from gripctl.plan.types import Plan

DIGEST_VERSION = "gripctl-plan-digest/v1"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode())


def _normalise(obj: Any) -> Any:
    # Helm round-trips values through JSON (float64): 1.0 and 1 are the same value there.
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    if isinstance(obj, Mapping):
        return {str(k): _normalise(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_normalise(v) for v in obj]
    return obj


def canonical_json(obj: Any) -> str:
    """A stable text form of YAML/JSON data: sorted keys, no whitespace, dates as strings."""
    return json.dumps(_normalise(obj), sort_keys=True, separators=(",", ":"), default=str)


def values_digest(values: Mapping[str, Any]) -> str:
    """sha256 of merged user values: equal for the same values however they were layered."""
    return sha256_text(canonical_json(values))


def secrets_digest(decrypted: bytes) -> str:
    """sha256 of decrypted secrets, domain-separated so it matches no other hash in the plan."""
    return sha256_bytes(b"gripctl-secrets\0" + decrypted)


def tree_digest(folder: Path) -> str:
    """sha256 over every file of a folder (relative path and content), in a stable order."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


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
