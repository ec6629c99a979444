"""A helmfile state as a gripctl layout (`gripctl import helmfile`): what maps, and what does not."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gripctl.errors import ConfigError, Location
from gripctl.interop.gotemplate import Scope, Skipped, render, render_field
from gripctl.interop.helmfile.common import MARKER, Gap, PlannedFile, relpath
from gripctl.model.loader import DEFAULT_ENVIRONMENT
from gripctl.model.yamlfile import YamlDocument, parse_yaml_documents, read_text

IMPORT_MARKER = "gripctl import helmfile"


INLINE_VALUES_DIR = "helmfile-values"  # under --into: inline values of the helmfile, as files


SOPS_FILE = "values.sops.yaml"


_NUMBERED = re.compile(r"^(\d+)-(.+)$")


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


_SOPS_EXEC = re.compile(r'exec\s+"sops"\s+\(list\s+"--decrypt"\s+"((?:[^"\\]|\\.)*)"\)')


@dataclass(frozen=True)
class ImportedRelease:
    id: str
    name: str
    namespace: str
    chart: str  # as written in gripctl.yaml (or the folder it is discovered from)
    needs: tuple[str, ...]
    secrets_for: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "namespace": self.namespace,
            "chart": self.chart,
            "needs": list(self.needs),
            "secrets_for": self.secrets_for,
        }


@dataclass(frozen=True)
class HelmfileImport:
    config: PlannedFile  # gripctl.yaml
    values_files: tuple[PlannedFile, ...]  # inline values of the helmfile, written as files
    releases: tuple[ImportedRelease, ...]
    environments: tuple[str, ...]
    gaps: tuple[Gap, ...]  # in the helmfile, not in the gripctl layout
    notes: tuple[Gap, ...]  # carried over, but gripctl behaves differently

    @property
    def files(self) -> tuple[PlannedFile, ...]:
        return (self.config, *self.values_files)


# Keys that are carried over (or that change nothing gripctl does): anything else is a gap.
_RELEASE_KEYS = {
    "name", "namespace", "chart", "labels", "needs", "values", "secrets", "set", "timeout",
    "createNamespace", "installed", "kubeContext", "wait", "waitForJobs", "skipDeps", "missingFileHandler",
}  # fmt: skip


_DEFAULTS_KEYS = {"timeout", "createNamespace", "kubeContext", "wait", "waitForJobs", "skipDeps"}


_TOP_KEYS = {"releases", "environments", "helmDefaults", "commonLabels", "missingFileHandler", "templates"}


# What `helmfile build` adds to the state it prints: its resolved defaults, not settings of the user's.
_BUILD_DEFAULTS = {"helmBinary": "helm", "kustomizeBinary": "kustomize"}


_BUILD_RELEASE_KEYS = {"chartPath"}


_BUILTIN_LABELS = ("name", "namespace", "chart")  # helmfile sets these itself on every release


_ENV_KEYS = {"kubeContext", "missingFileHandler"}


_WAIT_NOTE = (
    "gripctl waits for every release itself: it verifies rollouts after each upgrade (docs/engine.md)"
)


_TOP_GAP_DETAIL = {
    "repositories": "chart repositories: gripctl deploys charts from the repository only (vendor them)",
    "hooks": "global hooks run commands around helmfile; gripctl has no hooks",
    "helmfiles": "sub-helmfiles are not followed: import each one on its own",
    "bases": "bases are not merged in: import the rendered state (`helmfile build`)",
    "values": "state values only feed helmfile's templates, which gripctl does not have",
    "renderedvalues": "state values only feed helmfile's templates, which gripctl does not have",
    "apiVersions": "gripctl renders against the live cluster's API versions",
    "kubeVersion": "gripctl renders against the live cluster's version",
    "commonLabels": "",
}


@dataclass
class _Source:
    """A parsed helmfile document with the file it came from."""

    doc: YamlDocument

    def where(self, key_path: str) -> Location:
        return self.doc.location(key_path)


_EnvSpec = tuple[dict[str, Any], _Source, str]  # an environment's spec, its document, its key path


@dataclass
class _Raw:
    """One helmfile release, as read for one environment."""

    index: int  # position in the merged releases list: file order
    spec: dict[str, Any]
    source: _Source
    path: str  # key path inside its document: releases[3]
    name: str = ""
    namespace: str = ""
    chart: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    needs: list[tuple[str, Location]] = field(default_factory=list)  # (text, where)
    values: list[tuple[Any, Location]] = field(default_factory=list)  # (path str | inline dict, where)
    secrets: list[tuple[str, Location]] = field(default_factory=list)
    sets: dict[str, str] = field(default_factory=dict)
    timeout: int | None = None
    create_namespace: bool | None = None
    kube_context: str | None = None
    missing_ok: bool = False
    skip: str | None = None  # why it is not imported

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def where(self, key: str = "") -> Location:
        return self.source.where(f"{self.path}.{key}" if key else self.path)


@dataclass
class _Importer:
    source: Path
    display: str
    into: Path
    gaps: list[Gap] = field(default_factory=list)
    notes: list[Gap] = field(default_factory=list)

    def gap(self, topic: str, where: Location | str, detail: str) -> None:
        entry = Gap(topic, str(where), detail)
        if entry not in self.gaps:
            self.gaps.append(entry)

    def note(self, topic: str, where: Location | str, detail: str) -> None:
        entry = Gap(topic, str(where), detail)
        if entry not in self.notes:
            self.notes.append(entry)

    def skipped(self, parts: Iterable[Skipped], what: str = "template") -> None:
        for part in parts:
            span = f"{part.line}" if part.end_line is None else f"{part.line}-{part.end_line}"
            self.gap(
                what,
                f"{self.display}:{span}",
                f"{{{{ {part.expression} }}}}: {part.reason}; gripctl has no templating "
                "(render the state with `helmfile -e ENV build` and import that, or set the value by hand)",
            )

    def _run(self) -> HelmfileImport:
        text = read_text(self.source, self.display)
        templated = self.source.name.endswith(".gotmpl")
        base = self.source.parent

        def documents(env: str) -> list[_Source]:
            body = text
            if templated:
                rendered = render(text, Scope(env), self.display)
                self.skipped(rendered.skipped)
                body = rendered.text
            try:
                docs = [_Source(d) for d in parse_yaml_documents(body, self.display)]
            except ConfigError as exc:
                if templated or "{{" not in text:
                    raise
                # helmfile v1 itself would not render this file: it is only a template as *.gotmpl.
                raise ConfigError(
                    exc.message,
                    location=exc.location,
                    hint=f"helmfile v1 renders a state file as a Go template only when it is named *.gotmpl: "
                    f"rename it to {self.source.name}.gotmpl",
                ) from None
            for src in docs:
                if src.doc.data is not None and not isinstance(src.doc.data, dict):
                    raise _fail(
                        f"a helmfile state must be a mapping of keys (releases:, environments:, ...), not a "
                        f"{_kind(src.doc.data)}",
                        Location(self.display, 1),
                    )
            return [d for d in docs if d.doc.data]

        probe = documents(DEFAULT_ENVIRONMENT)
        environments: dict[str, _EnvSpec] = {}
        for src in probe:
            envs = src.doc.data.get("environments")
            if envs is None:
                continue
            if not isinstance(envs, dict):
                raise _fail(
                    f"environments: must be a mapping, not a {_kind(envs)}", src.where("environments")
                )
            for name, spec in envs.items():
                if not _DNS_LABEL.match(name):
                    raise _fail(
                        f"environment name {name!r} is not a valid gripctl environment name",
                        src.where(f"environments.{name}"),
                        hint="gripctl environments are lowercase letters, digits and dashes: "
                        "rename it in the helmfile",
                    )
                environments[name] = (spec if isinstance(spec, dict) else {}, src, f"environments.{name}")
        env_names = list(environments) or [DEFAULT_ENVIRONMENT]

        per_env: dict[str, list[_Raw]] = {}
        defaults: dict[str, tuple[Any, Location]] = {}
        for env in env_names:
            docs = probe if env == DEFAULT_ENVIRONMENT or not templated else documents(env)
            raws, env_defaults = self._read_state(docs, env, first=env == env_names[0])
            per_env[env] = raws
            if env == env_names[0]:
                defaults = env_defaults
        return self._build(per_env, env_names, environments, defaults, base)

    def _read_state(
        self, docs: list[_Source], env: str, *, first: bool
    ) -> tuple[list[_Raw], dict[str, tuple[Any, Location]]]:
        """The releases of the merged documents for one environment, and helmDefaults/commonLabels."""
        raws: list[_Raw] = []
        defaults: dict[str, tuple[Any, Location]] = {}
        common: dict[str, str] = {}
        missing_default = False
        for src in docs:
            data: dict[str, Any] = src.doc.data
            for key in data:
                if key in _TOP_KEYS or not data[key] or _BUILD_DEFAULTS.get(key) == data[key]:
                    continue
                if key == "filepath" and first:  # only `helmfile build` writes it
                    self.note(
                        "build",
                        src.where(key),
                        "this is `helmfile build` output: it holds the values of the one environment it "
                        "was built for, and every environment of the import gets them; import the state "
                        "file itself to keep each environment's own values",
                    )
                    continue
                if first:
                    detail = _TOP_GAP_DETAIL.get(key) or f"`{key}:` has no gripctl equivalent"
                    self.gap(key, src.where(key), detail)
            if "templates" in data and first:
                uses_inherit = any(isinstance(r, dict) and "inherit" in r for r in data.get("releases") or [])
                if uses_inherit:
                    self.gap(
                        "templates",
                        src.where("templates"),
                        "release templates through `inherit:` are not "
                        "expanded: use YAML anchors (<<: *template), which are, or import the output of "
                        "`helmfile build`",
                    )
            if data.get("missingFileHandler") not in (None, "Error"):
                missing_default = True
            hd = data.get("helmDefaults")
            if hd is not None:
                if not isinstance(hd, dict):
                    raise _fail(
                        f"helmDefaults: must be a mapping, not a {_kind(hd)}", src.where("helmDefaults")
                    )
                for key, value in hd.items():
                    if key in _DEFAULTS_KEYS:
                        defaults[key] = (value, src.where(f"helmDefaults.{key}"))
                    elif first and value:  # false, 0, "" are helmfile's defaults: nothing to carry
                        shown = _text(value) if not isinstance(value, dict | list) else f"({_kind(value)})"
                        self.gap(
                            f"helmDefaults.{key}",
                            src.where(f"helmDefaults.{key}"),
                            f"{key}: {shown} has no gripctl equivalent",
                        )
            labels = data.get("commonLabels")
            if isinstance(labels, dict):
                common.update({str(k): _text(v) for k, v in labels.items()})
            releases = data.get("releases")
            if releases is None:
                continue
            if not isinstance(releases, list):
                raise _fail(f"releases: must be a list, not a {_kind(releases)}", src.where("releases"))
            for index, spec in enumerate(releases):
                path = f"releases[{index}]"
                if not isinstance(spec, dict):
                    raise _fail(f"a release must be a mapping, not a {_kind(spec)}", src.where(path))
                raws.append(
                    self._read_release(_Raw(len(raws), spec, src, path), env, common, missing_default, first)
                )
        return raws, defaults

    def _read_release(
        self, raw: _Raw, env: str, common: dict[str, str], missing_default: bool, first: bool
    ) -> _Raw:
        spec = raw.spec
        for key in ("name", "chart"):
            if not spec.get(key) or not isinstance(spec[key], str):
                raise _fail(
                    f"release {spec.get('name') or '#' + str(raw.index + 1)} has no {key}",
                    raw.where(key) if key in spec else raw.where(),
                    hint=f"give every release a {key}: (helmfile rejects it too)",
                )
        name_scope = Scope(env)
        name, parts = render_field(spec["name"], name_scope, self.display, raw.where("name").line)
        namespace_text = _text(spec.get("namespace"))
        namespace, parts2 = render_field(
            namespace_text, name_scope, self.display, raw.where("namespace").line
        )
        if name is None or namespace is None:
            if first:
                self.skipped([*parts, *parts2])
            raw.skip = "its name or namespace is a template gripctl cannot evaluate"
            raw.name, raw.namespace = spec["name"], namespace_text
            return raw
        raw.name, raw.namespace = name, namespace
        scope = Scope(env, name, namespace or None)

        def field_text(value: Any, key: str) -> str | None:
            rendered, skipped = render_field(_text(value), scope, self.display, raw.where(key).line)
            if skipped and first:
                self.skipped(skipped)
            return rendered

        for key in spec:
            if key not in _RELEASE_KEYS and key not in _BUILD_RELEASE_KEYS and spec[key] and first:
                self.gap(key, raw.where(key), f"release {name}: `{key}:` has no gripctl equivalent")
        chart = field_text(spec["chart"], "chart")
        if chart is None:
            raw.skip = "its chart is a template gripctl cannot evaluate"
            return raw
        raw.chart = chart
        labels = spec.get("labels") or {}
        if not isinstance(labels, dict):
            raise _fail(f"labels: must be a mapping, not a {_kind(labels)}", raw.where("labels"))
        raw.labels = dict(common)
        for key, value in labels.items():
            text = field_text(value, f"labels.{key}")
            if text is not None and key not in _BUILTIN_LABELS:
                raw.labels[str(key)] = text
        for index, need in enumerate(_list(spec.get("needs"), raw.where("needs"))):
            text = field_text(need, f"needs[{index}]")
            if text is not None:
                raw.needs.append((text, raw.where(f"needs[{index}]")))
        for index, value in enumerate(_list(spec.get("values"), raw.where("values"))):
            where = raw.where(f"values[{index}]")
            if isinstance(value, dict):
                raw.values.append((value, where))
            elif isinstance(value, str):
                text = field_text(value, f"values[{index}]")
                if text is not None:
                    raw.values.append((text, where))
            else:
                raise _fail(f"a values entry must be a file path or a mapping, not a {_kind(value)}", where)
        for index, value in enumerate(_list(spec.get("secrets"), raw.where("secrets"))):
            text = field_text(value, f"secrets[{index}]") if isinstance(value, str) else None
            if text is None:
                if first:
                    self.gap(
                        "secrets",
                        raw.where(f"secrets[{index}]"),
                        f"release {name}: inline secrets are not imported",
                    )
                continue
            raw.secrets.append((text, raw.where(f"secrets[{index}]")))
        for index, entry in enumerate(_list(spec.get("set"), raw.where("set"))):
            where = raw.where(f"set[{index}]")
            if not isinstance(entry, dict) or "name" not in entry:
                raise _fail("a set entry needs a name: and a value: (or values:)", where)
            key = _escape_set(_text(entry["name"]))
            if "value" in entry:
                raw.sets[key] = _escape_set(_text(entry["value"]))
            elif isinstance(entry.get("values"), list):
                raw.sets[key] = "{" + ",".join(_escape_set(_text(v)) for v in entry["values"]) + "}"
            elif first:
                self.gap(
                    "set",
                    where,
                    f"release {name}: set {entry['name']} from a file (--set-file) is not imported",
                )
        if "timeout" in spec:
            if isinstance(spec["timeout"], bool) or not isinstance(spec["timeout"], int):
                raise _fail(f"timeout: must be whole seconds, not {spec['timeout']!r}", raw.where("timeout"))
            raw.timeout = spec["timeout"] or None  # 0: not set (helm's own 300s)
        if "createNamespace" in spec:
            raw.create_namespace = bool(spec["createNamespace"])
        if spec.get("kubeContext"):
            raw.kube_context = _text(spec["kubeContext"])
        raw.missing_ok = missing_default or spec.get("missingFileHandler") not in (None, "Error")
        for key in ("wait", "waitForJobs"):
            if spec.get(key) and first:
                self.note(key, raw.where(key), _WAIT_NOTE)
        if spec.get("installed") is False:
            raw.skip = (
                "installed: false (helmfile uninstalls it; gripctl has no declarative uninstall: "
                "`helm uninstall` it)"
            )
        return raw

    def _build(
        self,
        per_env: dict[str, list[_Raw]],
        env_names: list[str],
        environments: dict[str, _EnvSpec],
        defaults: dict[str, tuple[Any, Location]],
        base: Path,
    ) -> HelmfileImport:
        first_env = env_names[0]
        raws = per_env[first_env]
        seen: dict[tuple[str, str], _Raw] = {}
        for raw in raws:
            if raw.key in seen:
                other = seen[raw.key]
                raise _fail(
                    f"two releases are {raw.namespace + '/' if raw.namespace else ''}{raw.name}: "
                    f"{other.where()} and {raw.where()}",
                    raw.where("name"),
                    hint="helmfile rejects this too: rename one, or give it another namespace",
                )
            seen[raw.key] = raw
        # A release that only some environments have cannot be one gripctl release.
        for env in env_names[1:]:
            keys = {r.key for r in per_env[env]}
            for raw in raws:
                if raw.key not in keys and raw.skip is None:
                    raw.skip = f"it exists only in some environments (not in {env})"
            for other in per_env[env]:
                if other.key not in seen:
                    self.gap(
                        "release",
                        other.where(),
                        f"release {other.name} exists only in environment {env}: not imported",
                    )
        for raw in raws:
            if raw.skip is None:
                self._check_chart(raw, base)
            if raw.skip is not None:
                self.gap("release", raw.where(), f"release {raw.name} is not imported: {raw.skip}")
        kept = [r for r in raws if r.skip is None]
        if not kept:
            reasons = "; ".join(f"{g.where}: {g.detail}" for g in self.gaps if g.topic == "release")
            raise _fail(
                f"nothing to import: the helmfile has no release gripctl can deploy ({reasons or 'none'})",
                Location(self.display),
                hint="a release needs a local chart folder with a Chart.yaml",
            )
        by_key = {r.key: r for r in kept}
        skipped_keys = {r.key for r in raws if r.skip is not None}
        mapped = {r.key: _Mapped(r, chart_dir=_chart_dir(r, base)) for r in kept}
        edges = self._resolve_needs(raws, by_key, skipped_keys)
        self._assign_ids(mapped, edges)
        for key, m in mapped.items():
            m.needs = [mapped[target].id for target in edges.get(key, [])]
        self._detect_secrets(mapped, per_env, base)
        by_env_key = {env: {r.key: r for r in per_env[env]} for env in env_names}
        for env in env_names:
            for key, m in mapped.items():
                m.entries[env] = self._values(by_env_key[env][key], env, base)
        self._check_consistency(mapped, by_env_key, env_names)
        return self._layout(mapped, env_names, environments, defaults, base)

    def _check_chart(self, raw: _Raw, base: Path) -> None:
        chart = raw.chart
        if re.match(r"^[a-z][a-z0-9+.-]*://", chart) or "::" in chart:
            raw.skip = (
                f"its chart {chart} is remote (fetch it into the repository: helm pull --untar, "
                "then import again)"
            )
            return
        folder = _chart_dir(raw, base)
        if not folder.is_dir():
            raw.skip = (
                f"its chart {chart} is not a folder here, so it is a repository chart "
                f"(`helm pull {chart} --untar -d vendor/`, point chart: at it, import again)"
            )
            return
        if not (folder / "Chart.yaml").is_file():
            raw.skip = (
                f"{chart} has no Chart.yaml (helmfile would turn plain manifests or kustomize into a chart)"
            )

    def _resolve_needs(
        self, raws: list[_Raw], by_key: dict[tuple[str, str], _Raw], skipped: set[tuple[str, str]]
    ) -> dict[tuple[str, str], list[tuple[str, str]]]:
        all_keys = {r.key for r in raws}
        edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for raw in raws:
            if raw.skip is not None:
                continue
            for text, where in raw.needs:
                parts = text.split("/")
                if len(parts) == 1:
                    matches = [k for k in all_keys if k[1] == parts[0]]
                    if len(matches) > 1:
                        namespaced = [k for k in matches if k[0] == raw.namespace]
                        matches = namespaced if len(namespaced) == 1 else matches
                else:
                    if len(parts) > 3:
                        raise _fail(f"needs {text!r} is not [kubecontext/][namespace/]name", where)
                    if len(parts) == 3:
                        self.note(
                            "needs",
                            where,
                            f"{text}: the kube context part is ignored (gripctl deploys one context)",
                        )
                    matches = [k for k in all_keys if k == (parts[-2], parts[-1])]
                if len(matches) != 1:
                    known = ", ".join(sorted(f"{ns}/{n}" if ns else n for ns, n in all_keys))
                    what = "names no release" if not matches else "names several releases"
                    raise _fail(
                        f"release {raw.name} needs {text!r}, which {what}",
                        where,
                        hint=f"write namespace/name of one of: {known}",
                    )
                target = matches[0]
                if target in skipped:
                    self.gap(
                        "needs", where, f"{raw.name} needs {text}, which is not imported: the edge is dropped"
                    )
                    continue
                if target not in by_key:
                    continue
                edges.setdefault(raw.key, [])
                if target not in edges[raw.key]:
                    edges[raw.key].append(target)
        return edges

    def _assign_ids(
        self,
        mapped: dict[tuple[str, str], _Mapped],
        edges: dict[tuple[str, str], list[tuple[str, str]]],
    ) -> None:
        used: set[str] = set()
        pending: list[_Mapped] = []
        for m in mapped.values():
            label = m.raw.labels.get("id", "")
            match = _NUMBERED.match(label)
            if match and _DNS_LABEL.match(match.group(2)) and len(match.group(2)) <= 53 and label not in used:
                m.id = label
                used.add(label)
            else:
                pending.append(m)
        if not pending:
            return
        order = _topological([m.raw.key for m in mapped.values()], edges)
        position = {key: index for index, key in enumerate(order)}
        for m in sorted(pending, key=lambda m: position[m.raw.key]):
            name = m.raw.name
            if not _DNS_LABEL.match(name) or len(name) > 53:
                raise _fail(
                    f"release name {name!r} cannot be a gripctl release id (NNN-name, name in lowercase "
                    "letters, digits and dashes, at most 53 characters)",
                    m.raw.where("name"),
                    hint=f"rename the release, or give it a label id: NNN-name (e.g. id: 010-{_slug(name)})",
                )
            number = (position[m.raw.key] + 1) * 10
            while f"{number:03d}-{name}" in used:
                number += 1
            m.id = f"{number:03d}-{name}"
            used.add(m.id)
        self.note(
            "ids",
            self.display,
            "releases without an `id: NNN-name` label were numbered after the needs order (10, 20, ...)",
        )

    def _detect_secrets(
        self, mapped: dict[tuple[str, str], _Mapped], per_env: dict[str, list[_Raw]], base: Path
    ) -> None:
        """Which releases are gripctl secrets releases (exported by `gripctl export helmfile`): the chart is
        a NNN-name-secrets folder with a values.sops.yaml, and its values reach helm through our sops
        .gotmpl, our plaintext file, or helm-secrets' `secrets:`."""
        by_id = {m.id: m for m in mapped.values()}
        for m in mapped.values():
            folder = m.chart_dir
            sops = folder / SOPS_FILE
            serves = m.id.removesuffix("-secrets")
            is_secrets = (
                m.id.endswith("-secrets")
                and folder.name == m.id
                and sops.is_file()
                and serves in by_id
                and serves != m.id
            )
            found = False
            if is_secrets:
                for env_raws in per_env.values():
                    raw = next(r for r in env_raws if r.key == m.raw.key)
                    kept: list[tuple[Any, Location]] = []
                    for value, where in raw.values:
                        if isinstance(value, str) and _our_secrets_file(base / value, sops):
                            found = True
                            continue
                        kept.append((value, where))
                    raw.values = kept
                    if [s for s, _ in raw.secrets] and all(
                        (base / s).resolve() == sops.resolve() for s, _ in raw.secrets
                    ):
                        found = True
                        raw.secrets = []
            if found:
                m.secrets_for = serves
                by_id[serves].needs = [n for n in by_id[serves].needs if n != m.id]
            for text, where in m.raw.secrets:
                self.gap(
                    "secrets",
                    where,
                    f"release {m.raw.name}: {text} is decrypted by helm-secrets into this release's values; "
                    "gripctl decrypts only the values.sops.yaml of a NNN-name-secrets release "
                    "(docs/secrets.md): not imported",
                )

    def _values(self, raw: _Raw, env: str, base: Path) -> list[str | _Inline]:
        """The release's values entries for one environment: files relative to `into`, inline mappings."""
        out: list[str | _Inline] = []
        for index, (value, where) in enumerate(raw.values):
            if isinstance(value, dict):
                out.append(_Inline(index, value))
                continue
            path = Path(value)
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                if raw.missing_ok:
                    self.note(
                        "values",
                        where,
                        f"{value} does not exist in {env}; helmfile skips it (missingFileHandler)",
                    )
                    continue
                raise _fail(
                    f"values file {value} of release {raw.name} does not exist"
                    + (f" (environment {env})" if env != "default" else ""),
                    where,
                    hint="create it, fix the path, or set missingFileHandler: Warn "
                    "(helmfile fails on it too)",
                )
            if path.name.endswith(".gotmpl"):
                self.gap(
                    "values",
                    where,
                    f"{value} is a template helmfile renders per release; gripctl has no "
                    "templating: not imported (render it into a plain values file)",
                )
                continue
            try:
                if "ref+" in path.read_text(encoding="utf-8"):
                    self.note(
                        "values",
                        where,
                        f"{value} holds vals references (ref+...), which helmfile resolves; "
                        "gripctl passes them to helm as written",
                    )
            except (OSError, UnicodeDecodeError):
                pass
            out.append(relpath(path.resolve(), self.into))
        return out

    def _check_consistency(
        self,
        mapped: dict[tuple[str, str], _Mapped],
        by_env_key: dict[str, dict[tuple[str, str], _Raw]],
        env_names: list[str],
    ) -> None:
        """Settings other than values must not differ between environments: gripctl has one of each."""
        for key, m in mapped.items():
            first = m.raw
            for env in env_names[1:]:
                other = by_env_key[env][key]
                for what, a, b in (
                    ("chart", first.chart, other.chart),
                    ("labels", first.labels, other.labels),
                    ("needs", [n for n, _ in first.needs], [n for n, _ in other.needs]),
                    ("set", first.sets, other.sets),
                    ("timeout", first.timeout, other.timeout),
                ):
                    if a != b:
                        self.gap(
                            what,
                            first.where(what),
                            f"release {first.name}: {what} differs in environment {env}; "
                            f"gripctl has one {what} for all environments: {env_names[0]}'s is imported",
                        )

    def _layout(
        self,
        mapped: dict[tuple[str, str], _Mapped],
        env_names: list[str],
        environments: dict[str, _EnvSpec],
        defaults: dict[str, tuple[Any, Location]],
        base: Path,
    ) -> HelmfileImport:
        into = self.into
        releases = sorted(mapped.values(), key=lambda m: (_number(m.id), m.id))
        files: list[PlannedFile] = []
        config: dict[str, Any] = {"apiVersion": "gripctl/v1"}

        files.extend(self._inline_files(releases, env_names))

        charts_parent = _common_tree([m for m in releases if m.secrets_for is None])
        secrets_parent = _common_tree([m for m in releases if m.secrets_for is not None], secrets=True)
        if charts_parent is not None:
            config["charts"] = relpath(charts_parent, into)
        if any(m.secrets_for for m in releases):
            if secrets_parent is None:
                parents = sorted({str(m.chart_dir.parent) for m in releases if m.secrets_for})
                raise _fail(
                    "the secrets releases' charts are not all NNN-name-secrets folders of one folder "
                    f"({', '.join(parents)}): gripctl finds secrets releases in one secrets: folder",
                    Location(self.display),
                    hint="move the NNN-name-secrets folders under one folder (ops/secrets), "
                    "then import again",
                )
            config["secrets"] = relpath(secrets_parent, into)
        self._discovery_notes(config, releases)

        helm_defaults = {k: v for k, (v, _) in defaults.items()}
        default_timeout = helm_defaults.get("timeout")
        default_create = helm_defaults.get("createNamespace")
        section: dict[str, Any] = {}
        if not isinstance(default_timeout, int) or isinstance(default_timeout, bool) or default_timeout <= 0:
            default_timeout = None  # helmfile's 0: not set, helm's own 300s
        else:
            section["timeout"] = f"{default_timeout}s"
        if isinstance(default_create, bool):
            section["create_namespace"] = default_create
        if section:
            config["defaults"] = section
        for key in ("wait", "waitForJobs"):
            if key in defaults and defaults[key][0]:
                self.note(key, defaults[key][1], _WAIT_NOTE)

        # Environment-wide values: the files every release starts with in that environment. Not for an
        # environment named `default`: gripctl gives a release there only the values it names itself.
        env_values: dict[str, list[str]] = {}
        for env in env_names:
            lists = [m.values[env] for m in releases]
            prefix = _common_prefix(lists) if len(lists) > 1 and env != DEFAULT_ENVIRONMENT else []
            env_values[env] = prefix
            for m in releases:
                m.values[env] = m.values[env][len(prefix) :]

        by_id = {m.id: m for m in releases}
        entries: dict[str, Any] = {}
        summaries: list[ImportedRelease] = []
        for m in releases:
            raw = m.raw
            spec: dict[str, Any] = {}
            in_tree = (
                (m.secrets_for is None and charts_parent is not None and m.chart_dir.parent == charts_parent)
                or (
                    m.secrets_for is not None
                    and secrets_parent is not None
                    and m.chart_dir.parent == secrets_parent
                )
            ) and m.chart_dir.name == m.id
            chart_text = relpath(m.chart_dir, into)
            if not in_tree:
                spec["chart"] = chart_text
            suffix = m.id.split("-", 1)[1]
            served = by_id[m.secrets_for] if m.secrets_for else None
            if raw.name != suffix:
                spec["name"] = raw.name
            namespace = raw.namespace or "default"
            if not raw.namespace:
                self.note(
                    "namespace",
                    raw.where(),
                    f"release {raw.name} has no namespace: helm used the kube "
                    "context's; gripctl needs one, `default` is written",
                )
            default_namespace = (served.raw.namespace or "default") if served else suffix
            if namespace != default_namespace:
                spec["namespace"] = namespace
            needs = [
                n
                for n in m.needs
                if not (n == f"{m.id}-secrets" and n in by_id and by_id[n].secrets_for == m.id)
            ]
            if needs:
                spec["needs"] = needs
            labels = {k: v for k, v in raw.labels.items() if k != "id"}
            inherited = {k: v for k, v in served.raw.labels.items() if k != "id"} if served else {}
            if labels != inherited:
                own = {k: v for k, v in labels.items() if inherited.get(k) != v}
                if own:
                    spec["labels"] = own
                if any(k not in labels for k in inherited):
                    self.note(
                        "labels",
                        raw.where("labels"),
                        f"{m.id} carries the labels of {served.id if served else ''} in gripctl",
                    )
            if raw.timeout is not None and raw.timeout != (
                default_timeout if isinstance(default_timeout, int) else 300
            ):
                spec["timeout"] = f"{raw.timeout}s"
            if raw.create_namespace is not None and raw.create_namespace != (
                default_create if isinstance(default_create, bool) else True
            ):
                spec["create_namespace"] = raw.create_namespace
            if raw.sets:
                spec["set"] = dict(raw.sets)
            values = {env: m.values[env] for env in env_names if m.values[env]}
            if values:
                spec["values"] = values
            if raw.kube_context:
                contexts = {_env_context(environments, env, defaults) for env in env_names}
                if contexts != {raw.kube_context}:
                    self.gap(
                        "kubeContext",
                        raw.where("kubeContext"),
                        f"release {raw.name} deploys to context "
                        f"{raw.kube_context}; gripctl deploys an environment to one context",
                    )
            if spec:
                entries[m.id] = spec
            summaries.append(
                ImportedRelease(m.id, raw.name, namespace, chart_text, tuple(m.needs), m.secrets_for)
            )
        if entries:
            config["releases"] = entries
        envs_out: dict[str, Any] = {}
        for env in env_names:
            spec_out: dict[str, Any] = {}
            context = _env_context(environments, env, defaults)
            if context:
                spec_out["context"] = context
            if env_values[env]:
                spec_out["values"] = env_values[env]
            envs_out[env] = spec_out
            if env not in environments:
                continue
            env_spec, src, path = environments[env]
            for key in env_spec:
                if key in _ENV_KEYS:
                    continue
                detail = (
                    "environment values only feed helmfile's templates (they are not chart values): "
                    "not imported"
                    if key in ("values", "secrets")
                    else f"`{key}:` has no gripctl equivalent"
                )
                self.gap(f"environments.{env}.{key}", src.where(f"{path}.{key}"), detail)
        config["environments"] = envs_out
        if not any(m.needs for m in releases):
            self.note(
                "needs",
                self.display,
                "no release declares needs: helmfile installs them all at "
                "once, gripctl orders them by their numbers (each needs the one before)",
            )
        files.insert(0, PlannedFile(into / "gripctl.yaml", self._config_text(config)))
        return HelmfileImport(
            config=files[0],
            values_files=tuple(files[1:]),
            releases=tuple(summaries),
            environments=tuple(env_names),
            gaps=tuple(self.gaps),
            notes=tuple(self.notes),
        )

    def _inline_files(self, releases: list[_Mapped], env_names: list[str]) -> list[PlannedFile]:
        """Each release's inline values as a file, `helmfile-values/<id>.<n>.yaml`, or one per environment
        (`<id>.<n>.<env>.yaml`) where the environments' renderings differ; fills in `values`."""
        files: dict[str, PlannedFile] = {}
        for m in releases:
            by_index: dict[int, dict[str, dict[str, Any]]] = {}
            for env in env_names:
                for entry in m.entries[env]:
                    if isinstance(entry, _Inline):
                        by_index.setdefault(entry.index, {})[env] = entry.content
            names: dict[tuple[int, str], str] = {}
            for index, contents in by_index.items():
                shared = len({json.dumps(c, sort_keys=True, default=str) for c in contents.values()}) == 1
                for env, content in contents.items():
                    name = (
                        f"{INLINE_VALUES_DIR}/{m.id}.{index}.yaml"
                        if shared
                        else (f"{INLINE_VALUES_DIR}/{m.id}.{index}.{env}.yaml")
                    )
                    names[(index, env)] = name
                    text = (
                        f"# Inline values of release {m.raw.name} in {self.display}, "
                        f"written by `{IMPORT_MARKER}`.\n"
                        + yaml.safe_dump(
                            content, sort_keys=False, allow_unicode=True, default_flow_style=False
                        )
                    )
                    files[name] = PlannedFile(self.into / name, text)
            for env in env_names:
                m.values[env] = [
                    names[(entry.index, env)] if isinstance(entry, _Inline) else entry
                    for entry in m.entries[env]
                ]
        return list(files.values())

    def _discovery_notes(self, config: dict[str, Any], releases: list[_Mapped]) -> None:
        """gripctl finds releases in the charts/secrets folders by itself: say so when that adds any."""
        ids = {m.id for m in releases}
        for key, default in (("charts", "ops/helm"), ("secrets", "ops/secrets")):
            folder = self.into / config.get(key, default)
            if not folder.is_dir():
                continue
            extra = sorted(
                e.name
                for e in folder.iterdir()
                if e.is_dir() and _NUMBERED.match(e.name) and e.name not in ids
            )
            if extra:
                self.note(
                    key,
                    relpath(folder, self.into),
                    f"gripctl also deploys every NNN-name folder here: {', '.join(extra)}",
                )

    def _config_text(self, config: dict[str, Any]) -> str:
        head = [
            f"# Imported from {self.display} by `{IMPORT_MARKER}` (docs/helmfile.md); "
            "the format is docs/config.md.",
        ]
        if self.gaps:
            head.append(
                "# Not imported from the helmfile (each needs a decision; nothing was dropped silently):"
            )
            head.extend(f"#   - {gap}".replace("\n", " ") for gap in self.gaps)
        if self.notes:
            head.append("# Imported, but gripctl behaves differently:")
            head.extend(f"#   - {note}".replace("\n", " ") for note in self.notes)
        body = yaml.safe_dump(config, sort_keys=False, default_flow_style=None, allow_unicode=True, width=110)
        return "\n".join(head) + "\n" + body


