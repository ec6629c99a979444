"""Drift: each release's objects as helm applied them, compared with the live objects (read-only).

How (the approach of Flux's helm-controller and Argo CD's server-side diff): every object of the
release's stored manifest is sent to the API server as a server-side apply with `dryRun=All` and
`force`, under gripctl's own field manager. The answer is the object as the server would store it if
the release were applied again now — with every default, admission mutation and conversion the server
adds — and nothing is persisted. That answer is compared with the live object; whatever differs is a
field someone changed since helm applied it. A client-side three-way merge would see every server
default as drift; this does not.

Why a field manager of our own (`gripctl-drift`) rather than helm's (`helm`): an apply removes the
fields its manager owned and no longer sends. Helm owns fields that are not in its stored manifest
(the `meta.helm.sh/release-*` annotations and the `app.kubernetes.io/managed-by` label it adds at apply
time), so a dry run as `helm` would "remove" them and report them as drift on every object. A new
manager owns nothing yet, so its dry run only sets what the manifest says; `force` takes any such
field over from whoever changed it, so that the answer shows the manifest's value there.

Two refinements (docs/drift.md): an object whose live state already holds every field of its manifest
needs no dry run (its answer would be the live object itself; `dry_run_all` turns this off); and a
field a person set with kubectl where the manifest sets nothing survives any apply, so it is found from
`metadata.managedFields` instead and reported as `added`.

Compared: labels, annotations and everything outside `metadata` except `status`. Server-set metadata
(managedFields, resourceVersion, generation, uid, creationTimestamp, ownerReferences, finalizers) is
not the release's business. Differences are JSON pointers (`/spec/template/spec/containers/0/image`).
An object missing from the cluster is `deleted`. Values of Secrets (`data`, `stringData`) are never
shown, nor any string that contains a value of one of the release's Secrets (decoded or base64).

Ignore rules (gripctl.yaml `drift.ignore`, docs/drift.md) and the opt-out annotation
`gripctl.dev/drift: ignore` are applied by the pure functions below; ignored differences are kept in
the result (with the rule that ignored them) so that "why is this not reported" has an answer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import fnmatch
import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from gripctl.manifest import parse as parse_manifest
from gripctl.model.pointer import format_pointer, parse_pointer, pointer_covers
from gripctl.model.types import DriftIgnoreRule, DriftTarget
from gripctl.secrets.values import MASK, mask

FIELD_MANAGER = "gripctl-drift"
OPT_OUT_ANNOTATION = "gripctl.dev/drift"
OPT_OUT_VALUE = "ignore"
# The metadata a release sets and drift compares; everything else in metadata is the server's.
_COMPARED_METADATA = ("labels", "annotations")
# Annotations the API server or a client keeps for its own bookkeeping: they follow from other changes
# (a DaemonSet's template generation moves whenever its template does) and are never the release's.
SERVER_ANNOTATIONS = frozenset(
    {
        "deprecated.daemonset.template.generation",
        "deployment.kubernetes.io/revision",
        "kubectl.kubernetes.io/last-applied-configuration",
    }
)

Obj = dict[str, Any]
FieldPath = tuple[str | int, ...]
# Helm labels every object it applies with this (not in its stored manifest): a kind spread over many
# namespaces is read with one LIST of it across the cluster rather than one request per namespace.
HELM_SELECTOR = "app.kubernetes.io/managed-by=Helm"
_LIST_EVERYWHERE = 4  # namespaces of one kind from which one cluster-wide LIST is cheaper


class DriftState(StrEnum):
    in_sync = "in-sync"
    drifted = "drifted"  # fields differ from what the release applied
    deleted = "deleted"  # the object is gone from the cluster
    ignored = "ignored"  # opted out (annotation or an ignore rule for the whole object)
    error = "error"  # the cluster refused to answer for this object: drift unknown


class FieldChange(StrEnum):
    changed = "changed"  # both have the field, with different values
    removed = "removed"  # the release sets it, the live object lacks it (a label removed, say)
    added = "added"  # the live object has it, the release does not set it (a person added it by hand)


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str | None
    name: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }


@dataclass(frozen=True)
class FieldDrift:
    """One field that differs; `live` and `desired` are JSON values with secrets already masked."""

    path: str  # JSON pointer
    change: FieldChange
    live: Any = None
    desired: Any = None
    managers: tuple[str, ...] = ()  # who owns the field in the live object (managedFields)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "change": str(self.change),
            "live": self.live,
            "desired": self.desired,
            "managers": list(self.managers),
        }


@dataclass(frozen=True)
class IgnoredField:
    path: str
    rule: str  # which rule ignored it: "drift.ignore[0] (gripctl.yaml:4:7): an HPA scales these"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rule": self.rule}


@dataclass(frozen=True)
class ObjectDrift:
    ref: ObjectRef
    state: DriftState
    fields: tuple[FieldDrift, ...] = ()
    ignored: tuple[IgnoredField, ...] = ()
    message: str = ""  # why, for `ignored` and `error`
    dry_run: bool = False  # whether a dry run was needed (False: the live object held the whole manifest)

    @property
    def drifted(self) -> bool:
        return self.state in (DriftState.drifted, DriftState.deleted)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.ref.to_dict(),
            "state": str(self.state),
            "fields": [f.to_dict() for f in self.fields],
            "ignored": [i.to_dict() for i in self.ignored],
            "message": self.message,
        }


@dataclass(frozen=True)
class ReleaseManifest:
    """What to check: one release's stored manifest (`helm get manifest`) and its ignore rules."""

    release_id: str
    namespace: str
    manifest: str
    rules: tuple[DriftIgnoreRule, ...] = ()
    # Further strings never to show (the release's decrypted secret values, when the caller has them).
    secret_values: frozenset[str] = field(default=frozenset(), repr=False)


