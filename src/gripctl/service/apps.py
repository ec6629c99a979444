"""Service: new applications from a template (`new app`) and template updates (`app update`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class NewAppRequest:
    root: Path
    name: str
    number: int | None = None  # None: the next multiple of ten above every release
    needs: tuple[str, ...] = ()
    template: str | None = None  # None: the default template shipped with gripctl


@dataclass(frozen=True)
class NewAppResult:
    release_id: str
    name: str
    namespace: str
    needs: tuple[str, ...]
    environments: tuple[str, ...]
    template: str
    template_version: str | None
    files: tuple[str, ...]
    encrypted_for: tuple[str, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "name": self.name,
            "namespace": self.namespace,
            "needs": list(self.needs),
            "environments": list(self.environments),
            "template": self.template,
            "template_version": self.template_version,
            "files": list(self.files),
            "config_changed": "gripctl.yaml",
            "encrypted_for": list(self.encrypted_for),
            "notes": list(self.notes),
        }


def new_app(request: NewAppRequest) -> NewAppResult:
    """Render a new application: chart, secrets release (encrypted), per-environment values, docs page,
    and its gripctl.yaml entry. Nothing is written unless all of it is."""
    from gripctl.scaffold.apps import create_app

    created = create_app(
        request.root, request.name, number=request.number, needs=request.needs, template=request.template
    )
    plan = created.plan
    return NewAppResult(
        release_id=plan.release_id,
        name=plan.name,
        namespace=plan.namespace,
        needs=plan.needs,
        environments=plan.environments,
        template=created.template,
        template_version=created.template_version,
        files=created.files,
        encrypted_for=created.encrypted_for,
        notes=created.notes,
    )


@dataclass(frozen=True)
class AppUpdateRequest:
    root: Path
    name: str  # release id (955-billing) or name (billing)


@dataclass(frozen=True)
class AppUpdateResult:
    release_id: str
    template: str
    from_version: str | None
    to_version: str | None
    changed: tuple[str, ...]
    conflicts: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not self.conflicts

    def to_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "template": self.template,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "changed": list(self.changed),
            "conflicts": list(self.conflicts),
        }


def update_app(request: AppUpdateRequest) -> AppUpdateResult:
    """Apply the app's template's newest version with `copier update`; conflicts stay inline."""
    from gripctl.scaffold.apps import update_app as run_update

    done = run_update(request.root, request.name)
    return AppUpdateResult(
        release_id=done.release_id,
        template=done.template,
        from_version=done.from_version,
        to_version=done.to_version,
        changed=done.changed,
        conflicts=done.conflicts,
    )