def import_helmfile(source: Path, *, into: Path, display: str | None = None) -> HelmfileImport:
    """The gripctl layout for the helmfile state at `source`, to be written under `into`.

    Raises ConfigError (with file:line) for input helmfile itself would reject: not YAML, not a
    mapping, a release without name or chart, two releases with the same namespace/name, a `needs`
    naming no release.
    """
    return _Importer(source.resolve(), display or str(source), into.resolve())._run()


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "mapping",
        list: "list",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }.get(type(value), type(value).__name__)


def _fail(message: str, where: Location, hint: str | None = None) -> ConfigError:
    return ConfigError(message, location=where, hint=hint)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _list(value: Any, where: Location) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise _fail(f"expected a list, got a {_kind(value)}", where)
    return value


def _escape_set(value: str) -> str:
    # helmfile escapes these before passing `--set name=value`; gripctl passes its value as written.
    return value.replace("{", "\\{").replace("}", "\\}").replace(",", "\\,")


@dataclass(frozen=True)
class _Inline:
    """An inline values mapping of a release (its position in `values:`), to be written as a file."""

    index: int
    content: dict[str, Any]


@dataclass
class _Mapped:
    """One imported release, environment independent, plus its values per environment."""

    raw: _Raw
    id: str = ""
    chart_dir: Path = field(default_factory=Path)
    needs: list[str] = field(default_factory=list)  # ids
    entries: dict[str, list[str | _Inline]] = field(default_factory=dict)  # env -> values, in order
    values: dict[str, list[str]] = field(default_factory=dict)  # env -> files relative to `into`
    secrets_for: str | None = None