# -- manifests -----------------------------------------------------------------------------------------


def manifest_objects(manifest: str, *, what: str = "manifest") -> list[Obj]:
    """The objects of a multi-document manifest (gripctl.manifest's parser) that name their kind."""
    return [m.obj for m in parse_manifest(manifest, what=what) if m.obj.get("apiVersion")]


def _meta(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, str]:
    labels = _meta(obj).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def _annotations(obj: Mapping[str, Any] | None) -> Mapping[str, str]:
    annotations = _meta(obj).get("annotations")
    return annotations if isinstance(annotations, Mapping) else {}


def is_secret(ref: ObjectRef) -> bool:
    return ref.kind == "Secret" and ref.api_version == "v1"


# -- comparing -----------------------------------------------------------------------------------------


def normalise(obj: Mapping[str, Any]) -> Obj:
    """The parts of an object drift compares: no status, and of metadata only labels and annotations
    (less the bookkeeping annotations in SERVER_ANNOTATIONS)."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("metadata", "status")}
    meta = _meta(obj)
    kept = {k: copy.deepcopy(meta[k]) for k in _COMPARED_METADATA if meta.get(k)}
    annotations = kept.get("annotations")
    if isinstance(annotations, dict):
        for key in SERVER_ANNOTATIONS.intersection(annotations):
            del annotations[key]
        if not annotations:
            del kept["annotations"]
    if kept:
        out["metadata"] = kept
    return out


def differences(
    live: Any, desired: Any, path: FieldPath = ()
) -> Iterator[tuple[FieldPath, FieldChange, Any, Any]]:
    """(path, change, live value, desired value) for every leaf-most place where the two differ.

    Maps are compared key by key; lists index by index (a longer or shorter list gives `added` or
    `removed` items at the end). A type change (map to string, say) is one `changed` at that path.
    """
    if isinstance(live, Mapping) and isinstance(desired, Mapping):
        for key in sorted(set(live) | set(desired), key=str):
            sub = (*path, str(key))
            if key not in live:
                yield sub, FieldChange.removed, None, desired[key]
            elif key not in desired:
                yield sub, FieldChange.added, live[key], None
            else:
                yield from differences(live[key], desired[key], sub)
    elif isinstance(live, list) and isinstance(desired, list):
        for index in range(max(len(live), len(desired))):
            sub = (*path, index)
            if index >= len(live):
                yield sub, FieldChange.removed, None, desired[index]
            elif index >= len(desired):
                yield sub, FieldChange.added, live[index], None
            else:
                yield from differences(live[index], desired[index], sub)
    elif live != desired or (type(live) is not type(desired) and not _same_number(live, desired)):
        yield path, FieldChange.changed, live, desired


def _same_number(a: Any, b: Any) -> bool:
    def number(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    return number(a) and number(b) and a == b


# -- field ownership (managedFields) -------------------------------------------------------------------


def owners(live: Mapping[str, Any], path: Sequence[str | int]) -> tuple[str, ...]:
    """The field managers that own `path` (or an atomic ancestor of it) in the live object."""
    found: list[str] = []
    for entry in _meta(live).get("managedFields") or []:
        if not isinstance(entry, Mapping):
            continue
        tree = entry.get("fieldsV1")
        manager = str(entry.get("manager", ""))
        if isinstance(tree, Mapping) and manager and _owns(tree, live, path) and manager not in found:
            found.append(manager)
    return tuple(found)


def _owns(tree: Mapping[str, Any], node: Any, path: Sequence[str | int]) -> bool:
    """Walk a fieldsV1 set alongside the object: `f:<field>` for map keys, and for list items
    `k:{...}` (associative keys), `v:<value>` (sets) or `i:<index>`. An empty set is a leaf: its
    manager owns the whole value below it (atomic lists and maps)."""
    if not path:
        return True
    if not tree:
        return True  # a leaf: the manager owns everything below (atomic)
    head, rest = path[0], path[1:]
    if isinstance(node, Mapping):
        sub = tree.get(f"f:{head}")
        return isinstance(sub, Mapping) and _owns(sub, node.get(str(head)), rest)
    if isinstance(node, list) and isinstance(head, int) and 0 <= head < len(node):
        item = node[head]
        for key, sub in tree.items():
            if isinstance(sub, Mapping) and _item_matches(key, item, head):
                return _owns(sub, item, rest)
    return False


def _item_matches(key: str, item: Any, index: int) -> bool:
    kind, _, raw = key.partition(":")
    if kind == "i":
        return raw == str(index)
    if kind not in ("k", "v"):
        return False
    try:
        wanted = json.loads(raw)
    except ValueError:
        return False
    if kind == "v":
        return bool(wanted == item)
    return (
        isinstance(wanted, dict)
        and isinstance(item, Mapping)
        and all(item.get(k) == v for k, v in wanted.items())
    )


# -- fields set by hand that the release does not set ---------------------------------------------------

# Paths that a person's kubectl touches without changing configuration (`kubectl rollout restart`).
_HAND_MADE_EXEMPT = (("spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt"),)


def imperative_manager(name: str) -> bool:
    """kubectl's field managers: `kubectl` (scale, server-side apply), `kubectl-edit`, `kubectl-patch`,
    `kubectl-label`, `kubectl-annotate`, `kubectl-set`, `kubectl-client-side-apply`, ... — a person."""
    return name == "kubectl" or name.startswith("kubectl-")


def hand_made(
    live: Mapping[str, Any], manifest: Mapping[str, Any]
) -> list[tuple[FieldPath, Any, tuple[str, ...]]]:
    """Fields a person set with kubectl (per managedFields) where the release's manifest sets nothing:
    (path, live value, managers). Re-applying the release would keep them — a server-side apply only
    resets fields it sets — so the dry run cannot show them; their ownership does."""
    found: dict[FieldPath, tuple[Any, list[str]]] = {}
    for entry in _meta(live).get("managedFields") or []:
        if not isinstance(entry, Mapping) or not imperative_manager(str(entry.get("manager", ""))):
            continue
        tree = entry.get("fieldsV1")
        if not isinstance(tree, Mapping):
            continue
        for path, value in _unset_by(tree, live, manifest, ()):
            if _compared(path) and path not in _HAND_MADE_EXEMPT:
                found.setdefault(path, (value, []))[1].append(str(entry["manager"]))
    return [(path, value, tuple(managers)) for path, (value, managers) in sorted(found.items(), key=str)]


def _compared(path: FieldPath) -> bool:
    if not path or path[0] == "status":
        return False
    if path[0] == "metadata":
        return len(path) >= 3 and path[1] in _COMPARED_METADATA and path[2] not in SERVER_ANNOTATIONS
    return True


def _finer(path: FieldPath) -> bool:
    """Whether a missing `path` is reported key by key rather than whole: labels and annotations (some
    keys are bookkeeping), and the parents of exempt paths."""
    if path[0] == "metadata" and len(path) < 3:
        return True
    return any(e[: len(path)] == path for e in _HAND_MADE_EXEMPT)


def _unset_by(
    tree: Mapping[str, Any], live: Any, manifest: Any, path: FieldPath
) -> Iterator[tuple[FieldPath, Any]]:
    """Walk a fieldsV1 set over the live object and the manifest together; yield the highest paths
    that exist live and not in the manifest."""
    for key, sub in tree.items():
        if key == "." or not isinstance(sub, Mapping):
            continue
        kind, _, raw = key.partition(":")
        if kind == "f" and isinstance(live, Mapping):
            if raw not in live:
                continue
            live_child, child_path = live[raw], (*path, raw)
            has = isinstance(manifest, Mapping) and raw in manifest
            manifest_child = manifest.get(raw) if has else None
        elif kind in ("k", "v", "i") and isinstance(live, list):
            index = next((i for i, item in enumerate(live) if _item_matches(key, item, i)), None)
            if index is None:
                continue
            live_child, child_path = live[index], (*path, index)
            match = (
                next((item for i, item in enumerate(manifest) if _item_matches(key, item, i)), None)
                if isinstance(manifest, list)
                else None
            )
            has, manifest_child = match is not None, match
        else:
            continue
        if not has and not _finer(child_path):
            yield child_path, live_child
        elif sub:
            yield from _unset_by(sub, live_child, manifest_child, child_path)


# -- ignore rules --------------------------------------------------------------------------------------


def target_matches(target: DriftTarget, ref: ObjectRef, labels: Mapping[str, str]) -> bool:
    """Whether an object matches a rule's target (globs for kind/name/namespace, exact labels)."""
    for pattern, value in (
        (target.kind, ref.kind),
        (target.name, ref.name),
        (target.namespace, ref.namespace),
    ):
        if pattern is not None and not fnmatch.fnmatchcase(value or "", pattern):
            return False
    return all(labels.get(k) == v for k, v in target.labels.items())


