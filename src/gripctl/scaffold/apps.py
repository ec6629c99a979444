"""New applications from a copier template, and bringing them up to a newer template version.

`create_app` checks everything first (name, number, needs against the platform's graph, the paths it
would write, the `.sops.yaml` rule for its secrets), renders the template into a staging folder,
encrypts the secrets release's values there, and only then copies the files into the repository and adds
the gripctl.yaml entry; the platform must load afterwards, or every file is taken back out. So a bad
input or a failure leaves the repository as it was.

`update_app` runs `copier update` on one app in a clean git work tree: copier renders the app's old
template version with its recorded answers, diffs that against the app as it is now, and applies the
diff to the new version; conflicts are left inline the way copier leaves them, and reported.
"""

from __future__ import annotations

import contextlib
import io
import re
import secrets as random
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gripctl.errors import ConfigError, GripError, SecretsError, TemplateError, UsageError
from gripctl.model import Graph, Platform, load_platform
from gripctl.model.graph import declared_needs, did_you_mean
from gripctl.scaffold import config_edit
from gripctl.scaffold.template import (
    TemplateSource,
    default_template,
    is_default_source,
    packaged_version,
    resolve,
)

ANSWERS_FILE = ".copier-answers.yml"
SECRETS_FILE = "values.sops.yaml"
MAX_NUMBER = 999
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The Helm name of the secrets release is NAME-secrets, and Helm names stop at 53 characters.
MAX_NAME = 53 - len("-secrets")
CONFLICT_MARKER = "<<<<<<< "


@dataclass(frozen=True)
class NewAppPlan:
    """A checked request: what `create_app` will render and where."""

    release_id: str
    name: str
    number: int
    namespace: str
    needs: tuple[str, ...]
    environments: tuple[str, ...]
    allow_from: tuple[str, ...]
    charts_dir: str
    secrets_dir: str

    def answers(self, platform_name: str) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "name": self.name,
            "namespace": self.namespace,
            "environments": list(self.environments),
            "allow_from_namespaces": list(self.allow_from),
            "platform": platform_name,
            "charts_dir": self.charts_dir,
            "sops_dir": self.secrets_dir,
        }


@dataclass(frozen=True)
class CreatedApp:
    plan: NewAppPlan
    template: str
    template_version: str | None
    files: tuple[str, ...]  # created, relative to the platform root (gripctl.yaml is changed, not created)
    encrypted_for: tuple[str, ...]  # the age recipients of the new values.sops.yaml
    notes: tuple[str, ...]


@dataclass(frozen=True)
class UpdatedApp:
    release_id: str
    template: str
    from_version: str | None
    to_version: str | None
    changed: tuple[str, ...]  # `git status --porcelain` lines after the update
    conflicts: tuple[str, ...]  # files holding copier's inline conflict markers


# --- checks ---------------------------------------------------------------------------------------


def _folder_setting(platform: Platform, key: str, default: str) -> str:
    value = platform.raw.get(key)
    return str(value).rstrip("/") if isinstance(value, str) and value else default


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _declares_needs(platform: Platform) -> bool:
    """Whether gripctl.yaml declares any needs (the loaded releases carry the implicit number chain)."""
    raw = platform.raw.get("releases")
    specs = raw.values() if isinstance(raw, dict) else ()
    return any(isinstance(spec, dict) and spec.get("needs") for spec in specs)