def _chart_dir(raw: _Raw, base: Path) -> Path:
    path = Path(raw.chart)
    return (path if path.is_absolute() else base / path).resolve()


def _number(release_id: str) -> int:
    return int(release_id.split("-", 1)[0])


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "release"


def _topological(
    keys: list[tuple[str, str]], edges: dict[tuple[str, str], list[tuple[str, str]]]
) -> list[tuple[str, str]]:
    """File order, moved only as far as the needs require (a cycle keeps file order for the rest)."""
    done: list[tuple[str, str]] = []
    placed: set[tuple[str, str]] = set()
    remaining = list(keys)
    while remaining:
        for key in remaining:
            if all(n in placed or n not in keys for n in edges.get(key, [])):
                break
        else:
            key = remaining[0]
        remaining.remove(key)
        placed.add(key)
        done.append(key)
    return done


def _our_secrets_file(path: Path, sops: Path) -> bool:
    """A values file written by `gripctl export helmfile` for `sops`: the sops .gotmpl or plaintext file."""
    try:
        head = path.read_text(encoding="utf-8")[:2000]
    except (OSError, UnicodeDecodeError):
        return False
    if MARKER not in head:
        return False
    match = _SOPS_EXEC.search(head)
    if match:
        relative = str(json.loads(f'"{match.group(1)}"'))
        return (path.parent / relative).resolve() == sops.resolve()
    return "PLAINTEXT SECRETS" in head


