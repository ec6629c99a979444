"""Content digests: sha256 of bytes, text, folders, and of YAML/JSON data in one canonical form.

Used wherever gripctl must tell "the same" from "changed" without keeping the content: plan inputs,
values (secrets included, which are only ever hashed), charts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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
