"""A platform as the helmfile v1 state that deploys the same thing (`gripctl export helmfile`)."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from gripctl.errors import Location, UsageError
from gripctl.interop.helmfile.common import MARKER, Gap, PlannedFile, relpath
from gripctl.model.types import Platform, Release

SECRETS_DIR = "gripctl-secrets"  # next to the exported helmfile: the secrets values files


_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9_./@+-]*$")


_RESERVED_LABELS = ("id", "name", "namespace", "chart")


class SecretsMode(StrEnum):
    """How an exported helmfile gets the decrypted values of a secrets release."""

    sops = "sops"  # a .gotmpl values file that runs `sops --decrypt` when helmfile renders it
    helm_secrets = "helm-secrets"  # `secrets:` entries, decrypted by the helm-secrets plugin
    plaintext = "plaintext"  # decrypted now and written to disk: only when the user asks for it


@dataclass(frozen=True)
class HelmfileExport:
    main: PlannedFile
    side_files: tuple[PlannedFile, ...]
    environments: tuple[str, ...]
    releases: tuple[str, ...]  # release ids, in the order the helmfile lists them
    templated: bool  # the state file needs Go templating (several environments): it must be .gotmpl
    gaps: tuple[Gap, ...]  # gripctl settings the helmfile does not carry

    @property
    def files(self) -> tuple[PlannedFile, ...]:
        return (self.main, *self.side_files)


@dataclass
class _SetEntry:
    name: str
    value: str | None = None
    values: list[str] | None = None


@dataclass
class _ExportRelease:
    release: Release
    chart: str
    labels: dict[str, str]
    needs: list[str]
    values: dict[str, tuple[str, ...]]  # environment -> values entries (paths relative to the helmfile)
    secret_values: list[str]  # values entries after the environment's (sops / plaintext modes)
    secret_files: list[str]  # `secrets:` entries (helm-secrets mode)
    sets: list[_SetEntry]


def export_helmfile(
    platforms: Sequence[Platform],
    *,
    out: Path,
    secrets: SecretsMode = SecretsMode.sops,
    decrypted: Mapping[str, bytes] | None = None,
) -> HelmfileExport:
    """The helmfile state of `platforms` (one per environment exported, all of the same repository).

    One platform gives a plain `helmfile.yaml`; several give a state whose release values switch on
    `.Environment.Name`, which helmfile only renders in a file named `*.gotmpl`. `decrypted` (release
    id -> decrypted YAML) is needed for `SecretsMode.plaintext` only. Raises UsageError when a value
    cannot be written so that helmfile reads it back unchanged.
    """
    if not platforms:
        raise UsageError("nothing to export: no environment given")
    first = platforms[0]
    base = out.parent
    templated = len(platforms) > 1
    envs = [p.environment.name for p in platforms]
    gaps: list[Gap] = []
    side: list[PlannedFile] = []
    releases: list[_ExportRelease] = []
    ids = list(first.releases)
    for rid in ids:
        release = first.releases[rid]
        values = {
            p.environment.name: tuple(relpath(f, base) for f in p.releases[rid].values_files)
            for p in platforms
        }
        labels = {"id": rid}
        for key, value in release.labels.items():
            if key in _RESERVED_LABELS:
                gaps.append(
                    Gap(
                        "label",
                        _where(first, f"releases.{rid}.labels.{key}"),
                        f"label {key!r} of {rid} is a built-in label in helmfile (and gripctl): not exported",
                    )
                )
                continue
            labels[key] = value
        for key, value in labels.items():
            _no_template(value, f"label {key} of release {rid}")
        export = _ExportRelease(
            release=release,
            chart=_chart_ref(release.chart_path, base),
            labels=labels,
            needs=[f"{first.releases[n].namespace}/{first.releases[n].name}" for n in release.needs],
            values=values,
            secret_values=[],
            secret_files=[],
            sets=[_set_entry(rid, key, value, first, gaps) for key, value in release.set_values.items()],
        )
        if release.secrets and secrets is SecretsMode.plaintext:
            # gripctl merges a release's secrets files into one document: so does the plaintext file.
            plain = (decrypted or {}).get(rid)
            if plain is None:
                raise UsageError(f"no decrypted values given for {rid} (plaintext export)")
            target = base / SECRETS_DIR / f"{rid}.yaml"
            side.append(
                PlannedFile(target, _plaintext_values_file(rid, plain), mode=0o600, plaintext_secrets=True)
            )
            export.secret_values.append(relpath(target, base))
        for index, source in enumerate(release.secrets if secrets is not SecretsMode.plaintext else ()):
            sops_path = source.path if source.path.is_absolute() else first.root / source.path
            if secrets is SecretsMode.helm_secrets:
                export.secret_files.append(relpath(sops_path, base))
            else:
                target = base / SECRETS_DIR / f"{rid}{f'-{index}' if index else ''}.yaml.gotmpl"
                side.append(PlannedFile(target, _sops_values_file(sops_path, target.parent)))
                export.secret_values.append(relpath(target, base))
        for entry in (export.chart, *[v for vs in values.values() for v in vs], *export.secret_values):
            _no_template(entry, f"a path of release {rid}")
        releases.append(export)
    if secrets is SecretsMode.plaintext and side:
        side.append(
            PlannedFile(
                base / SECRETS_DIR / ".gitignore", f"# {MARKER}: plaintext secrets, never commit\n*\n"
            )
        )
    gaps.extend(_export_gaps(platforms, secrets))
    text = _helmfile_text(first, platforms, releases, envs, templated, secrets, gaps)
    return HelmfileExport(
        main=PlannedFile(out, text),
        side_files=tuple(side),
        environments=tuple(envs),
        releases=tuple(ids),
        templated=templated,
        gaps=tuple(gaps),
    )


def _where(platform: Platform, key_path: str) -> str:
    return str(platform.locations.get(key_path) or Location(platform.config_path.name, key_path=key_path))


def _chart_ref(chart: Path, base: Path) -> str:
    # helmfile reads `name/chart` as repository/chart: a local chart must look like a path.
    relative = relpath(chart, base)
    return relative if relative.startswith(("../", "/")) else f"./{relative}"


def _no_template(value: str, what: str) -> None:
    if "{{" in value:
        raise UsageError(
            f"{what} contains '{{{{', which helmfile would execute as a template: {value!r}",
            hint="rename it; helmfile renders release names, labels and paths as Go templates",
        )


def _unescape_set(value: str) -> str | None:
    """The helmfile `set` value whose escaping (`,` `{` `}` get a backslash) gives `value` back, or None
    when `value` holds an unescaped `,` `{` `}` (helm's own syntax, which helmfile would escape)."""
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value) and value[index + 1] in ",{}":
            out.append(value[index + 1])
            index += 2
            continue
        if char in ",{}":
            return None
        out.append(char)
        index += 1
    return "".join(out)


