"""Object-level diff of two Helm manifests, with secrets masked. Pure: text in, ObjectChanges out.

Objects are keyed by (API group/kind, namespace, name) — not by version, so that moving a kind from
v1beta1 to v1 shows as a change, not a removal plus an addition. A `changed` object carries a unified
diff of its normalised YAML (sorted keys). Masking happens before any text is produced:

- a `Secret`'s `data` and `stringData` values are always replaced, keeping only whether each key
  changed, so a diff says "key password changed" and never shows a value;
- every known secret value (leaf of the decrypted secrets, live or desired) is replaced wherever it
  appears, inside any string of any object (ConfigMaps, container args, annotations).
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from gripctl import manifest
from gripctl import yamlio as yaml
from gripctl.plan.types import ObjectChange
from gripctl.secrets.values import MASK as SECRET_MASK
from gripctl.secrets.values import mask  # the secrets room owns the masking rule

MASK = SECRET_MASK
SECRET_CHANGED_BEFORE = "<secret: old value>"
SECRET_CHANGED_AFTER = "<secret: new value>"


def _is_secret(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Secret" and str(obj.get("apiVersion", "")) == "v1"


def _mask_strings(node: Any, secret_values: Iterable[str]) -> Any:
    values = list(secret_values)
    if not values:
        return node

    def walk(n: Any) -> Any:
        if isinstance(n, str):
            return mask(n, values)
        if isinstance(n, Mapping):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in n.items()}
        if isinstance(n, list):
            return [walk(v) for v in n]
        return n

    return walk(node)


def _mask_secret_data(live: dict[str, Any] | None, desired: dict[str, Any] | None) -> None:
    """Replace Secret data/stringData values in place, keeping only which keys changed."""
    for field_name in ("data", "stringData"):
        before = live.get(field_name) if live is not None else None
        after = desired.get(field_name) if desired is not None else None
        before = before if isinstance(before, dict) else None
        after = after if isinstance(after, dict) else None
        for key in set(before or {}) | set(after or {}):
            same = before is not None and after is not None and key in before and key in after
            same = same and before[key] == after[key]  # type: ignore[index]
            if before is not None and key in before:
                before[key] = MASK if same or after is None or key not in after else SECRET_CHANGED_BEFORE
            if after is not None and key in after:
                after[key] = MASK if same or before is None or key not in before else SECRET_CHANGED_AFTER


def masked_pair(
    live: dict[str, Any] | None, desired: dict[str, Any] | None, secret_values: Iterable[str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Copies of both sides of one object with every secret masked (see the module docstring)."""
    values = list(secret_values)
    live_m = _mask_strings(live, values) if live is not None else None
    desired_m = _mask_strings(desired, values) if desired is not None else None
    if any(o is not None and _is_secret(o) for o in (live, desired)):
        live_m, desired_m = copy.deepcopy(live_m), copy.deepcopy(desired_m)
        _mask_secret_data(live_m, desired_m)
    return live_m, desired_m


def normalised_yaml(obj: Mapping[str, Any]) -> str:
    return yaml.safe_dump(
        dict(obj), sort_keys=True, default_flow_style=False, width=10_000, allow_unicode=True
    )


# A block scalar with "keep" chomping (`|+`, `>+`, `|2+`): its trailing blank lines are part of its value.
_KEEP_CHOMPING = re.compile(r"[|>][1-9]?\+")


def same_text(live_manifest: str, desired_manifest: str) -> bool:
    """Whether two manifests are certainly the same objects without parsing them: the same text, or
    the same but for blank lines after the last document (`helm get manifest` prints the stored
    manifest with two more newlines than `helm template` renders it). Such blank lines only matter at
    the end of a keep-chomping block scalar; with one anywhere, the manifests are parsed instead.

    Parsing both sides was most of a no-op plan's per-release cost."""
    if live_manifest == desired_manifest:
        return True
    if _KEEP_CHOMPING.search(live_manifest) or _KEEP_CHOMPING.search(desired_manifest):
        return False
    return live_manifest.rstrip("\n") == desired_manifest.rstrip("\n")


def diff_manifests(
    live_manifest: str, desired_manifest: str, namespace: str, secret_values: Iterable[str] = ()
) -> tuple[ObjectChange, ...]:
    """Objects added, changed and removed from live to desired, in a stable order, secrets masked."""
    if same_text(live_manifest, desired_manifest):
        return ()
    values = list(secret_values)
    live = manifest.by_key(live_manifest, namespace, what="the live manifest")
    desired = manifest.by_key(desired_manifest, namespace, what="the rendered manifest")
    changes: list[ObjectChange] = []
    for key in sorted(set(live) | set(desired), key=lambda k: (k[0], k[1] or "", k[2])):
        kind, ns, name = key
        before, after = live.get(key), desired.get(key)
        if before == after:
            continue
        if before is None:
            changes.append(ObjectChange(kind=kind, namespace=ns, name=name, change="added"))
            continue
        if after is None:
            changes.append(ObjectChange(kind=kind, namespace=ns, name=name, change="removed"))
            continue
        before_m, after_m = masked_pair(before, after, values)
        assert before_m is not None and after_m is not None
        where = f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
        lines = difflib.unified_diff(
            normalised_yaml(before_m).splitlines(),
            normalised_yaml(after_m).splitlines(),
            fromfile=f"live {where}",
            tofile=f"desired {where}",
            lineterm="",
        )
        text = "\n".join(lines) or "(only secret values differ; they are masked)"
        changes.append(ObjectChange(kind=kind, namespace=ns, name=name, change="changed", diff=text))
    return tuple(changes)
