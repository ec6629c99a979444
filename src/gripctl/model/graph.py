"""The release dependency graph: topological order, waves that may run together, the critical path.

An edge `A needs B` means B must be deployed (and healthy) before A starts. Everything here is
deterministic: where the graph leaves a choice, releases go in numeric-prefix order, then by id, so the
same platform always gives the same order, the same waves and the same plan digest.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gripctl.errors import ConfigError, Location, UsageError
from gripctl.model.types import Platform, Release


def declared_needs(release: Release) -> tuple[str, ...]:
    """The release's needs without the implicit edge to its own secrets release."""
    own_secrets = f"{release.id}-secrets"
    return tuple(need for need in release.needs if need != own_secrets)


def strict_order_needs(releases: Iterable[Release]) -> dict[str, tuple[str, ...]]:
    """Each release's needs, with the numeric-prefix chain added when nothing declares any `needs`.

    A platform without a single declared `needs` is ordered strictly by its numbers (each release needs
    the previous one), so nothing runs out of order by surprise. Secrets releases take no part in the
    chain: their implicit edge to the release they serve is all they need, and it does not count as
    "declared" (otherwise adding a secret would silently switch a platform from strict to parallel).
    """
    ordered = sorted(releases, key=lambda r: (r.order, r.id))
    result = {r.id: r.needs for r in ordered}
    if any(declared_needs(r) for r in ordered):
        return result
    previous: str | None = None
    for release in ordered:
        if release.secrets_for is not None:
            continue
        if previous is not None and previous not in release.needs:
            result[release.id] = (previous, *release.needs)
        previous = release.id
    return result


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """A 'did you mean ...?' hint for a misspelt name, or None when nothing is close."""
    candidates = list(known)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        # An abbreviation ("prod" for "production") is too short for difflib's ratio; take a unique prefix.
        close = [c for c in candidates if c.startswith(name)] if name else []
        if len(close) != 1:
            return None
    return f"did you mean {close[0]!r}?"