def _env_context(
    environments: dict[str, _EnvSpec], env: str, defaults: dict[str, tuple[Any, Location]]
) -> str | None:
    spec = environments[env][0] if env in environments else {}
    if spec.get("kubeContext"):
        return _text(spec["kubeContext"])
    if "kubeContext" in defaults and defaults["kubeContext"][0]:
        return _text(defaults["kubeContext"][0])
    return None


def _common_tree(items: list[_Mapped], *, secrets: bool = False) -> Path | None:
    """The one folder all `items`' charts are `<id>/` folders of, holding no other release folder."""
    if not items:
        return None
    parents = {m.chart_dir.parent for m in items}
    if len(parents) != 1 or any(m.chart_dir.name != m.id for m in items):
        return None
    parent = parents.pop()
    ids = {m.id for m in items}
    for entry in parent.iterdir():
        is_release = entry.is_dir() and _NUMBERED.match(entry.name) and entry.name not in ids
        if is_release and (not secrets or entry.name.endswith("-secrets")):
            return None
    return parent


def _common_prefix(lists: list[list[str]]) -> list[str]:
    prefix: list[str] = []
    for items in zip(*lists, strict=False):
        if len(set(items)) != 1:
            break
        prefix.append(items[0])
    shortest = min(len(items) for items in lists)
    return prefix[:shortest]
