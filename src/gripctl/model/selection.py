"""Choosing which releases a command acts on: --only, label selectors, and needs/dependents expansion.

Semantics (documented in docs/config.md, "Selecting releases"):

- `only` names release ids; an unknown id is a UsageError with a did-you-mean hint.
- A selector is `key=value` or `key!=value` terms joined by commas, all of which must hold (AND);
  several selectors match a release when any of them does (OR) — helmfile's `--selector` rules.
  `key!=value` also matches releases without that label. Besides the release's own labels, every
  release has `id`, `name` (Helm name) and `namespace`, which labels cannot override.
- With both `only` and selectors, a release must pass both. With neither, every release is selected.
- `changed` (the releases `--changed-since REF` found touched, model/changes.py) keeps only those of
  the selection, and adds everything that needs them, transitively.
- `include_needs` / `include_dependents` add everything upstream / downstream, transitively.
- A selected release always brings its secrets release: deploying a chart without the Secrets its pods
  mount would leave it crash-looping on a missing Secret, and the secrets release is part of the same
  change as far as the operator is concerned.

The result is in topological order.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from gripctl.errors import UsageError
from gripctl.model.graph import Graph, did_you_mean
from gripctl.model.types import Platform, Release

_TERM = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(!=|=)\s*([^,=!]*?)\s*$")


@dataclass(frozen=True)
class Term:
    key: str
    value: str
    negated: bool

    def matches(self, labels: dict[str, str]) -> bool:
        if self.negated:
            return labels.get(self.key) != self.value
        return labels.get(self.key) == self.value


def parse_selector(selector: str) -> tuple[Term, ...]:
    """`tier=core,team!=data` -> its terms; a malformed selector is a UsageError showing the syntax."""
    terms = []
    for part in selector.split(","):
        match = _TERM.match(part)
        if not match or not match.group(3):
            raise UsageError(
                f"invalid selector {selector!r} (at {part.strip()!r})",
                hint="write key=value or key!=value, join terms with commas (AND), "
                "and repeat --selector for OR: --selector tier=core,team=platform",
            )
        terms.append(Term(key=match.group(1), value=match.group(3), negated=match.group(2) == "!="))
    return tuple(terms)


def selector_labels(release: Release) -> dict[str, str]:
    """The labels a selector sees: the release's own, plus the built-in id, name and namespace."""
    return {**release.labels, "id": release.id, "name": release.name, "namespace": release.namespace}


def select(
    platform: Platform,
    graph: Graph,
    *,
    only: Sequence[str] = (),
    include_needs: bool = False,
    include_dependents: bool = False,
    selectors: Sequence[str] = (),
    changed: Collection[str] | None = None,
) -> list[str]:
    """The ids of the selected releases, in topological order (see the module docstring for the rules).

    `changed` (from `--changed-since`): keep only these releases of the selection, plus everything that
    needs them, transitively."""
    known = list(platform.releases)
    for release_id in only:
        if release_id not in platform.releases:
            hint = did_you_mean(release_id, known)
            raise UsageError(
                f"--only names {release_id!r}, which is not a release of this platform",
                hint=f"{hint + ' ' if hint else ''}known releases: {', '.join(known) or '(none)'}",
            )
    parsed = [parse_selector(selector) for selector in selectors]

    chosen: set[str] = set(only) if only else set(known)
    if parsed:
        chosen = {rid for rid in chosen if _matches(platform.releases[rid], parsed)}
    if changed is not None:
        chosen &= set(changed)
        chosen |= {dep for rid in list(chosen) for dep in graph.dependents(rid, transitive=True)}
    if include_needs:
        chosen |= {need for rid in list(chosen) for need in graph.needs(rid, transitive=True)}
    if include_dependents:
        chosen |= {dep for rid in list(chosen) for dep in graph.dependents(rid, transitive=True)}
    chosen |= {release.id for release in platform.releases.values() if release.secrets_for in chosen}
    return [rid for rid in graph.topological() if rid in chosen]


def _matches(release: Release, selectors: list[tuple[Term, ...]]) -> bool:
    labels = selector_labels(release)
    return any(all(term.matches(labels) for term in terms) for terms in selectors)


@dataclass(frozen=True)
class Selection:
    """Which releases an operation acts on (docs/config.md, "Selecting releases")."""

    only: tuple[str, ...] = ()
    include_needs: bool = False
    include_dependents: bool = False
    selectors: tuple[str, ...] = ()
    changed_since: str | None = None  # a git ref: only what changed since, plus its dependents

    @property
    def narrowed(self) -> bool:
        return bool(
            self.only or self.selectors or self.include_needs or self.include_dependents or self.changed_since
        )


def split_ids(values: Sequence[str] | None) -> tuple[str, ...]:
    """`a,b` `c` -> (a, b, c): ids may be given repeated or comma-separated."""
    return tuple(item.strip() for value in values or () for item in value.split(",") if item.strip())