def describe_rule(rule: DriftIgnoreRule) -> str:
    where = rule.location.key_path if rule.location and rule.location.key_path else "drift.ignore"
    text = where
    if rule.location is not None and rule.location.line is not None:
        text += f" ({rule.location.path}:{rule.location.line})"
    return f"{text}: {rule.reason}" if rule.reason else text


def opted_out(*objects: Mapping[str, Any] | None) -> bool:
    """`gripctl.dev/drift: ignore` on the live object or in the manifest."""
    return any(_annotations(o).get(OPT_OUT_ANNOTATION) == OPT_OUT_VALUE for o in objects)


def whole_object_rule(
    rules: Iterable[DriftIgnoreRule], ref: ObjectRef, labels: Mapping[str, str]
) -> DriftIgnoreRule | None:
    """A matching rule with the empty pointer `""`: the object is not checked at all."""
    for rule in rules:
        if "" in rule.paths and target_matches(rule.target, ref, labels):
            return rule
    return None


def apply_rules(
    ref: ObjectRef,
    live: Mapping[str, Any],
    fields: Sequence[FieldDrift],
    rules: Iterable[DriftIgnoreRule],
) -> tuple[tuple[FieldDrift, ...], tuple[IgnoredField, ...]]:
    """Split differences into those reported and those an ignore rule covers (first rule wins).

    A path rule covers the pointer and everything below it; a manager rule covers a field whose
    live owners (managedFields, computed into `FieldDrift.managers`) include one of its managers.
    """
    labels = _labels(live)
    matching = [r for r in rules if target_matches(r.target, ref, labels)]
    kept: list[FieldDrift] = []
    ignored: list[IgnoredField] = []
    for item in fields:
        segments = parse_pointer(item.path)
        rule = next(
            (
                r
                for r in matching
                if any(pointer_covers(parse_pointer(p), segments) for p in r.paths)
                or any(m in item.managers for m in r.managers)
            ),
            None,
        )
        if rule is None:
            kept.append(item)
        else:
            ignored.append(IgnoredField(item.path, describe_rule(rule)))
    return tuple(kept), tuple(ignored)


