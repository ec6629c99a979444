"""Reading a YAML file into plain data plus a map of where every key sits (file:line:column).

ruamel.yaml's round-trip loader remembers the line and column of each key and list item; we walk the
document once and record them by key path (`releases.020-cluster-issuers.needs[0]`), so the loader
can validate plain dicts and lists and still point at the exact spot of a mistake.
"""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from gripctl.errors import ConfigError, Location


@dataclass
class YamlDocument:
    """A parsed YAML file: plain Python data and the location of every key path in it."""

    display: str  # the path as shown in messages (relative to the platform root)
    data: Any
    locations: dict[str, Location] = field(default_factory=dict)

    def location(self, key_path: str) -> Location:
        """Where `key_path` is, or at least which file and key when the key is absent (a default)."""
        found = self.locations.get(key_path)
        return found if found is not None else Location(self.display, key_path=key_path or None)


def read_text(path: Path, display: str) -> str:
    """Read a text file, turning every way it can be unreadable into a ConfigError naming it."""
    try:
        # Check the kind first: opening a FIFO for reading would block forever, and a directory
        # gives an OS error that does not say what the operator should look at.
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"{display} does not exist", location=Location(display)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {display}: {exc.strerror}", location=Location(display)) from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise ConfigError(
            f"{display} is {kind}; expected a YAML file",
            location=Location(display),
            hint=f"replace {display} with a regular file",
        )
    try:
        return path.read_text(encoding="utf-8")
    except PermissionError:
        raise ConfigError(
            f"cannot read {display}: permission denied (running as uid {os.geteuid()})",
            location=Location(display),
            hint=f"check the file's owner and mode: ls -l {display}",
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{display} is not UTF-8 text (byte {exc.start})", location=Location(display)
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {display}: {exc.strerror}", location=Location(display)) from None


def load_yaml(path: Path, display: str) -> YamlDocument:
    """Parse one YAML document; a syntax error becomes a ConfigError with its line and column."""
    return parse_yaml(read_text(path, display), display)


def parse_yaml(text: str, display: str) -> YamlDocument:
    """`load_yaml` of text that is not (or no longer) a file, e.g. gripctl.yaml at an older commit."""
    yaml = YAML(typ="rt")
    with _syntax_errors(display):
        node = yaml.load(text)
    doc = YamlDocument(display=display, data=None)
    doc.data = _walk(node, "", doc)
    return doc


def parse_yaml_documents(text: str, display: str) -> list[YamlDocument]:
    """Every document of a `---`-separated YAML text, each with its locations (lines count from the
    start of `text`, so they point into the file the text came from)."""
    yaml = YAML(typ="rt")
    docs: list[YamlDocument] = []
    with _syntax_errors(display):
        for node in yaml.load_all(text):
            doc = YamlDocument(display=display, data=None)
            doc.data = _walk(node, "", doc)
            docs.append(doc)
    return docs


@contextmanager
def _syntax_errors(display: str) -> Iterator[None]:
    """Turn ruamel's parse errors into a ConfigError naming the file, line and column."""
    try:
        yield
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise ConfigError(
            f"YAML syntax error: {problem}",
            location=Location(display, line, column),
            hint="fix the YAML at that line (a YAML linter such as yamllint shows the context)",
        ) from None
    except YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", location=Location(display)) from None


_PARSED: dict[tuple[str, int, int], YamlDocument] = {}


def load_config(path: Path, display: str) -> YamlDocument:
    """`load_yaml` of a file that several rooms read (gripctl.yaml): parsed once per process and
    version of the file, so every room sees the same data by the same YAML rules."""
    try:
        st = path.stat()
    except OSError:
        return load_yaml(path, display)  # load_yaml says what is wrong with it
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _PARSED:
        _PARSED.clear()  # one file version at a time is all anyone reads
        _PARSED[key] = load_yaml(path, display)
    cached = _PARSED[key]
    return YamlDocument(cached.display, copy.deepcopy(cached.data), dict(cached.locations))


def _walk(node: Any, path: str, doc: YamlDocument) -> Any:
    """Copy `node` into plain dicts/lists/scalars, recording each key's and item's location."""
    if isinstance(node, CommentedMap):
        result: dict[str, Any] = {}
        for key, value in node.items():
            key_text = str(key)
            child = f"{path}.{key_text}" if path else key_text
            try:
                position = node.lc.key(key)
            except KeyError:
                position = None
            if position is None:
                # A key merged in with `<<: *anchor` has no position of its own: point at its mapping.
                position = (node.lc.line, node.lc.col)
            if position[0] is not None:
                doc.locations[child] = Location(doc.display, position[0] + 1, position[1] + 1, child)
            result[key_text] = _walk(value, child, doc)
        return result
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, value in enumerate(node):
            child = f"{path}[{index}]"
            line, column = node.lc.item(index)
            doc.locations[child] = Location(doc.display, line + 1, column + 1, child)
            items.append(_walk(value, child, doc))
        return items
    if isinstance(node, bool) or node is None:
        return node
    # ruamel returns str/int/float subclasses that keep formatting; other rooms want plain values.
    for plain in (int, float, str):
        if isinstance(node, plain):
            return plain(node)
    return node
