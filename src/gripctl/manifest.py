"""Kubernetes manifests as objects: the one parser of helm's multi-document YAML output.

Every room that reads a rendered or stored manifest (the plan's diff, verification, validation,
drift) goes through `parse`, so that documents, `List` kinds, `# Source:` comments and namespaces
are read the same way everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gripctl import yamlio as yaml
from gripctl.errors import ConfigError

Obj = dict[str, Any]
ObjectKey = tuple[str, str | None, str]  # (group/kind, namespace or None when cluster-scoped, name)

# Kinds that have no namespace; any other kind without metadata.namespace lives in the release's.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "Node", "PersistentVolume", "StorageClass", "CSIDriver", "CSINode", "ClusterRole",
        "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "RuntimeClass", "IngressClass",
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding", "APIService", "ClusterIssuer", "VolumeSnapshotClass",
        "FlowSchema", "PriorityLevelConfiguration",
    }
)  # fmt: skip

_SOURCE = re.compile(r"^# Source: (\S+)", re.MULTILINE)
_DOC_SPLIT = re.compile(r"^---[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class ManifestObject:
    """One object of a manifest and the chart template it was rendered from (`# Source:`), if named."""

    obj: Obj
    source: str | None = None  # e.g. "cert-manager/templates/deployment.yaml"

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        meta = self.obj.get("metadata")
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""

    def namespace(self, default: str) -> str | None:
        return namespace_of(self.obj, default)


def namespace_of(obj: Mapping[str, Any], default: str) -> str | None:
    """The object's namespace: its own, else `default`; None for cluster-scoped kinds."""
    meta = obj.get("metadata")
    own = meta.get("namespace") if isinstance(meta, dict) else None
    if own:
        return str(own)
    return None if str(obj.get("kind", "")) in CLUSTER_SCOPED else default


def kind_label(obj: Mapping[str, Any]) -> str:
    """`apps/Deployment`, or just `ConfigMap` for the core group (versions are not part of identity)."""
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = str(obj.get("kind", "?"))
    return f"{group}/{kind}" if group else kind


def object_key(obj: Mapping[str, Any], default_namespace: str) -> ObjectKey:
    meta = obj.get("metadata")
    name = str(meta.get("name", "?")) if isinstance(meta, dict) else "?"
    return kind_label(obj), namespace_of(obj, default_namespace), name


def parse(text: str, *, what: str = "manifest") -> list[ManifestObject]:
    """The objects of a multi-document manifest, in order; empty documents skipped, `List`s flattened.

    Invalid YAML is a ConfigError naming `what` (helm renders valid YAML, so this means a template
    produced text that only looks like YAML).
    """
    out: list[ManifestObject] = []
    for chunk in _DOC_SPLIT.split(text or ""):
        if not chunk.strip():
            continue
        match = _SOURCE.search(chunk)
        source = match.group(1) if match else None
        try:
            docs = list(yaml.safe_load_all(chunk))
        except yaml.YAMLError as exc:
            where = f" (from {source})" if source else ""
            raise ConfigError(
                f"{what} is not valid YAML{where}: {exc}",
                hint="render it with `helm template` to see the document",
            ) from None
        for doc in docs:
            if not isinstance(doc, dict) or "kind" not in doc:
                continue
            items = doc.get("items") if str(doc["kind"]).endswith("List") else None
            for obj in items if isinstance(items, list) else [doc]:
                if isinstance(obj, dict) and "kind" in obj:
                    out.append(ManifestObject(obj, source))
    return out


def by_key(text: str, default_namespace: str, *, what: str = "manifest") -> dict[ObjectKey, Obj]:
    """The objects of a manifest keyed by (group/kind, namespace, name)."""
    return {object_key(m.obj, default_namespace): m.obj for m in parse(text, what=what)}