def _split_unescaped(text: str) -> list[str]:
    parts, current, index = [], "", 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            current += text[index : index + 2]
            index += 2
            continue
        if text[index] == ",":
            parts.append(current)
            current = ""
        else:
            current += text[index]
        index += 1
    parts.append(current)
    return parts


def _set_entry(rid: str, key: str, value: str, platform: Platform, gaps: list[Gap]) -> _SetEntry:
    name = _unescape_set(key)
    if name is None:
        raise UsageError(f"set key {key!r} of release {rid} cannot be written as a helmfile set name")
    literal = _unescape_set(value)
    if literal is not None:
        return _SetEntry(name, value=literal)
    if value.startswith("{") and value.endswith("}"):
        items = [_unescape_set(item) for item in _split_unescaped(value[1:-1])]
        if all(item is not None for item in items):
            return _SetEntry(name, values=[item for item in items if item is not None])
    gaps.append(
        Gap(
            "set",
            _where(platform, f"releases.{rid}.set.{key}"),
            f"{key}={value} holds an unescaped ',' '{{' or '}}': helm splits it into several values when "
            "gripctl passes it, while helmfile escapes it into one literal value",
        )
    )
    return _SetEntry(name, value=value)


def _sops_values_file(sops_path: Path, folder: Path) -> str:
    relative = relpath(sops_path, folder)
    return (
        f"{{{{- /* Written by `{MARKER}`. helmfile renders this values file by running sops, in this\n"
        "file's folder: the decrypted values exist only in helmfile's memory and the temporary values file\n"
        "it hands to helm. Nothing here is secret. Needs `sops` on PATH and an age key\n"
        "(SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or ~/.config/sops/age/keys.txt). */ -}}\n"
        f'{{{{ exec "sops" (list "--decrypt" {json.dumps(relative)}) }}}}\n'
    )


