"""Helm values as data: helm's merge of values layers, `--set` parsing, and the leaf paths of a tree.

The plan compares the user values helm recorded with the ones the repository layers up; both sides
must be built by helm's own rules, so those rules live here once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's merge of user values files: maps merge recursively, anything else in `over` wins."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        elif isinstance(value, Mapping):
            out[key] = deep_merge({}, value)
        else:
            out[key] = value
    return out


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], "", False
    for ch in text:
        if escaped:
            current += ch if ch == sep else "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current + ("\\" if escaped else ""))
    return parts


def _typed(value: str) -> Any:
    # helm's strvals typing for --set: true/false/null, and integers without a leading zero.
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if value == "0" or (value[:1] in "+-123456789" and value.lstrip("+-").isdigit()):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def parse_set_values(set_values: Mapping[str, str]) -> dict[str, Any]:
    """`--set key=value` pairs as helm reads them (dotted keys, `\\.` escapes, comma-separated pairs).

    List indexes (`a[0]=x`) are kept as literal key names: gripctl's own --set values do not use them.
    """
    out: dict[str, Any] = {}
    for key, value in set_values.items():
        # helm receives "key=value" and splits several pairs on unescaped commas.
        pairs = _split_unescaped(f"{key}={value}", ",")
        for pair in pairs:
            k, _, v = pair.partition("=")
            path = _split_unescaped(k, ".")
            node: dict[str, Any] = {}
            leaf: Any = _typed(v)
            for part in reversed(path[1:]):
                leaf = {part: leaf}
            node[path[0]] = leaf
            out = deep_merge(out, node)
    return out


def leaf_paths(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every scalar leaf of YAML data; `a.b[0].c` style."""
    if isinstance(data, Mapping):
        if not data and prefix:
            yield prefix, {}
        for k, v in data.items():
            yield from leaf_paths(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, list):
        if not data and prefix:
            yield prefix, []
        for i, v in enumerate(data):
            yield from leaf_paths(v, f"{prefix}[{i}]")
    else:
        yield prefix, data
