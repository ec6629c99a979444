"""Helm's release records read straight from the cluster: the `sh.helm.release.v1.<name>.v<revision>`
Secrets of helm's default storage driver, decoded. Read-only.

One LIST of Secrets labelled `owner=helm` gives every release's latest manifest at once, where `helm get
manifest` costs a helm process (and several API calls) per release. The record is what helm itself
stored: base64 of gzipped JSON inside the Secret's `release` key (helm's `storage/driver/util.go`).
Releases kept in another driver (`HELM_DRIVER=configmap|sql|memory`) are not found here; callers fall
back to the helm binary for them.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
from dataclasses import dataclass
from typing import Any

from gripctl.adapters.kube import ApiResource, Kube

SECRETS = ApiResource("v1", "Secret", "secrets", namespaced=True)
_GZIP_MAGIC = b"\x1f\x8b\x08"


@dataclass(frozen=True)
class StoredRelease:
    name: str
    namespace: str
    revision: int
    status: str  # deployed, failed, superseded, pending-upgrade, ...
    manifest: str
    chart_version: str | None = None


def secrets_driver() -> bool:
    """Whether helm here keeps its records in Secrets (its default)."""
    return os.environ.get("HELM_DRIVER", "secret").lower() in ("", "secret", "secrets")


def decode_record(data: str) -> dict[str, Any] | None:
    """A Secret's `release` value (base64, as the API returns `data`) to helm's JSON record."""
    try:
        raw = base64.b64decode(base64.b64decode(data))
        if raw[:3] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
        record = json.loads(raw)
    except (binascii.Error, ValueError, OSError, EOFError):
        return None
    return record if isinstance(record, dict) else None


def latest_releases(kube: Kube, namespace: str | None = None) -> dict[tuple[str, str], StoredRelease]:
    """The newest revision of every release helm stores (in one namespace, or all of them), keyed by
    (namespace, name)."""
    items = kube.list_at(SECRETS, namespace, label_selector="owner=helm")
    out: dict[tuple[str, str], StoredRelease] = {}
    for item in items:
        labels = (item.get("metadata") or {}).get("labels") or {}
        try:
            revision = int(labels.get("version", ""))
        except ValueError:
            continue
        key = (str((item.get("metadata") or {}).get("namespace", "")), str(labels.get("name", "")))
        if key in out and out[key].revision >= revision:
            continue
        record = decode_record(str((item.get("data") or {}).get("release", "")))
        if record is None:
            continue
        chart = (record.get("chart") or {}).get("metadata") or {}
        out[key] = StoredRelease(
            name=key[1],
            namespace=key[0],
            revision=revision,
            status=str((record.get("info") or {}).get("status") or labels.get("status", "")),
            manifest=str(record.get("manifest") or ""),
            chart_version=str(chart["version"]) if chart.get("version") else None,
        )
    return out