# -- masking -------------------------------------------------------------------------------------------


def secret_strings(objects: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every value of the given Secrets' `data` (base64 and decoded) and `stringData`, and each line
    of a multi-line value: strings that must not appear anywhere in a drift report."""
    found: set[str] = set()
    for obj in objects:
        if obj.get("kind") != "Secret" or obj.get("apiVersion") != "v1":
            continue
        for key in ("data", "stringData"):
            values = obj.get(key)
            if not isinstance(values, Mapping):
                continue
            for value in values.values():
                if not isinstance(value, str):
                    continue
                texts = [value]
                if key == "data":
                    with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                        texts.append(base64.b64decode(value, validate=True).decode())
                for text in texts:
                    found.add(text)
                    found.update(line.strip() for line in text.splitlines())
                    found.add(base64.b64encode(text.encode()).decode())
    return found


def _mask_value(value: Any, values: Sequence[str]) -> Any:
    if isinstance(value, str):
        return mask(value, values)
    if isinstance(value, Mapping):
        return {k: _mask_value(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(v, values) for v in value]
    return value


def _mask_secret_data(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: MASK for k in value}
    return None if value is None else MASK


def masked(ref: ObjectRef, item: FieldDrift, values: Sequence[str]) -> FieldDrift:
    """The difference with secrets hidden: a Secret's data values always (only which key changed is
    shown), and any known secret string wherever it appears."""
    segments = parse_pointer(item.path)
    if is_secret(ref) and segments and segments[0] in ("data", "stringData"):
        return replace(item, live=_mask_secret_data(item.live), desired=_mask_secret_data(item.desired))
    return replace(item, live=_mask_value(item.live, values), desired=_mask_value(item.desired, values))


# -- one object ----------------------------------------------------------------------------------------


def compare(
    ref: ObjectRef,
    live: Mapping[str, Any],
    dry_run: Mapping[str, Any],
    rules: Sequence[DriftIgnoreRule],
    secret_values: Sequence[str],
    manifest: Mapping[str, Any] | None = None,
) -> ObjectDrift:
    """The drift of one object from its live state, its dry-run answer and (for fields set by hand
    that the release leaves alone) its manifest. Pure."""
    fields = [
        FieldDrift(
            path=format_pointer(path),
            change=change,
            live=before,
            desired=after,
            managers=owners(live, path),
        )
        for path, change, before, after in differences(normalise(live), normalise(dry_run))
    ]
    if manifest is not None:
        seen = [parse_pointer(f.path) for f in fields]
        for path, value, managers in hand_made(live, manifest):
            text = tuple(str(p) for p in path)
            if not any(pointer_covers(s, text) or pointer_covers(text, s) for s in seen):
                fields.append(FieldDrift(format_pointer(path), FieldChange.added, value, None, managers))
        fields.sort(key=lambda f: f.path)
    kept, ignored = apply_rules(ref, live, fields, rules)
    kept = tuple(masked(ref, f, secret_values) for f in kept)
    state = DriftState.drifted if kept else DriftState.in_sync
    return ObjectDrift(ref=ref, state=state, fields=kept, ignored=ignored)


# -- the shortcut: a live object that already holds the whole manifest --------------------------------


def contained(want: Any, have: Any) -> bool:
    """Whether every field `want` sets is in `have` with the same value (maps: a subset; lists: the
    same length, item by item). Server defaults in `have` do not matter; a normalised value (`cpu: 1`
    stored as `"1"`) makes it False, which only costs a dry run."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(k in have and contained(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(map(contained, want, have))
    return bool(want == have) and (type(want) is type(have) or _same_number(want, have))


