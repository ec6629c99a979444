"""Decrypted values for a deploy (merged, in memory) and masking of known secret values in output.

Masking rule (docs/secrets.md): every string leaf of a decrypted secrets file is a secret, and so is
its base64 form (how it appears in a rendered Kubernetes Secret), and each line of a multi-line value
(so a PEM key shown line by line in a diff is masked too). Values shorter than MIN_MASK_LENGTH
characters, and booleans/null/numbers written as such, are not masked: masking "true" or "1" would
mangle every diff while hiding nothing worth hiding.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gripctl import yamlio as yaml
from gripctl.helmvalues import deep_merge
from gripctl.model.types import SecretsSource
from gripctl.secrets.decrypt import decrypt_values

MIN_MASK_LENGTH = 6
MASK = "<secret>"
_TRIVIAL = {"true", "false", "yes", "no", "null", "none", "on", "off"}


def merged_values(sources: Sequence[SecretsSource], root: Path) -> bytes | None:
    """All `sources` decrypted and merged (later wins) into one YAML document for `helm --values -`.

    None when there are no sources. A single source is returned exactly as sops printed it.
    """
    if not sources:
        return None
    docs = [decrypt_values(s.path, root=root) for s in sources]
    if len(docs) == 1:
        return docs[0]
    merged: dict[str, Any] = {}
    for doc in docs:
        data = yaml.safe_load(doc)
        if isinstance(data, dict):
            merged = deep_merge(merged, data)
    return yaml.safe_dump(merged, sort_keys=False, allow_unicode=True).encode()


def _maskable(value: str) -> bool:
    return len(value) >= MIN_MASK_LENGTH and value.strip().lower() not in _TRIVIAL


def _leaves(node: object, encrypted: object = None, *, only_encrypted: bool = False) -> Iterable[str]:
    """String forms of the scalar leaves of `node`; with `only_encrypted`, only those whose
    counterpart in the encrypted document is an `ENC[...]` value (sops' encrypted_regex and
    unencrypted_suffix leave some values in the clear: those are not secrets)."""
    if isinstance(node, dict):
        for key, value in node.items():
            sub = encrypted.get(key) if isinstance(encrypted, dict) else None
            yield from _leaves(value, sub, only_encrypted=only_encrypted)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            sub = encrypted[i] if isinstance(encrypted, list) and i < len(encrypted) else None
            yield from _leaves(value, sub, only_encrypted=only_encrypted)
    elif only_encrypted and not (isinstance(encrypted, str) and encrypted.startswith("ENC[")):
        return
    elif isinstance(node, str):
        yield node
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield str(node)  # a numeric PIN is still a secret; short ones are dropped by the length rule


def secret_leaves(decrypted_yaml: bytes, encrypted_yaml: bytes | None = None) -> set[str]:
    """Every value worth masking in a decrypted secrets document (see the module docstring).

    Pass the file's `encrypted_yaml` too to mask only the values sops actually encrypted (files with
    `encrypted_regex` keep names and hosts readable; masking those would mangle diffs for nothing).
    """
    found: set[str] = set()
    encrypted_docs = list(yaml.safe_load_all(encrypted_yaml)) if encrypted_yaml is not None else []
    for i, doc in enumerate(yaml.safe_load_all(decrypted_yaml)):
        counterpart = encrypted_docs[i] if i < len(encrypted_docs) else None
        for value in _leaves(doc, counterpart, only_encrypted=encrypted_yaml is not None):
            candidates = [value, value.strip()]
            if "\n" in value.strip():
                candidates += [line.strip() for line in value.splitlines()]
            for text in candidates:
                if _maskable(text):
                    found.add(text)
                    found.add(base64.b64encode(text.encode()).decode())
    return found


def mask(text: str, secret_values: Iterable[str]) -> str:
    """`text` with every occurrence of a known secret value replaced by `<secret>` (longest first,
    so a value that contains another is masked whole). Trivially short values are left alone."""
    values = sorted({v for v in secret_values if _maskable(v)}, key=len, reverse=True)
    if not values:
        return text
    return re.sub("|".join(re.escape(v) for v in values), MASK, text)