def _plaintext_values_file(rid: str, plain: bytes) -> str:
    text = plain.decode()
    return (
        f"# PLAINTEXT SECRETS of {rid}, decrypted by `{MARKER} --secrets plaintext`.\n"
        "# Never commit this file; delete it when you are done (the folder is git-ignored).\n"
        + text
        + ("" if text.endswith("\n") else "\n")
    )


def _export_gaps(platforms: Sequence[Platform], secrets: SecretsMode) -> list[Gap]:
    """The gripctl settings a helmfile has no place for, each once, where gripctl.yaml says it."""
    first = platforms[0]
    raw = first.raw
    gaps: list[Gap] = []
    for key, what in (
        ("policies", "validation policies (gripctl validate)"),
        ("notifications", "notifications"),
        ("incidents", "incidents"),
        ("ledger", "the ledger of runs (DORA metrics)"),
        ("secrets_rotation", "secrets rotation rules"),
    ):
        if raw.get(key):
            gaps.append(Gap(key, _where(first, key), f"{what}: gripctl only, helmfile has no equivalent"))
    for platform in platforms:
        env = platform.environment
        path = f"environments.{env.name}"
        if env.approval.value == "required" or env.approvers:
            gaps.append(
                Gap(
                    "approval",
                    _where(first, f"{path}.approval"),
                    f"{env.name} requires approval; helmfile does not",
                )
            )
        if env.monitor_seconds:
            gaps.append(
                Gap(
                    "monitor",
                    _where(first, f"{path}.monitor"),
                    f"{env.name}'s {env.monitor_seconds:g}s monitoring window",
                )
            )
        if env.kubeconfig is not None:
            gaps.append(
                Gap(
                    "kubeconfig",
                    _where(first, f"{path}.kubeconfig"),
                    f"helmfile reads KUBECONFIG: export KUBECONFIG={env.kubeconfig}",
                )
            )
        if env.deploy == "auto":
            gaps.append(
                Gap(
                    "deploy",
                    _where(first, f"{path}.deploy"),
                    f"{env.name} deploys automatically from CI (gripctl)",
                )
            )
        gaps.append(
            Gap(
                "concurrency",
                _where(first, f"{path}.concurrency"),
                f"{env.name} deploys {env.concurrency} releases at a time; pass `helmfile --concurrency "
                f"{env.concurrency}` (helmfile's default is no limit)",
            )
        )
    for rid, release in first.releases.items():
        if release.http_checks:
            gaps.append(Gap("health", _where(first, f"releases.{rid}.health"), f"{rid}'s HTTP health checks"))
    if any(r.remediation.value != "none" for r in first.releases.values()):
        gaps.append(
            Gap(
                "remediation",
                _where(first, "defaults.remediation"),
                "gripctl verifies each release and rolls back (or uninstalls) a failed one; helmfile "
                "leaves a failed release as helm left it (helm's --rollback-on-failure covers helm's "
                "own failures only)",
            )
        )
    if secrets is SecretsMode.helm_secrets:
        gaps.append(
            Gap(
                "secrets",
                "helmfile",
                "`secrets:` entries need the helm-secrets plugin: helm plugin install "
                "https://github.com/jkroepke/helm-secrets",
            )
        )
    return gaps