def manifest_in_live(manifest: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """True when applying `manifest` could not change `live`: it sets nothing that `live` lacks or holds
    differently. Then the dry run is skipped — its answer would be the live object itself, so no field
    could show as changed or removed (fields set by hand are found from managedFields either way)."""
    want = {k: v for k, v in manifest.items() if k not in ("metadata", "status")}
    meta = _meta(manifest)
    want["metadata"] = {k: meta[k] for k in ("name", *_COMPARED_METADATA) if k in meta}
    if manifest.get("kind") == "Secret" and manifest.get("apiVersion") == "v1" and "stringData" in want:
        # stringData is write-only: the server stores it base64-encoded in data
        plain = want.pop("stringData")
        if not isinstance(plain, Mapping) or not all(isinstance(v, str) for v in plain.values()):
            return False
        data = dict(want.get("data") or {})
        data.update({k: base64.b64encode(v.encode()).decode() for k, v in plain.items()})
        want["data"] = data
    return contained(want, live)


# -- the cluster ---------------------------------------------------------------------------------------


@dataclass
class _Item:
    release: int  # index into the requests
    ref: ObjectRef
    desired: Obj
    resource: Any = None  # ApiResource, or None when the kind is not served
    live: Obj | None = None
    answer: Obj | None = None  # the dry run's; None when skipped because the live object holds the manifest
    result: ObjectDrift | None = None


async def observe_drift(
    kube: Any, releases: Sequence[ReleaseManifest], *, concurrency: int = 16, dry_run_all: bool = False
) -> list[tuple[ObjectDrift, ...]]:
    """The drift of every object of every release, in the manifests' order (one tuple per release).

    Read-only: discovery, GET/LIST of the live objects (one LIST per kind and namespace that holds
    several of them), and one dry-run apply per object, `concurrency` requests at a time in threads
    (each with its own connection). Pipelined per kind: a kind's objects are read as soon as its
    discovery answers, and each object's dry run starts as soon as it is read. An object whose live
    state already holds every field of its manifest needs no dry run (`manifest_in_live`) unless
    `dry_run_all`. `kube` is a `gripctl.adapters.kube.Kube`.
    """
    from gripctl.adapters.kube import ApiError, Conflict  # the Kubernetes client is slow to import

    refused = (ApiError, Conflict)
    parsed = [
        manifest_objects(request.manifest, what=f"the stored manifest of {request.release_id}")
        for request in releases
    ]
    items = [
        _Item(index, ObjectRef(str(o["apiVersion"]), str(o["kind"]), _meta(o).get("namespace"), _name(o)), o)
        for index, objects in enumerate(parsed)
        for o in objects
    ]
    by_kind: dict[tuple[str, str], list[_Item]] = {}
    for item in items:
        by_kind.setdefault((item.ref.api_version, item.ref.kind), []).append(item)

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="drift") as pool:

        async def run(fn: Any, *args: Any) -> Any:
            return await loop.run_in_executor(pool, fn, *args)

        async def dry_run(item: _Item) -> None:
            if item.result is None and item.live is not None:
                await _dry_run(kube, item, releases[item.release], run, refused, dry_run_all)

        async def get(resource: Any, member: _Item) -> None:
            try:
                member.live = await run(kube.get_at, resource.path(member.ref.namespace, member.ref.name))
            except refused as exc:
                member.result = _error(member.ref, exc)
            await dry_run(member)

        async def read(resource: Any, namespace: str | None, members: list[_Item]) -> bool:
            """One LIST of the kind's helm-labelled objects (in one namespace, or in all when `namespace`
            is None and the kind is namespaced); objects missing from it (deleted, or their managed-by
            label removed) are asked for one by one. False when the LIST is refused (RBAC, say)."""
            try:
                listed = await run(
                    functools.partial(kube.list_at, label_selector=HELM_SELECTOR), resource, namespace
                )
            except refused:
                return False
            index = {(_meta(o).get("namespace"), _name(o)): o for o in listed}
            missing = []
            for member in members:
                member.live = index.get((member.ref.namespace, member.ref.name))
                if member.live is None:
                    missing.append(member)
            await asyncio.gather(
                *(get(resource, m) for m in missing), *(dry_run(m) for m in members if m.live)
            )
            return True

        async def kind(api_version: str, kind_name: str, members: list[_Item]) -> None:
            resource = await run(kube.resource, api_version, kind_name)
            groups: dict[str | None, list[_Item]] = {}
            for item in members:
                _resolve(item, resource, releases[item.release].namespace)
                if item.result is None:
                    groups.setdefault(item.ref.namespace, []).append(item)
            wanted = [m for group in groups.values() for m in group]
            everywhere = resource is not None and resource.namespaced and len(groups) >= _LIST_EVERYWHERE
            if everywhere and await read(resource, None, wanted):
                return
            jobs = []
            for namespace, group in groups.items():
                if len(group) == 1:
                    jobs.append(get(resource, group[0]))
                else:
                    jobs.append(_read_or_get(read, get, resource, namespace, group))
            await asyncio.gather(*jobs)

        await asyncio.gather(*(kind(v, k, members) for (v, k), members in by_kind.items()))

    # Strings never to show, per release: its Secrets' values as the manifest and the cluster have them.
    hidden = [set(r.secret_values) | secret_strings(o) for r, o in zip(releases, parsed, strict=True)]
    for item in items:
        if item.live is not None and is_secret(item.ref):
            hidden[item.release] |= secret_strings([item.live])
    ordered = [sorted(values, key=len, reverse=True) for values in hidden]
    out: list[list[ObjectDrift]] = [[] for _ in releases]
    for item in items:
        if item.result is None:
            item.result = _judge(item, releases[item.release], ordered[item.release])
        out[item.release].append(item.result)
    return [tuple(objects) for objects in out]


