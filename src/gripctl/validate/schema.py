"""Offline schema validation of rendered objects: Kubernetes' own schemas, and the platform's CRDs.

Kubernetes schemas come from the `kubernetes-validate` package (its strict variant, which rejects
unknown fields, so a misspelt `livenesProbe` is caught before the API server drops or refuses it).
The package ships one schema set per minor version; we use the newest one not newer than the target
cluster. Validators are built once per kind: building one is far costlier than using it.

Custom resources are validated against the `openAPIV3Schema` of any CustomResourceDefinition the
platform itself renders, so a CR is checked in the same run as the chart that installs its CRD.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from kubernetes_validate.utils import Version, all_versions
from referencing import Registry, Resource

from gripctl.validate.findings import Finding, Severity
from gripctl.validate.render import RenderedObject, line_of, relative

_MAX_ERRORS_PER_OBJECT = 5


def schema_version(desired: str) -> tuple[str, str | None]:
    """The shipped schema version for a target cluster version, and a note when it is not exact."""
    wanted = Version(desired.removeprefix("v"))
    versions = all_versions()
    older = [v for v in versions if Version(v).release[:2] <= wanted.release[:2]]
    picked = older[-1] if older else versions[0]
    note = None
    if Version(picked).release[:2] != wanted.release[:2]:
        note = f"no schemas for Kubernetes {desired} in kubernetes-validate; using the nearest, {picked}"
    return picked, note


def _schema_dir(version: str) -> Any:
    return resources.files("kubernetes_validate").joinpath(f"kubernetes-json-schema/v{version}-local-strict")


@cache
def _registry(version: str) -> Registry[Any]:
    definitions = json.loads(_schema_dir(version).joinpath("_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()


_API = re.compile(r"^([^./]*)(?:\.[^/]*)?/")


@cache
def _k8s_validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    group_version = _API.sub(r"\1-", api_version)  # apps/v1 -> apps-v1, networking.k8s.io/v1 -> networking-v1
    filename = f"{kind.lower()}-{group_version}.json"
    path = _schema_dir(version).joinpath(filename)
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))


@dataclass
class CrdIndex:
    """openAPIV3Schemas of the CRDs rendered by the platform, by (apiVersion, kind)."""

    schemas: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _validators: dict[tuple[str, str], jsonschema.protocols.Validator] = field(default_factory=dict)

    @classmethod
    def from_objects(cls, objects: list[RenderedObject]) -> CrdIndex:
        index = cls()
        for obj in objects:
            if obj.kind != "CustomResourceDefinition":
                continue
            spec = obj.doc.get("spec") or {}
            group = spec.get("group")
            kind = (spec.get("names") or {}).get("kind")
            for version in spec.get("versions") or []:
                schema = ((version or {}).get("schema") or {}).get("openAPIV3Schema")
                if group and kind and isinstance(schema, dict):
                    index.schemas[(f"{group}/{version.get('name')}", kind)] = schema
        return index

    def validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        key = (api_version, kind)
        if key not in self.schemas:
            return None
        if key not in self._validators:
            # openAPIV3Schema is (close to) JSON Schema draft 4/5; x-kubernetes-* keywords are ignored.
            self._validators[key] = jsonschema.Draft7Validator(self.schemas[key])
        return self._validators[key]


def _path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(object)"


def _needle(error: jsonschema.ValidationError) -> list[str]:
    """What to search for in the template to find the line of a schema error."""
    needles: list[str] = []
    if error.validator == "additionalProperties":
        needles += re.findall(r"'([^']+)' w(?:as|ere) unexpected", error.message)
    for part in reversed(list(error.absolute_path)):
        if isinstance(part, str):
            needles.append(f"{part}:")
    return needles


def validate_objects(
    objects: list[RenderedObject], kube_version: str, crds: CrdIndex, root: Any
) -> list[Finding]:
    """Schema findings for every object: errors for invalid ones, a warning for kinds with no schema."""
    version, _ = schema_version(kube_version)
    findings: list[Finding] = []
    for obj in objects:
        if not obj.api_version or not obj.kind:
            findings.append(_finding(obj, Severity.error, "object has no apiVersion or kind", root, None))
            continue
        validator = crds.validator(obj.api_version, obj.kind) or _k8s_validator(
            version, obj.api_version, obj.kind
        )
        if validator is None:
            findings.append(
                _finding(
                    obj,
                    Severity.warning,
                    f"no schema for {obj.kind} ({obj.api_version}) in Kubernetes {version} "
                    "or in any CustomResourceDefinition the platform installs: not validated",
                    root,
                    None,
                    hint="if a CRD comes from outside the platform, add its chart, or except this check",
                )
            )
            continue
        errors = sorted(validator.iter_errors(obj.doc), key=lambda e: list(map(str, e.absolute_path)))
        for error in errors[:_MAX_ERRORS_PER_OBJECT]:
            findings.append(
                _finding(
                    obj,
                    Severity.error,
                    f"{obj.kind}/{obj.name}: {_path(error)}: {error.message[:300]}",
                    root,
                    line_of(obj.template, *_needle(error), f"kind: {obj.kind}"),
                )
            )
    return findings


def _finding(
    obj: RenderedObject,
    severity: Severity,
    message: str,
    root: Any,
    line: int | None,
    hint: str | None = None,
) -> Finding:
    return Finding(
        check="schema",
        severity=severity,
        message=message,
        release=obj.release.id,
        environment=obj.environment,
        file=relative(obj.template, root) if obj.template else None,
        line=line or line_of(obj.template, f"kind: {obj.kind}"),
        hint=hint or "fix the template or values so the object matches the API schema",
        kind=obj.kind,
        name=obj.name,
        annotations=obj.annotations,
    )