def _scalar(value: str) -> str:
    if _PLAIN.match(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _template_safe(value: str, templated: bool) -> str:
    # In a .gotmpl file every `{{` is an action: write a literal one as an action printing it.
    return value.replace("{{", "{{`{{`}}") if templated else value


def _condition(envs: Sequence[str]) -> str:
    if len(envs) == 1:
        return f"eq .Environment.Name {json.dumps(envs[0])}"
    return "has .Environment.Name (list " + " ".join(json.dumps(e) for e in envs) + ")"


def _helmfile_text(
    first: Platform,
    platforms: Sequence[Platform],
    releases: list[_ExportRelease],
    envs: list[str],
    templated: bool,
    secrets: SecretsMode,
    gaps: list[Gap],
) -> str:
    env_names = ", ".join(envs)
    command = "gripctl export helmfile" + ("" if templated else f" -e {envs[0]}")
    secrets_line = {
        SecretsMode.sops: f"each secrets release reads a {SECRETS_DIR}/*.yaml.gotmpl values file that runs "
        "`sops --decrypt` when helmfile renders it (sops and an age key needed, no helm plugin).",
        SecretsMode.helm_secrets: "`secrets:` entries, decrypted by the helm-secrets plugin "
        "(install it first).",
        SecretsMode.plaintext: f"PLAINTEXT decrypted values in {SECRETS_DIR}/*.yaml (mode 0600, "
        "git-ignored): delete them when done.",
    }[secrets]
    lines = [
        f"# helmfile state of the gripctl platform {first.config_path.name} (environments: {env_names}),",
        f"# written by `{MARKER}` (docs/helmfile.md).",
        f"# Regenerate it rather than edit it: {command}",
    ]
    if templated:
        lines.extend(
            _comment(
                "helmfile renders this file as a Go template (its name ends in .gotmpl): each release's "
                "values depend on `helmfile -e ENVIRONMENT`, exactly as gripctl layers them."
            )
        )
    lines.extend(_comment(f"Secrets: {secrets_line}"))
    if gaps:
        lines.append("# Not carried over (gripctl only):")
        for gap in gaps:
            lines.extend(_comment(f"- {gap.topic}: {gap.detail}", indent="  "))
    lines = [_template_safe(line, templated) for line in lines]
    declared = [p.environment for p in platforms if p.environment.name in p.environments]
    if declared:
        lines.append("environments:")
        for env in declared:
            if env.context:
                lines.append(f"  {_scalar(env.name)}:")
                lines.append(f"    kubeContext: {_template_safe(_scalar(env.context), templated)}")
            else:
                lines.append(f"  {_scalar(env.name)}: {{}}")
        lines.append("# helmfile v1 wants the environments in a YAML part of their own")
        lines.append("---")
    lines.append("helmDefaults:")
    lines.append("  skipDeps: true  # gripctl never runs `helm dependency build`: charts come complete")
    lines.append("releases:")
    for export in releases:
        release = export.release
        lines.append(f"  - name: {_scalar(release.name)}")
        lines.append(f"    namespace: {_scalar(release.namespace)}")
        lines.append(f"    chart: {_scalar(export.chart)}")
        lines.append("    labels:")
        lines.extend(f"      {_scalar(k)}: {_scalar(v)}" for k, v in export.labels.items())
        if export.needs:
            lines.append("    needs:")
            lines.extend(f"      - {_scalar(n)}" for n in export.needs)
        lines.append(f"    timeout: {release.timeout_seconds}")
        lines.append(f"    createNamespace: {'true' if release.create_namespace else 'false'}")
        lines.extend(_values_lines(export, envs, templated))
        if export.secret_files:
            lines.append("    secrets:")
            lines.extend(f"      - {_scalar(s)}" for s in export.secret_files)
        if export.sets:
            lines.append("    set:")
            for entry in export.sets:
                lines.append(f"      - name: {_template_safe(json.dumps(entry.name), templated)}")
                if entry.values is not None:
                    lines.append("        values:")
                    lines.extend(
                        f"          - {_template_safe(json.dumps(v), templated)}" for v in entry.values
                    )
                else:
                    lines.append(f"        value: {_template_safe(json.dumps(entry.value or ''), templated)}")
    return "\n".join(lines) + "\n"


def _comment(text: str, indent: str = "") -> list[str]:
    wrapped = textwrap.wrap(text, width=100, initial_indent=indent, subsequent_indent=indent + "  ")
    return [f"# {line}" for line in wrapped]


def _values_lines(export: _ExportRelease, envs: list[str], templated: bool) -> list[str]:
    lines: list[str] = []
    if not templated:
        entries = [*export.values[envs[0]], *export.secret_values]
        if entries:
            lines.append("    values:")
            lines.extend(f"      - {_scalar(e)}" for e in entries)
        return lines
    groups: dict[tuple[str, ...], list[str]] = {}
    for env in envs:
        groups.setdefault(export.values[env], []).append(env)
    groups.pop((), None)
    if not groups and not export.secret_values:
        return lines
    lines.append("    values:")
    for files, group in groups.items():
        # Conditional even when every environment has the same files: helmfile's `default` environment
        # (no -e) then gets none, like gripctl's neutral default environment.
        lines.append(f"{{{{- if {_condition(group)} }}}}")
        lines.extend(f"      - {_scalar(e)}" for e in files)
        lines.append("{{- end }}")
    lines.extend(f"      - {_scalar(e)}" for e in export.secret_values)
    return lines