async def _read_or_get(read: Any, get: Any, resource: Any, namespace: str | None, group: list[_Item]) -> None:
    if not await read(resource, namespace, group):
        await asyncio.gather(*(get(resource, m) for m in group))


def _name(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("name", ""))


def _resolve(item: _Item, resource: Any, release_namespace: str) -> None:
    """Settle the object's namespace by its kind's scope; mark what cannot be compared."""
    item.resource = resource
    if resource is None:
        item.result = ObjectDrift(
            item.ref,
            DriftState.deleted,
            message=f"the cluster no longer serves {item.ref.kind} ({item.ref.api_version}): "
            "its CustomResourceDefinition or API is gone",
        )
        return
    namespace = item.ref.namespace or release_namespace
    item.ref = replace(item.ref, namespace=namespace if resource.namespaced else None)
    if not item.ref.name:
        item.result = ObjectDrift(
            item.ref, DriftState.ignored, message="no metadata.name (generateName): nothing to compare"
        )


def _error(ref: ObjectRef, exc: Exception) -> ObjectDrift:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or str(exc)
    return ObjectDrift(ref, DriftState.error, message=f"the API server refused ({status}): {reason}")


def _skipped(item: _Item, request: ReleaseManifest) -> ObjectDrift | None:
    """Opted out by annotation, or ignored whole by a rule: no dry run for it."""
    if opted_out(item.live, item.desired):
        return ObjectDrift(
            item.ref, DriftState.ignored, message=f"annotated {OPT_OUT_ANNOTATION}: {OPT_OUT_VALUE}"
        )
    rule = whole_object_rule(request.rules, item.ref, _labels(item.live))
    if rule is not None:
        return ObjectDrift(item.ref, DriftState.ignored, message=f"ignored by {describe_rule(rule)}")
    return None


