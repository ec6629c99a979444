"""JSON pointers (RFC 6901) as drift ignore rules and drift findings write them: parse, format, match.

`/spec/template/spec/containers/0/image` names one field; `~1` stands for `/` and `~0` for `~` inside a
segment (`/metadata/labels/app.kubernetes.io~1name`). In ignore rules a segment that is exactly `*`
matches any one key or list index, and the empty pointer `""` is the whole object. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

WILDCARD = "*"


class PointerError(ValueError):
    """A string that is not a JSON pointer; the message says why."""


def parse_pointer(text: str) -> tuple[str, ...]:
    """The unescaped segments of a pointer; `""` gives `()` (the whole document)."""
    if text == "":
        return ()
    if not text.startswith("/"):
        raise PointerError(f"a JSON pointer starts with '/' (or is empty for the whole object): {text!r}")
    segments = []
    for raw in text[1:].split("/"):
        index = raw.find("~")
        while index != -1:
            if index + 1 >= len(raw) or raw[index + 1] not in "01":
                raise PointerError(
                    f"'~' in a JSON pointer must be written ~0 (and '/' inside a key ~1): {text!r}"
                )
            index = raw.find("~", index + 2)
        segments.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(segments)


def format_pointer(segments: Sequence[str | int]) -> str:
    """Segments back to a pointer, escaping `~` and `/` inside keys."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in segments)


def pointer_covers(pattern: Sequence[str], path: Sequence[str | int]) -> bool:
    """Whether the rule pointer `pattern` names `path` or one of its ancestors (`*` matches any segment).

    An ignored `/spec/template` therefore ignores `/spec/template/spec/containers/0/image` too.
    """
    if len(pattern) > len(path):
        return False
    return all(p == WILDCARD or p == str(s) for p, s in zip(pattern, path, strict=False))
