"""Export the platform as a helmfile state, import a helmfile state as a platform (docs/helmfile.md).

`export_helmfile` loads the platform per environment, decrypts secrets only for the explicit plaintext
mode, and writes the helmfile plus its secrets values files. `import_helmfile` writes gripctl.yaml (and
the inline values files), then loads the result for every environment and takes everything back out if
it does not load: an import either gives a platform gripctl can read, or changes nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gripctl.errors import ConfigError, GripError, UsageError
from gripctl.interop import helmfile as interop
from gripctl.interop.helmfile import Gap, ImportedRelease, PlannedFile, SecretsMode
from gripctl.model import environment_names, load_platform

STDOUT = Path("-")


@dataclass(frozen=True)
class ExportHelmfileRequest:
    root: Path
    environment: str | None = None  # None: every declared environment (a .gotmpl state when several)
    out: Path | None = None  # default: helmfile.yaml (or helmfile.yaml.gotmpl) at the root; "-": stdout
    secrets: SecretsMode = SecretsMode.sops
    force: bool = False  # replace files that an export did not write


@dataclass(frozen=True)
class ExportHelmfileResult:
    out: str | None  # the helmfile written, None when printed
    document: str
    written: tuple[str, ...]
    environments: tuple[str, ...]
    releases: tuple[str, ...]
    templated: bool
    secrets: SecretsMode
    plaintext_files: tuple[str, ...]  # decrypted secrets on disk (only with SecretsMode.plaintext)
    gaps: tuple[Gap, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "written": list(self.written),
            "environments": list(self.environments),
            "releases": list(self.releases),
            "templated": self.templated,
            "secrets": self.secrets.value,
            "plaintext_files": list(self.plaintext_files),
            "not_exported": [gap.to_dict() for gap in self.gaps],
            "document": self.document,
        }


def export_helmfile(request: ExportHelmfileRequest) -> ExportHelmfileResult:
    """Write the helmfile state of the platform at `request.root` (see the request's fields)."""
    root = request.root.resolve()
    if request.environment is not None:
        names: list[str | None] = [request.environment]
    else:
        names = list(environment_names(root)) or [None]
    platforms = [load_platform(root, name) for name in names]
    templated = len(platforms) > 1
    to_stdout = request.out == STDOUT
    if request.out is None or to_stdout:
        out = root / ("helmfile.yaml.gotmpl" if templated else "helmfile.yaml")
    else:
        out = request.out if request.out.is_absolute() else Path.cwd() / request.out
    if templated and not out.name.endswith(".gotmpl"):
        raise UsageError(
            f"{out.name}: a helmfile for several environments ({', '.join(str(n) for n in names)}) is a "
            "Go template, and helmfile v1 renders only files named *.gotmpl",
            hint=f"write it to {out.name}.gotmpl, or export one environment with -e ENV",
        )
    decrypted: dict[str, bytes] = {}
    if request.secrets is SecretsMode.plaintext:
        from gripctl.secrets.values import merged_values  # sops: only for the explicit plaintext mode

        for release in platforms[0].releases.values():
            plain = merged_values(release.secrets, root)
            if plain is not None:
                decrypted[release.id] = plain
    export = interop.export_helmfile(platforms, out=out, secrets=request.secrets, decrypted=decrypted)
    if to_stdout:
        if export.side_files:
            raise UsageError(
                f"--out - prints only the helmfile, but this export also needs {len(export.side_files)} "
                f"secrets values files ({interop.SECRETS_DIR}/)",
                hint="write to a file with --out FILE, or use --secrets helm-secrets",
            )
        written: tuple[str, ...] = ()
    else:
        _refuse_foreign(export.files, interop.MARKER, request.force)
        written = _write(export.files)
    return ExportHelmfileResult(
        out=None if to_stdout else str(out),
        document=export.main.text,
        written=written,
        environments=export.environments,
        releases=export.releases,
        templated=export.templated,
        secrets=request.secrets,
        plaintext_files=tuple(str(f.path) for f in export.side_files if f.plaintext_secrets),
        gaps=export.gaps,
    )


@dataclass(frozen=True)
class ImportHelmfileRequest:
    source: Path
    into: Path | None = None  # where gripctl.yaml goes; default: the helmfile's folder
    dry_run: bool = False  # write nothing, return what would be written
    force: bool = False  # replace a gripctl.yaml that an import did not write


@dataclass(frozen=True)
class ImportHelmfileResult:
    source: str
    into: str
    dry_run: bool
    files: tuple[PlannedFile, ...]  # what was (or, dry run, would be) written
    written: tuple[str, ...]
    releases: tuple[ImportedRelease, ...]
    environments: tuple[str, ...]
    gaps: tuple[Gap, ...]
    notes: tuple[Gap, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "into": self.into,
            "dry_run": self.dry_run,
            "written": list(self.written),
            "files": [{"path": str(f.path), "text": f.text} for f in self.files],
            "releases": [r.to_dict() for r in self.releases],
            "environments": list(self.environments),
            "not_imported": [gap.to_dict() for gap in self.gaps],
            "notes": [note.to_dict() for note in self.notes],
        }


def import_helmfile(request: ImportHelmfileRequest) -> ImportHelmfileResult:
    """Turn the helmfile state at `request.source` into gripctl.yaml under `request.into`."""
    source = request.source if request.source.is_absolute() else Path.cwd() / request.source
    if not source.exists():
        raise UsageError(f"{request.source}: no such file", hint="name the helmfile state to import")
    into = (request.into or source.parent).resolve()
    if request.into is not None and not into.is_dir():
        raise UsageError(
            f"--into {request.into}: no such folder", hint="create it first, or leave --into out"
        )
    plan = interop.import_helmfile(source, into=into, display=str(request.source))
    _refuse_foreign(plan.files, interop.IMPORT_MARKER, request.force)
    written: tuple[str, ...] = ()
    if not request.dry_run:
        backups = {f.path: _read_or_none(f.path) for f in plan.files}
        written = _write(plan.files)
        try:
            for environment in plan.environments:
                load_platform(into, environment)
        except GripError as exc:
            _restore(backups)
            raise ConfigError(
                f"the imported gripctl.yaml does not load, so nothing was written: {exc.message}",
                location=exc.location,
                hint=(exc.hint + "; " if exc.hint else "") + "fix the helmfile (or the folders it points at) "
                "and import again; `--dry-run` shows the gripctl.yaml it makes",
            ) from None
    return ImportHelmfileResult(
        source=str(request.source),
        into=str(into),
        dry_run=request.dry_run,
        files=plan.files,
        written=written,
        releases=plan.releases,
        environments=plan.environments,
        gaps=plan.gaps,
        notes=plan.notes,
    )


def _refuse_foreign(files: Sequence[PlannedFile], marker: str, force: bool) -> None:
    """Never overwrite a file gripctl did not write, unless told to."""
    if force:
        return
    foreign = [f.path for f in files if not interop.is_ours(f.path, marker)]
    if foreign:
        raise UsageError(
            "these files exist and were not written by gripctl: " + ", ".join(str(p) for p in foreign),
            hint="move them away, choose another place (--out / --into), or replace them with --force",
        )


def _write(files: Sequence[PlannedFile]) -> tuple[str, ...]:
    """Write each file whole (temporary file + rename), created with its final mode: a plaintext
    secrets file is never readable by others, not even for a moment."""
    for planned in files:
        planned.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=planned.path.parent, prefix=f".{planned.path.name}.")
        try:
            os.fchmod(handle, planned.mode)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(planned.text)
            os.replace(temporary, planned.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return tuple(str(f.path) for f in files)


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _restore(backups: dict[Path, bytes | None]) -> None:
    for path, content in backups.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(content)