async def _dry_run(
    kube: Any,
    item: _Item,
    request: ReleaseManifest,
    run: Any,
    refused: tuple[type[Exception], ...],
    dry_run_all: bool,
) -> None:
    skipped = _skipped(item, request)
    if skipped is not None:
        item.result = skipped
        return
    if not dry_run_all and item.live is not None and manifest_in_live(item.desired, item.live):
        return  # judged against the live object itself: nothing set by the release differs
    desired = copy.deepcopy(item.desired)
    meta = desired.setdefault("metadata", {})
    if item.ref.namespace:
        meta["namespace"] = item.ref.namespace
    else:
        meta.pop("namespace", None)  # cluster-scoped: a namespace in the chart means nothing
    try:
        item.answer = await run(kube.apply_dry_run, item.resource, item.ref.namespace, desired, FIELD_MANAGER)
        if item.live is not None and _version(item.answer) != _version(item.live):
            # Changed between our read and the dry run (a controller, a person): compare with the state
            # the dry run started from, not an older one.
            fresh = await run(kube.get_at, item.resource.path(item.ref.namespace, item.ref.name))
            item.live = fresh if fresh is not None else item.live
    except refused as exc:
        item.result = _error(item.ref, exc)


def _judge(item: _Item, request: ReleaseManifest, secret_values: Sequence[str]) -> ObjectDrift:
    if item.live is None:
        return ObjectDrift(item.ref, DriftState.deleted, message="not found in the cluster")
    answer = item.answer if item.answer is not None else item.live  # None: the shortcut was taken
    result = compare(item.ref, item.live, answer, request.rules, secret_values, item.desired)
    return replace(result, dry_run=item.answer is not None)


def _version(obj: Mapping[str, Any]) -> str:
    return str(_meta(obj).get("resourceVersion", ""))
