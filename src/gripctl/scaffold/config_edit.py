"""Adding a release's entry to gripctl.yaml as text, so that every existing line, comment and style stays.

A YAML round trip (even ruamel's) re-flows some comments and spacing; a platform file is reviewed line
by line, so the new entry is inserted as lines instead: ruamel only tells where the `releases:` keys
are. The entry goes in numeric order (before the first release with a higher number, above the comments
that introduce it), indented like its neighbours. The result is parsed again and must hold exactly the
old data plus the new entry, or nothing is returned.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from gripctl.errors import ConfigError, Location

_NUMBERED = re.compile(r"^(\d+)-")


def _number(release_id: object) -> int | None:
    match = _NUMBERED.match(str(release_id))
    return int(match.group(1)) if match else None


def _load(text: str) -> Any:
    try:
        return YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise ConfigError(
            f"gripctl.yaml is not valid YAML: {exc}", location=Location("gripctl.yaml")
        ) from None


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def entry_lines(release_id: str, needs: list[str], indent: int, child: int, comment: str | None) -> list[str]:
    head = " " * indent
    lines = [f"{head}# {comment}\n"] if comment else []
    lines.append(f"{head}{release_id}:\n")
    lines.append(f"{head}{' ' * child}needs: [{', '.join(needs)}]\n")
    return lines


def _child_indent(releases: CommentedMap, key_column: int) -> int:
    """How far a release's own keys sit to the right of its id, as the file already does it."""
    for value in releases.values():
        if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
            first = next(iter(value))
            column = value.lc.key(first)[1]
            if column > key_column:
                return int(column - key_column)
    return 2


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def add_release(text: str, release_id: str, needs: list[str], *, comment: str | None = None) -> str:
    """`text` (a gripctl.yaml) with `releases.<release_id>: {needs: [...]}` added; ConfigError when the
    file cannot take it (the id is already there, `releases:` is not a mapping)."""
    doc = _load(text)
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ConfigError("gripctl.yaml must be a mapping of keys", location=Location("gripctl.yaml"))
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    releases = doc.get("releases")
    if releases is not None and not isinstance(releases, CommentedMap):
        line = doc.lc.key("releases")[0] + 1
        raise ConfigError(
            "releases: must be a mapping of release ids",
            location=Location("gripctl.yaml", line, key_path="releases"),
        )
    if isinstance(releases, CommentedMap) and release_id in releases:
        line = releases.lc.key(release_id)[0] + 1
        raise ConfigError(
            f"gripctl.yaml already has an entry for {release_id!r}",
            location=Location("gripctl.yaml", line, key_path=f"releases.{release_id}"),
            hint="remove the stale entry, or pick another name or number",
        )

    if "releases" not in doc:
        block = ["\n", "releases:\n", *entry_lines(release_id, needs, 2, 2, comment)]
        new_lines = lines + block
    elif releases is None or not releases:
        key_line = doc.lc.key("releases")[0]
        empty_flow = re.match(r"^releases:\s*\{\s*\}(.*)$", lines[key_line].rstrip("\n"))
        if empty_flow:
            # `releases: {}` becomes a block mapping; a comment after it on the line is kept.
            rest = empty_flow.group(1).strip()
            lines[key_line] = "releases:" + (f"  {rest}" if rest else "") + "\n"
        new_lines = (
            lines[: key_line + 1] + entry_lines(release_id, needs, 2, 2, comment) + lines[key_line + 1 :]
        )
    else:
        if releases.fa.flow_style():
            raise ConfigError(
                "releases: is written as a flow mapping ({...}); gripctl adds entries to a block mapping",
                location=Location("gripctl.yaml", doc.lc.key("releases")[0] + 1, key_path="releases"),
                hint="write releases: one id per line, then run the command again",
            )
        first = next(iter(releases))
        key_column = int(releases.lc.key(first)[1])
        child = _child_indent(releases, key_column)
        number = _number(release_id) or 0
        later = [k for k in releases if (_number(k) or 0) > number]
        if later:
            at = int(releases.lc.key(later[0])[0])
            while at > 0 and _is_comment(lines[at - 1]):
                at -= 1  # the comments just above a release introduce it: the new entry goes above them
        else:
            top_keys = sorted(int(doc.lc.key(k)[0]) for k in doc)
            releases_line = int(doc.lc.key("releases")[0])
            after = [line for line in top_keys if line > releases_line]
            at = after[0] if after else len(lines)
            # Blank lines and top-level comments before the next section belong to that section.
            while at > releases_line + 1 and (not lines[at - 1].strip() or lines[at - 1][:1] == "#"):
                at -= 1
        entry = entry_lines(release_id, needs, key_column, child, comment)
        new_lines = lines[:at] + entry + lines[at:]

    result = "".join(new_lines)
    _verify(doc, result, release_id, needs)
    return result


def _verify(before: Any, text: str, release_id: str, needs: list[str]) -> None:
    """The edited text must parse to the old data plus exactly the new entry."""
    after = _plain(_load(text))
    expected = _plain(before) if before is not None else {}
    expected.setdefault("releases", {})
    if expected["releases"] is None:
        expected["releases"] = {}
    expected["releases"][release_id] = {"needs": list(needs)}
    if after != expected:
        raise ConfigError(
            "gripctl.yaml could not be extended without changing its other entries, so it was left as it was",
            location=Location("gripctl.yaml", key_path="releases"),
            hint=f"add the entry by hand: releases: {{{release_id}: {{needs: [{', '.join(needs)}]}}}}",
        )