def default_number(platform: Platform) -> int:
    """The next multiple of ten above every release's number."""
    highest = max((r.order for r in platform.releases.values()), default=0)
    return (highest // 10 + 1) * 10


def plan_new_app(
    platform: Platform, name: str, *, number: int | None = None, needs: tuple[str, ...] = ()
) -> NewAppPlan:
    """Check a new app against the platform; a UsageError that names the problem, before anything is
    written."""
    if not _DNS_LABEL.match(name) or len(name) > MAX_NAME:
        raise UsageError(
            f"app name {name!r} must be lowercase letters, digits and dashes, at most {MAX_NAME} characters",
            hint="for example: gripctl new app billing-api",
        )
    if re.match(r"^\d+-", name):
        raise UsageError(
            f"give the app's name without its number: {name.split('-', 1)[1]!r} and --number "
            f"{name.split('-', 1)[0]}",
        )
    releases = platform.releases
    served = [r for r in releases.values() if r.secrets_for is None]
    for release in releases.values():
        suffix = release.id.split("-", 1)[1]
        if name in (suffix, release.name) or f"{name}-secrets" in (suffix, release.name):
            raise UsageError(
                f"the name {name!r} is taken by release {release.id}",
                hint="pick another name (a release's name is its Helm release name and default namespace)",
            )
    if number is None:
        number = default_number(platform)
        if number > MAX_NUMBER:
            raise UsageError(
                f"no free number above {MAX_NUMBER - 10}: pass --number",
                hint="numbers order the releases; pick a free one above the releases it needs",
            )
    if not 1 <= number <= MAX_NUMBER:
        raise UsageError(f"--number must be between 1 and {MAX_NUMBER}, got {number}")
    for release in served:
        if release.order == number:
            raise UsageError(
                f"the number {number:03d} is taken by release {release.id}",
                hint=f"pick a free number; the next above every release is {default_number(platform):03d}",
            )
    release_id = f"{number:03d}-{name}"
    for need in needs:
        if need not in releases:
            known = [r.id for r in served]
            raise UsageError(
                f"--needs names {need!r}, but the platform has no release {need!r}",
                hint=did_you_mean(need, known) or "known releases: " + ", ".join(known),
            )
        if releases[need].secrets_for is not None:
            raise UsageError(
                f"--needs names the secrets release {need!r}",
                hint=f"name the release it serves ({releases[need].secrets_for}); "
                "a release always comes after its own secrets",
            )
        if releases[need].order >= number:
            raise UsageError(
                f"number {number:03d} would put {release_id} before {need}, which it needs",
                hint=f"numbers order the releases: pick a number above {releases[need].order:03d}",
            )
    if needs and not _declares_needs(platform):
        raise UsageError(
            "this platform declares no needs, so its releases are ordered by number alone; "
            "--needs would switch every release to its declared needs and run them in parallel",
            hint="leave --needs out (the number orders the new release after the ones below it), "
            "or declare the needs of every release in gripctl.yaml first",
        )
    allow_from = tuple(dict.fromkeys(releases[n].namespace for n in needs if releases[n].namespace != name))
    environments = tuple(platform.environments)
    return NewAppPlan(
        release_id=release_id,
        name=name,
        number=number,
        namespace=name,
        needs=tuple(dict.fromkeys(needs)),
        environments=environments,
        allow_from=allow_from,
        charts_dir=_folder_setting(platform, "charts", "ops/helm"),
        secrets_dir=_folder_setting(platform, "secrets", "ops/secrets"),
    )


# --- copier ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _copier_errors(action: str, notes: list[str]) -> Iterator[None]:
    """copier's exceptions and warnings as a TemplateError and notes (copier prints nothing: quiet)."""
    from copier.errors import CopierError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except CopierError as exc:
            raise TemplateError(f"copier could not {action}: {exc}") from None
        except GripError:
            raise
        except (OSError, ValueError, RuntimeError) as exc:
            # copier lets git's and Jinja's own errors through (a bad ref, a template syntax error).
            raise TemplateError(f"copier could not {action}: {type(exc).__name__}: {exc}") from None
        finally:
            for warning in caught:
                text = str(warning.message).strip()
                if text and "deprecat" not in text.lower():
                    notes.append(text.splitlines()[0])


def _render(
    source: TemplateSource, dest: Path, data: dict[str, Any], answers_file: str, notes: list[str]
) -> None:
    import copier

    with (
        _copier_errors(f"render the template {source.src}", notes),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        copier.run_copy(
            source.src,
            dest,
            data=data,
            answers_file=answers_file,
            vcs_ref=source.ref,
            defaults=True,
            quiet=True,
            overwrite=True,
            unsafe=False,
            cleanup_on_error=False,
        )


# --- secrets --------------------------------------------------------------------------------------


def _secret_values(chart: Path) -> tuple[dict[str, Any], list[str]]:
    """The secrets chart's values.yaml with a fresh random value for every empty top-level string
    (the keys the template leaves for secrets), and those keys."""
    values_path = chart / "values.yaml"
    data = yaml.safe_load(values_path.read_text()) if values_path.is_file() else None
    data = data if isinstance(data, dict) else {}
    filled = {key: random.token_urlsafe(32) for key, value in data.items() if value == ""}
    return filled, sorted(filled)


def _encrypt(root: Path, staged_chart: Path, target: Path) -> tuple[str, ...]:
    """Write the staged secrets chart's values.sops.yaml, encrypted for the rule `.sops.yaml` has for
    `target` (the file's place in the repository); the recipients it was encrypted for."""
    from gripctl.adapters import sops
    from gripctl.secrets.decrypt import read_metadata
    from gripctl.secrets.layout import sops_config
    from gripctl.secrets.rules import require_rule

    rule = require_rule(root, target)
    values, keys = _secret_values(staged_chart)
    if not values:
        return ()
    plaintext = yaml.safe_dump(values, sort_keys=False).encode()
    result = sops.encrypt(plaintext, filename=target, config=sops_config(root))
    if not result.ok:
        raise SecretsError(
            f"sops could not encrypt {_rel(target, root)}: {sops.first_line(result)}",
            hint="check .sops.yaml (gripctl secrets check); nothing was written",
        )
    if any(str(value) in result.stdout for value in values.values()):
        raise SecretsError(
            f"the .sops.yaml rule for {_rel(target, root)} leaves {', '.join(keys)} in plaintext "
            "(its encrypted_regex does not match)",
            hint="widen the rule's encrypted_regex (or drop it to encrypt every value); nothing was written",
        )
    out = staged_chart / SECRETS_FILE
    out.write_text(result.stdout)
    meta = read_metadata(out)
    if meta is None or set(meta.recipients) != set(rule.recipients):
        raise SecretsError(
            f"the encrypted {_rel(target, root)} is not for the recipients of its .sops.yaml rule",
            hint="report this with `sops --version`; nothing was written",
        )
    return meta.recipients


# --- create ---------------------------------------------------------------------------------------


def _staged_files(staging: Path) -> list[Path]:
    return sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file() or p.is_symlink())


def create_app(
    root: Path,
    name: str,
    *,
    number: int | None = None,
    needs: tuple[str, ...] = (),
    template: str | None = None,
) -> CreatedApp:
    """Render a new application into the platform at `root`; nothing is written unless all of it is."""
    root = root.resolve()
    platform = load_platform(root)
    plan = plan_new_app(platform, name, number=number, needs=needs)
    charts = root / plan.charts_dir
    secrets = root / plan.secrets_dir
    chart_dir = charts / plan.release_id
    secrets_chart = secrets / f"{plan.release_id}-secrets"
    for path in (chart_dir, secrets_chart):
        if path.exists():
            raise UsageError(
                f"{_rel(path, root)} already exists",
                hint="remove it or pick another name or number",
            )
    config_path = root / "gripctl.yaml"
    old_config = config_path.read_text()
    new_config = config_edit.add_release(old_config, plan.release_id, list(plan.needs), comment=None)
    source = resolve(template, root)
    notes: list[str] = []
    if not source.versioned:
        notes.append(
            f"the template {source.src} is not a git repository with version tags: "
            "`gripctl app update` will not be able to bring changes in"
        )
    answers_rel = f"{plan.charts_dir}/{plan.release_id}/{ANSWERS_FILE}"
    with tempfile.TemporaryDirectory(prefix="gripctl-new-app-") as tmp:
        staging = Path(tmp) / "app"
        _render(source, staging, plan.answers(root.name), answers_rel, notes)
        staged_chart = staging / plan.charts_dir / plan.release_id
        if not (staged_chart / "Chart.yaml").is_file():
            raise TemplateError(
                f"the template rendered no {plan.charts_dir}/{plan.release_id}/Chart.yaml",
                hint="a template for gripctl puts the release's chart at [[ charts_dir ]]/[[ release_id ]]/",
            )
        staged_secrets = staging / plan.secrets_dir / f"{plan.release_id}-secrets"
        recipients: tuple[str, ...] = ()
        if (staged_secrets / "Chart.yaml").is_file() and not (staged_secrets / SECRETS_FILE).exists():
            recipients = _encrypt(root, staged_secrets, secrets_chart / SECRETS_FILE)
        files = _staged_files(staging)
        taken = [str(f) for f in files if (root / f).exists() or (root / f).is_symlink()]
        if taken:
            raise UsageError(
                f"the new app would overwrite {', '.join(taken[:5])}{' ...' if len(taken) > 5 else ''}",
                hint="remove those files or pick another name or number; nothing was written",
            )
        _install(root, staging, files, config_path, old_config, new_config)
    version = _answers(root / answers_rel).get("_commit")
    return CreatedApp(
        plan=plan,
        template=source.src,
        template_version=str(version) if version else None,
        files=tuple(str(f) for f in files),
        encrypted_for=recipients,
        notes=tuple(notes),
    )


def _install(
    root: Path, staging: Path, files: list[Path], config_path: Path, old_config: str, new_config: str
) -> None:
    """Copy the staged files in and write gripctl.yaml; the platform must load after it, or all of it
    is taken back out."""
    created_files: list[Path] = []
    created_dirs: list[Path] = []
    try:
        for relative in files:
            target = root / relative
            missing = [p for p in reversed(target.parents) if p.is_relative_to(root) and not p.exists()]
            for folder in missing:
                folder.mkdir()
                created_dirs.append(folder)
            shutil.copy2(staging / relative, target)
            created_files.append(target)
        config_path.write_text(new_config)
        platform = load_platform(root)
        Graph.from_platform(platform)
    except BaseException as exc:
        for path in created_files:
            path.unlink(missing_ok=True)
        for folder in reversed(created_dirs):
            with contextlib.suppress(OSError):
                folder.rmdir()
        config_path.write_text(old_config)
        if isinstance(exc, ConfigError):
            raise ConfigError(
                f"the platform did not load with the new app, so nothing was kept: {exc.message}",
                location=exc.location,
                hint=exc.hint,
            ) from None
        raise


def _answers(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


# --- update ---------------------------------------------------------------------------------------


def _find_release(platform: Platform, name: str) -> str:
    if name in platform.releases:
        return name
    matches = [
        r.id for r in platform.releases.values() if r.secrets_for is None and name in (r.name, r.id[4:])
    ]
    if len(matches) == 1:
        return matches[0]
    known = [r.id for r in platform.releases.values() if r.secrets_for is None]
    raise UsageError(
        f"no release named {name!r}",
        hint=did_you_mean(name, known) or "known releases: " + ", ".join(known),
    )


def update_app(root: Path, name: str) -> UpdatedApp:
    """`copier update` of one app to the newest version of the template its answers name."""
    from gripctl.adapters import git as gitcmd

    root = root.resolve()
    platform = load_platform(root)
    release_id = _find_release(platform, name)
    release = platform.releases[release_id]
    answers_path = release.chart_path / ANSWERS_FILE
    if not answers_path.is_file():
        raise UsageError(
            f"{release_id} was not made from a template: {_rel(answers_path, root)} does not exist",
            hint="only apps made with `gripctl new app` (or copier) can be updated from their template",
        )
    answers = _answers(answers_path)
    src = str(answers.get("_src_path") or "")
    old_version = answers.get("_commit")
    if not src or not old_version:
        raise TemplateError(
            f"{_rel(answers_path, root)} names no template version (_src_path and _commit)",
            hint="the app was made from a template that is not a git repository with version tags",
        )
    if gitcmd.toplevel(root) is None:
        raise UsageError(
            f"{root} is not in a git work tree",
            hint="copier update merges through git: commit the platform repository first",
        )
    dirty = gitcmd.status(root)
    if dirty:
        shown = "; ".join(line.strip() for line in dirty[:8]) + (" ..." if len(dirty) > 8 else "")
        raise UsageError(
            f"the work tree has uncommitted changes ({shown})",
            hint="commit or stash them first, so that the update's changes can be reviewed on their own",
        )
    ref: str | None = None  # a team's template: its newest version tag
    if is_default_source(src):
        ref = default_template().ref  # the version this gripctl ships, whatever else the cache holds
        _require_default_version(str(old_version))
    notes: list[str] = []
    data: dict[str, Any] = {
        "environments": list(platform.environments),
        "allow_from_namespaces": list(
            dict.fromkeys(
                platform.releases[n].namespace
                for n in declared_needs(release)
                if n in platform.releases and platform.releases[n].namespace != release.namespace
            )
        ),
    }
    import copier

    with _copier_errors(f"update {release_id}", notes), contextlib.redirect_stdout(io.StringIO()):
        copier.run_update(
            root,
            data,
            answers_file=_rel(answers_path, root),
            vcs_ref=ref,
            defaults=True,
            overwrite=True,
            quiet=True,
            skip_answered=True,
            conflict="inline",
            unsafe=False,
        )
    changed = gitcmd.status(root)
    conflicts = sorted(set(gitcmd.unmerged(root)) | _files_with_markers(root, changed))
    new_version = _answers(answers_path).get("_commit")
    return UpdatedApp(
        release_id=release_id,
        template=src,
        from_version=str(old_version),
        to_version=str(new_version) if new_version else None,
        changed=tuple(changed),
        conflicts=tuple(conflicts),
    )


def _require_default_version(version: str) -> None:
    from gripctl.adapters import git as gitcmd
    from gripctl.scaffold.template import cache_path

    if not gitcmd.git(
        cache_path(), "rev-parse", "--verify", "--quiet", f"refs/tags/{version}", check=False
    ).ok:
        raise TemplateError(
            f"the app was made from version {version} of gripctl's default template, which this "
            f"machine's template cache ({cache_path()}) does not hold (this gripctl ships "
            f"v{packaged_version()})",
            hint="run the update where the app was made (or with the gripctl version that made it, once), "
            "or pass --template with a git repository that holds that version's tag",
        )


def _files_with_markers(root: Path, status_lines: list[str]) -> set[str]:
    from gripctl.adapters import git as gitcmd

    top = gitcmd.toplevel(root) or root
    found: set[str] = set()
    for line in status_lines:
        path_text = line[3:].split(" -> ")[-1].strip().strip('"')
        path = top / path_text
        if path.is_file():
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if any(row.startswith(CONFLICT_MARKER) for row in path.read_text().splitlines()):
                    found.add(path_text)
    return found