@dataclass(frozen=True)
class Graph:
    """An immutable DAG of release ids; build it with `Graph.from_platform` or `Graph.from_needs`."""

    nodes: tuple[str, ...]  # every release id, in (order, id) order
    order: Mapping[str, int]  # id -> numeric prefix, the tie-breaker
    _needs: Mapping[str, tuple[str, ...]]
    _dependents: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_platform(cls, platform: Platform) -> Graph:
        """The platform's graph; raises ConfigError for a `needs` naming no release or a cycle."""
        needs = strict_order_needs(platform.releases.values())
        order = {r.id: r.order for r in platform.releases.values()}
        return cls.from_needs(needs, order, locations=platform.locations)

    @classmethod
    def from_needs(
        cls,
        needs: Mapping[str, Sequence[str]],
        order: Mapping[str, int] | None = None,
        *,
        locations: Mapping[str, Location] | None = None,
    ) -> Graph:
        """A graph from `id -> ids it needs`; `order` breaks ties (default: all equal, then by id)."""
        locations = locations or {}
        order_map = {node: (order or {}).get(node, 0) for node in needs}
        nodes = tuple(sorted(needs, key=lambda n: (order_map[n], n)))
        rank = {node: index for index, node in enumerate(nodes)}
        clean: dict[str, tuple[str, ...]] = {}
        for node in nodes:
            seen: list[str] = []
            for index, need in enumerate(needs[node]):
                if need not in needs:
                    key_path = f"releases.{node}.needs[{index}]"
                    raise ConfigError(
                        f"release {node!r} needs {need!r}, but there is no release {need!r}",
                        location=locations.get(key_path, Location("gripctl.yaml", key_path=key_path)),
                        hint=did_you_mean(need, needs) or "known releases: " + ", ".join(nodes),
                    )
                if need not in seen:
                    seen.append(need)
            clean[node] = tuple(sorted(seen, key=rank.__getitem__))
        dependents: dict[str, list[str]] = {node: [] for node in nodes}
        for node in nodes:
            for need in clean[node]:
                dependents[need].append(node)
        graph = cls(
            nodes=nodes,
            order=order_map,
            _needs=clean,
            _dependents={node: tuple(deps) for node, deps in dependents.items()},
        )
        graph._check_acyclic(locations)
        return graph

    # -- lookups -------------------------------------------------------------------------------------

    def _known(self, release_id: str) -> None:
        if release_id not in self._needs:
            raise UsageError(
                f"no release named {release_id!r}",
                hint=did_you_mean(release_id, self.nodes) or "known releases: " + ", ".join(self.nodes),
            )

    def needs(self, release_id: str, *, transitive: bool = False) -> list[str]:
        """What `release_id` needs: directly, or (transitive=True) everything upstream of it."""
        self._known(release_id)
        if not transitive:
            return list(self._needs[release_id])
        return self._closure([release_id], self._needs)

    def dependents(self, release_id: str, *, transitive: bool = False) -> list[str]:
        """What needs `release_id`: directly, or (transitive=True) everything downstream of it."""
        self._known(release_id)
        if not transitive:
            return list(self._dependents[release_id])
        return self._closure([release_id], self._dependents)

    def _closure(self, start: Iterable[str], step: Mapping[str, tuple[str, ...]]) -> list[str]:
        found: set[str] = set()
        stack = list(start)
        while stack:
            for nxt in step[stack.pop()]:
                if nxt not in found:
                    found.add(nxt)
                    stack.append(nxt)
        return [node for node in self.topological() if node in found]

    def edges(self) -> list[tuple[str, str]]:
        """Every edge as (needed, dependent): the first runs before the second."""
        return [(need, node) for node in self.topological() for need in self._needs[node]]

    # -- orderings -----------------------------------------------------------------------------------

    def _key(self, node: str) -> tuple[int, str]:
        return (self.order[node], node)

    def topological(self) -> list[str]:
        """Every release after everything it needs; among ready releases, the lowest number first."""
        remaining = {node: len(self._needs[node]) for node in self.nodes}
        ready = [self._key(node) for node, count in remaining.items() if count == 0]
        heapq.heapify(ready)
        result: list[str] = []
        while ready:
            _, node = heapq.heappop(ready)
            result.append(node)
            for dependent in self._dependents[node]:
                remaining[dependent] -= 1
                if remaining[dependent] == 0:
                    heapq.heappush(ready, self._key(dependent))
        return result

    def waves(self) -> list[list[str]]:
        """Groups that may run together: each release goes in the first wave after all its needs."""
        level: dict[str, int] = {}
        for node in self.topological():
            level[node] = 1 + max((level[need] for need in self._needs[node]), default=-1)
        waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for node in self.nodes:  # already in (order, id) order
            waves[level[node]].append(node)
        return waves

    def critical_path(self, weights: Mapping[str, float] | None = None) -> list[str]:
        """The heaviest chain of needs: with durations as weights, what bounds a full deploy's time.

        Without weights every release counts 1 (the longest chain). With weights, a release missing
        from `weights` counts 0 (no history yet). Ties go to the chain met first in topological order.
        """
        if weights is not None and any(w < 0 for w in weights.values()):
            raise ValueError("critical_path weights must not be negative")
        best: dict[str, float] = {}
        previous: dict[str, str | None] = {}
        for node in self.topological():
            weight = 1.0 if weights is None else float(weights.get(node, 0.0))
            before: str | None = None
            for need in self._needs[node]:
                if before is None or best[need] > best[before]:
                    before = need
            best[node] = weight + (best[before] if before is not None else 0.0)
            previous[node] = before
        if not best:
            return []
        end = None
        for node in self.topological():
            if end is None or best[node] > best[end]:
                end = node
        path: list[str] = []
        cursor: str | None = end
        while cursor is not None:
            path.append(cursor)
            cursor = previous[cursor]
        return path[::-1]

    def subgraph(self, release_ids: Iterable[str]) -> Graph:
        """The graph over a selection, keeping order: A needs B when B is reachable from A in the full
        graph through releases that are not selected (so a partial deploy still respects the order)."""
        keep = set(release_ids)
        for node in keep:
            self._known(node)
        needs: dict[str, list[str]] = {}
        for node in keep:
            found: list[str] = []
            visited: set[str] = set()
            stack = list(self._needs[node])
            while stack:
                need = stack.pop()
                if need in visited:
                    continue
                visited.add(need)
                if need in keep:
                    found.append(need)
                else:
                    stack.extend(self._needs[need])
            needs[node] = found
        return Graph.from_needs(needs, {node: self.order[node] for node in keep})

    # -- validation ----------------------------------------------------------------------------------

    def _check_acyclic(self, locations: Mapping[str, Location]) -> None:
        """Raise ConfigError naming the first cycle found (`010-a -> 020-b -> 010-a`)."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.nodes, white)
        for root in self.nodes:
            if color[root] != white:
                continue
            # Iterative DFS: the stack holds (node, iterator over its needs); the path is the grey chain.
            path = [root]
            color[root] = grey
            iters = [iter(self._needs[root])]
            while iters:
                advanced = False
                for need in iters[-1]:
                    if color[need] == grey:
                        self._raise_cycle(path[path.index(need) :], locations)
                    if color[need] == white:
                        color[need] = grey
                        path.append(need)
                        iters.append(iter(self._needs[need]))
                        advanced = True
                        break
                if not advanced:
                    color[path.pop()] = black
                    iters.pop()

    def _raise_cycle(self, cycle: list[str], locations: Mapping[str, Location]) -> None:
        # Start the cycle at its lowest-numbered release, so the message is stable.
        start = cycle.index(min(cycle, key=self._key))
        cycle = cycle[start:] + cycle[:start]
        text = " -> ".join([*cycle, cycle[0]])
        key_path = f"releases.{cycle[0]}.needs"
        raise ConfigError(
            f"dependency cycle: {text}",
            location=locations.get(key_path, Location("gripctl.yaml", key_path=key_path)),
            hint="each arrow reads 'needs'; remove one of these needs so the releases can be ordered",
        )
