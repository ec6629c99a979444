"""Loading gripctl.yaml and the charts/secrets trees into a Platform, with errors that name file:line.

The format is documented in docs/config.md. Loading reads files only (never runs helm or sops): it
finds the release folders, applies the `releases:` overrides and the defaults, resolves the values
files of one environment, and checks everything it can check without a cluster.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

from gripctl.errors import ConfigError, Location, UsageError
from gripctl.model.graph import Graph, did_you_mean, strict_order_needs
from gripctl.model.pointer import PointerError, parse_pointer
from gripctl.model.settings import CONFIG_FILE
from gripctl.model.types import (
    Approval,
    DriftIgnoreRule,
    DriftTarget,
    Environment,
    HttpCheck,
    OnUnreachable,
    Platform,
    PrometheusCheck,
    PrometheusSettings,
    Release,
    Remediation,
    SecretsSource,
)
from gripctl.model.yamlfile import YamlDocument, load_config

SUPPORTED_API_VERSIONS = ("gripctl/v1",)
DEFAULT_ENVIRONMENT = "default"  # the neutral environment used when none is named and several exist
SECRETS_FILE = "values.sops.yaml"

# The keys each section accepts; anything else is a typo until proven otherwise.
TOP_KEYS = (
    "apiVersion",
    "charts",
    "secrets",
    "ledger",
    "defaults",
    "releases",
    "environments",
    "policies",
    "notifications",
    "incidents",
    "secrets_rotation",  # validated by gripctl.secrets.rotation (docs/secrets.md)
    "drift",
    "approvals",
    "server",
)
APPROVALS_KEYS = ("allowed_signers",)
SERVER_KEYS = ("url",)
LEDGER_KEYS = ("url",)
DEFAULT_KEYS = ("timeout", "remediation", "create_namespace")
RELEASE_KEYS = (
    "needs",
    "namespace",
    "name",
    "labels",
    "timeout",
    "remediation",
    "health",
    "values",
    "chart",
    "set",
    "create_namespace",
    "drift",
)
HEALTH_KEYS = ("http", "prometheus")
ENVIRONMENT_HEALTH_KEYS = ("prometheus",)
HTTP_CHECK_KEYS = ("url", "expect", "timeout")
PROMETHEUS_CHECK_KEYS = ("query", "max", "min", "for", "name")
PROMETHEUS_KEYS = ("url", "on_unreachable", "timeout")
DRIFT_KEYS = ("ignore",)
DRIFT_RULE_KEYS = ("paths", "managers", "target", "reason")
DRIFT_TARGET_KEYS = ("kind", "name", "namespace", "labels")
# What a health query may refer to; substituted per release at load time.
QUERY_PLACEHOLDERS = ("namespace", "release", "id")
ENVIRONMENT_KEYS = (
    "context",
    "kubeconfig",
    "deploy",
    "promote_from",
    "approval",
    "approvers",
    "values",
    "monitor",
    "concurrency",
    "prometheus",
    "health",
    "approval_expiry",
    "four_eyes",
)

# A release folder: NNN-name, where name is a DNS label (it becomes the Helm name and namespace).
_NUMBERED = re.compile(r"^(\d+)-(.+)$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def environment_names(root: Path) -> list[str]:
    """The environments gripctl.yaml declares, in file order (empty when it declares none)."""
    loader = _Loader(root.resolve())
    return list(loader.environments_section())


def load_platform(root: Path, environment: str | None = None) -> Platform:
    """Load the platform at `root` for one environment.

    `environment=None` picks the only declared environment when there is exactly one; otherwise it
    means the neutral "default" environment: no context (the current kubeconfig context), no values
    files, no approval. Naming an environment that is not declared is a UsageError listing the known ones.
    """
    return _Loader(root.resolve()).platform(environment)


@dataclass
class _Source:
    """Where a release comes from, for messages that must name both sides of a clash."""

    chart_path: Path
    display: str  # "ops/helm/010-cert-manager" or "gripctl.yaml:40:3 (releases.900-extra.chart)"
    secrets_for: str | None = None
    secrets_file: Path | None = None


@dataclass
class _Loader:
    root: Path
    doc: YamlDocument = field(init=False)

    def __post_init__(self) -> None:
        path = self.root / CONFIG_FILE
        if not path.exists() and not path.is_symlink():
            raise ConfigError(
                f"no {CONFIG_FILE} in {self.root}",
                hint="run gripctl inside the platform repository, or pass --root PATH",
            )
        self.doc = load_config(path, CONFIG_FILE)
        data = self.doc.data
        if data is None:
            data = self.doc.data = {}
        if not isinstance(data, dict):
            self.fail(f"{CONFIG_FILE} must be a mapping of keys, not a {_kind(data)}", "")
        if "apiVersion" not in data:
            self.fail(
                "apiVersion is missing",
                "",
                hint=f"start the file with: apiVersion: {SUPPORTED_API_VERSIONS[-1]}",
            )
        if data["apiVersion"] not in SUPPORTED_API_VERSIONS:
            self.fail(
                f"unsupported apiVersion {data['apiVersion']!r}",
                "apiVersion",
                hint="supported: " + ", ".join(SUPPORTED_API_VERSIONS),
            )
        self.check_keys(data, TOP_KEYS, "")

    # -- error helpers -------------------------------------------------------------------------------

    def fail(self, message: str, key_path: str, *, hint: str | None = None) -> NoReturn:
        raise ConfigError(message, location=self.doc.location(key_path), hint=hint)

    def check_keys(self, mapping: dict[str, Any], allowed: tuple[str, ...], key_path: str) -> None:
        for key in mapping:
            if key not in allowed:
                child = f"{key_path}.{key}" if key_path else key
                self.fail(
                    f"unknown key {key!r}",
                    child,
                    hint=did_you_mean(key, allowed) or "allowed keys: " + ", ".join(allowed),
                )

    def mapping(self, value: Any, key_path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(f"expected a mapping (key: value), got a {_kind(value)}", key_path)
        return value

    def string(self, value: Any, key_path: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            self.fail(f"expected a non-empty string, got {_kind(value)}", key_path)
        return str(value)

    def strings(self, value: Any, key_path: str) -> list[str]:
        """A list of strings; a single string is accepted as a list of one."""
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list):
            self.fail(f"expected a list of strings, got a {_kind(value)}", key_path)
        return [self.string(item, f"{key_path}[{index}]") for index, item in enumerate(value)]

    def scalar_map(self, value: Any, key_path: str) -> dict[str, str]:
        """A mapping of strings (labels, --set values); booleans are written the way Helm reads them."""
        result: dict[str, str] = {}
        for key, item in self.mapping(value, key_path).items():
            if isinstance(item, bool):
                result[key] = "true" if item else "false"
            elif isinstance(item, str | int | float):
                result[key] = str(item)
            else:
                self.fail(f"expected a plain value, got a {_kind(item)}", f"{key_path}.{key}")
        return result

    def duration(self, value: Any, key_path: str) -> float:
        """Seconds from 300, "300s", "5m", "1h30m" or "1.5s"."""
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        if isinstance(value, str):
            match = _DURATION.match(value.strip())
            if match and value.strip() and any(match.groups()):
                hours, minutes, seconds = (float(group or 0) for group in match.groups())
                return hours * 3600 + minutes * 60 + seconds
        self.fail(
            f"invalid duration {value!r}",
            key_path,
            hint='write seconds (300) or a duration such as "300s", "5m" or "1h30m"',
        )

    def integer(self, value: Any, key_path: str, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(f"expected a whole number of at least {minimum}, got {value!r}", key_path)
        return value

    def boolean(self, value: Any, key_path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(f"expected true or false, got {value!r}", key_path)
        return value

    def choice(self, value: Any, choices: tuple[str, ...], key_path: str) -> str:
        if value not in choices:
            self.fail(
                f"invalid value {value!r}",
                key_path,
                hint=(did_you_mean(str(value), choices) or "") + " choose one of: " + ", ".join(choices),
            )
        return str(value)

    def file_ref(self, value: str, key_path: str, *, what: str) -> Path:
        """A path relative to the root that must be an existing regular file."""
        path = self.root / value
        try:
            mode = path.stat().st_mode
        except OSError:
            self.fail(f"{what} {value!r} does not exist", key_path, hint=f"create {value} or fix the path")
        if not stat.S_ISREG(mode):
            self.fail(f"{what} {value!r} is not a regular file", key_path)
        return path

    # -- sections ------------------------------------------------------------------------------------

    @property
    def declared(self) -> dict[str, Any]:
        """The environments gripctl.yaml declares (a declared one may be named `default` too)."""
        return self.environments_section()

    def environments_section(self) -> dict[str, Any]:
        envs = self.mapping(self.doc.data.get("environments"), "environments")
        for name in envs:
            if not _DNS_LABEL.match(name):
                self.fail(
                    f"environment name {name!r} must be lowercase letters, digits and dashes",
                    f"environments.{name}",
                )
        return envs

    def platform(self, environment: str | None) -> Platform:
        data = self.doc.data
        self.sections_are_mappings()
        envs_raw = self.environments_section()
        environments = {name: self.environment(name, spec) for name, spec in envs_raw.items()}
        self.check_promotions(environments)
        selected = self.pick_environment(environment, environments)

        defaults = self.mapping(data.get("defaults"), "defaults")
        self.check_keys(defaults, DEFAULT_KEYS, "defaults")
        overrides = self.mapping(data.get("releases"), "releases")
        sources = self.discover(overrides)

        env_names = list(environments) or [DEFAULT_ENVIRONMENT]
        built: dict[str, Release] = {}
        # Served releases first: a secrets release takes its namespace and labels from the one it serves.
        for rid in sorted(sources, key=lambda r: (sources[r].secrets_for is not None, _order(r), r)):
            source = sources[rid]
            served = built[source.secrets_for] if source.secrets_for else None
            built[rid] = self.release(
                rid, source, overrides.get(rid), defaults, selected, env_names, sources, served,
                declared=selected.name in environments,
            )  # fmt: skip
        releases = [built[rid] for rid in sorted(built, key=lambda r: (_order(r), r))]
        self.check_unique_helm_names(releases, sources)
        # Put the numeric-prefix chain into the releases themselves, so that every consumer that reads
        # `release.needs` (plan, engine) sees the same order as the graph.
        chained = strict_order_needs(releases)
        by_id = {r.id: _replace_needs(r, chained[r.id]) for r in releases}
        platform = Platform(
            root=self.root,
            config_path=self.root / CONFIG_FILE,
            environment=selected,
            environments=environments,
            releases=by_id,
            raw=data,
            locations=dict(self.doc.locations),
            drift_ignore=self.drift_rules(data.get("drift"), "drift", release=None),
            allowed_signers=self.allowed_signers(),
            server_url=self.server_url(),
        )
        Graph.from_platform(platform)  # a needs naming no release, or a cycle, fails the load
        return platform

    def sections_are_mappings(self) -> None:
        data = self.doc.data
        for key in ("ledger", "policies", "notifications", "incidents", "drift"):
            self.mapping(data.get(key), key)
        self.check_keys(self.mapping(data.get("ledger"), "ledger"), LEDGER_KEYS, "ledger")

    def allowed_signers(self) -> Path | None:
        section = self.mapping(self.doc.data.get("approvals"), "approvals")
        self.check_keys(section, APPROVALS_KEYS, "approvals")
        value = section.get("allowed_signers")
        if value is None:
            return None
        key_path = "approvals.allowed_signers"
        return self.file_ref(self.string(value, key_path), key_path, what="allowed signers file")

    def server_url(self) -> str | None:
        section = self.mapping(self.doc.data.get("server"), "server")
        self.check_keys(section, SERVER_KEYS, "server")
        value = section.get("url")
        if value is None:
            return None
        url = self.string(value, "server.url").rstrip("/")
        if not url.startswith(("http://", "https://")):
            self.fail(
                f"server.url {url!r} is not an http(s) URL",
                "server.url",
                hint="e.g. https://gripctl.example.com",
            )
        return url

    def pick_environment(self, name: str | None, environments: dict[str, Environment]) -> Environment:
        if name is None:
            if len(environments) == 1:
                return next(iter(environments.values()))
            return Environment(name=DEFAULT_ENVIRONMENT, context=None)
        if name in environments:
            return environments[name]
        if name == DEFAULT_ENVIRONMENT and not environments:
            return Environment(name=DEFAULT_ENVIRONMENT, context=None)
        known = ", ".join(environments) or f"(none declared: leave -e out to use {DEFAULT_ENVIRONMENT!r})"
        hint = did_you_mean(name, environments)
        raise UsageError(
            f"no environment named {name!r} in {CONFIG_FILE}",
            hint=f"{hint + ' ' if hint else ''}known environments: {known}",
        )

    def environment(self, name: str, spec: Any) -> Environment:
        path = f"environments.{name}"
        spec = self.mapping(spec, path)
        self.check_keys(spec, ENVIRONMENT_KEYS, path)
        kubeconfig, context = spec.get("kubeconfig"), spec.get("context")
        values = [
            self.file_ref(value, f"{path}.values[{index}]", what="values file")
            for index, value in enumerate(self.strings(spec.get("values"), f"{path}.values"))
        ]
        return Environment(
            name=name,
            context=self.string(context, f"{path}.context") if context is not None else None,
            kubeconfig=(self.root / self.string(kubeconfig, f"{path}.kubeconfig")) if kubeconfig else None,
            deploy=self.choice(spec.get("deploy", "manual"), ("auto", "manual"), f"{path}.deploy"),
            promote_from=self.promote_from(name, spec.get("promote_from"), f"{path}.promote_from"),
            approval=Approval(self.choice(spec.get("approval", "none"), tuple(Approval), f"{path}.approval")),
            approvers=tuple(self.strings(spec.get("approvers"), f"{path}.approvers")),
            values_files=tuple(values),
            monitor_seconds=self.duration(spec.get("monitor", 0), f"{path}.monitor"),
            concurrency=self.integer(spec.get("concurrency", 4), f"{path}.concurrency", minimum=1),
            prometheus=self.prometheus_settings(spec["prometheus"], f"{path}.prometheus")
            if "prometheus" in spec
            else None,
            prometheus_checks=self.environment_health(spec.get("health"), f"{path}.health"),
            approval_expiry_seconds=self.duration(
                spec.get("approval_expiry", "24h"), f"{path}.approval_expiry"
            ),
            four_eyes=self.boolean(spec.get("four_eyes", True), f"{path}.four_eyes"),
        )

    def promote_from(self, name: str, value: Any, key_path: str) -> str | None:
        if value is None:
            return None
        source = self.string(value, key_path)
        known = list(self.environments_section())
        if source == name:
            self.fail(
                f"environment {name!r} cannot promote from itself",
                key_path,
                hint="name the environment whose deploys must succeed first, e.g. promote_from: staging",
            )
        if source not in known:
            self.fail(
                f"promote_from names {source!r}, which is not an environment of this platform",
                key_path,
                hint=did_you_mean(source, known) or "known environments: " + ", ".join(known),
            )
        return source

    def check_promotions(self, environments: dict[str, Environment]) -> None:
        """A cycle of promote_from (a <- b <- a) could never deploy anything: refuse it here."""
        for start in environments:
            seen = [start]
            current = environments[start].promote_from
            while current is not None:
                if current in seen:
                    loop = " <- ".join([*seen[seen.index(current) :], current])
                    self.fail(
                        f"promote_from forms a cycle: {loop}",
                        f"environments.{start}.promote_from",
                        hint="promotion runs one way (staging -> production): remove one of these keys",
                    )
                seen.append(current)
                current = environments[current].promote_from

    # -- releases ------------------------------------------------------------------------------------

    def tree(self, key: str, default: str) -> tuple[Path, str] | None:
        """The charts or secrets folder; a configured one must exist, the default one may be absent."""
        configured = self.doc.data.get(key)
        relative = self.string(configured, key) if configured is not None else default
        folder = self.root / relative
        if not folder.is_dir():
            if configured is not None:
                self.fail(f"{key} folder {relative!r} does not exist", key)
            return None
        return folder, relative.rstrip("/")

    def discover(self, overrides: dict[str, Any]) -> dict[str, _Source]:
        sources: dict[str, _Source] = {}
        charts = self.tree("charts", "ops/helm")
        if charts is not None:
            folder, relative = charts
            for entry in sorted(folder.iterdir()):
                if not entry.is_dir() or not _NUMBERED.match(entry.name):
                    continue  # library charts, READMEs and the like are not releases
                display = f"{relative}/{entry.name}"
                self.check_release_id(entry.name, display)
                if not (entry / "Chart.yaml").is_file():
                    raise ConfigError(
                        f"release folder {display} has no Chart.yaml",
                        location=Location(display),
                        hint=f"add {display}/Chart.yaml (or rename the folder: NNN- marks a release)",
                    )
                sources[entry.name] = _Source(chart_path=entry, display=display)

        secrets = self.tree("secrets", "ops/secrets")
        if secrets is not None:
            folder, relative = secrets
            for entry in sorted(folder.iterdir()):
                if not entry.is_dir() or not _NUMBERED.match(entry.name):
                    continue
                display = f"{relative}/{entry.name}"
                self.check_release_id(entry.name, display)
                if not entry.name.endswith("-secrets"):
                    raise ConfigError(
                        f"secrets folder {display} must be named NNN-name-secrets "
                        "after the release it serves",
                        location=Location(display),
                    )
                serves = entry.name.removesuffix("-secrets")
                added = serves in overrides and "chart" in (overrides[serves] or {})
                if serves not in sources and not added:
                    raise ConfigError(
                        f"secrets folder {display} serves release {serves!r}, which does not exist",
                        location=Location(display),
                        hint=did_you_mean(serves, sources) or "rename it after an existing release",
                    )
                sops = entry / SECRETS_FILE
                if not sops.is_file():
                    raise ConfigError(
                        f"secrets folder {display} has no {SECRETS_FILE}",
                        location=Location(display),
                        hint=f"encrypt its values with: sops --encrypt --in-place {display}/{SECRETS_FILE}",
                    )
                if not (entry / "Chart.yaml").is_file():
                    raise ConfigError(
                        f"secrets folder {display} has no Chart.yaml (it is deployed as a chart)",
                        location=Location(display),
                        hint=f"add {display}/Chart.yaml and the templates that turn its values into Secrets",
                    )
                if entry.name in sources:
                    raise ConfigError(
                        f"two releases have the id {entry.name!r}: "
                        f"{sources[entry.name].display} and {display}",
                        location=Location(display),
                        hint="rename one of the folders",
                    )
                sources[entry.name] = _Source(
                    chart_path=entry, display=display, secrets_for=serves, secrets_file=sops
                )

        for rid, spec in overrides.items():
            path = f"releases.{rid}"
            spec = self.mapping(spec, path)
            chart = spec.get("chart")
            if chart is not None:
                chart_text = self.string(chart, f"{path}.chart")
                chart_path = self.root / chart_text
                if not (chart_path / "Chart.yaml").is_file():
                    self.fail(
                        f"chart {chart_text!r} of release {rid!r} has no Chart.yaml",
                        f"{path}.chart",
                        hint="point chart: at a folder with a Chart.yaml (relative to the repository root)",
                    )
                if rid in sources:
                    sources[rid].chart_path = chart_path  # an override of a folder's chart
                else:
                    self.check_release_id(rid, str(self.doc.location(path)))
                    display = str(self.doc.location(f"{path}.chart"))
                    sources[rid] = _Source(chart_path=chart_path, display=display)
            elif rid not in sources:
                where = charts[1] if charts else "ops/helm"
                self.fail(
                    f"release {rid!r} has no folder {where}/{rid} and no chart:",
                    path,
                    hint=did_you_mean(rid, sources) or f"add chart: PATH, or create {where}/{rid}/Chart.yaml",
                )
        return sources

    def check_release_id(self, rid: str, where: str) -> None:
        match = _NUMBERED.match(rid)
        if not match or not _DNS_LABEL.match(match.group(2)) or len(match.group(2)) > 53:
            raise ConfigError(
                f"release id {rid!r} must be NNN-name, with name in lowercase letters, digits and dashes",
                location=Location(where),
                hint="for example 010-cert-manager",
            )

    def release(
        self,
        rid: str,
        source: _Source,
        spec: Any,
        defaults: dict[str, Any],
        environment: Environment,
        env_names: list[str],
        sources: dict[str, _Source],
        served: Release | None,
        *,
        declared: bool,
    ) -> Release:
        path = f"releases.{rid}"
        spec = self.mapping(spec, path)
        self.check_keys(spec, RELEASE_KEYS, path)
        suffix = _NUMBERED.match(rid).group(2)  # type: ignore[union-attr]  # checked in discover()

        if served is not None:
            # A secrets release lands next to the release it serves, and carries its labels so that
            # selectors pick both or neither.
            default_namespace, labels = served.namespace, dict(served.labels)
        else:
            default_namespace, labels = suffix, {}
        labels.update(self.scalar_map(spec.get("labels"), f"{path}.labels"))

        name = self.string(spec["name"], f"{path}.name") if "name" in spec else suffix
        namespace = default_namespace
        if "namespace" in spec:
            namespace = self.string(spec["namespace"], f"{path}.namespace")
        for value, key, limit in ((name, "name", 53), (namespace, "namespace", 63)):
            if not _DNS_LABEL.match(value) or len(value) > limit:
                self.fail(
                    f"{key} {value!r} is not a valid Kubernetes name "
                    f"(lowercase letters, digits and dashes, at most {limit} characters)",
                    f"{path}.{key}",
                )

        needs = self.strings(spec.get("needs"), f"{path}.needs")
        for index, need in enumerate(needs):
            if need not in sources:
                self.fail(
                    f"release {rid!r} needs {need!r}, but there is no release {need!r}",
                    f"{path}.needs[{index}]",
                    hint=did_you_mean(need, sources) or "known releases: " + ", ".join(sorted(sources)),
                )
        own_secrets = f"{rid}-secrets"
        if own_secrets in sources and sources[own_secrets].secrets_for == rid and own_secrets not in needs:
            needs.append(own_secrets)

        timeout = self.duration(*_setting("timeout", spec, path, defaults, 300))
        remediation_value, remediation_path = _setting("remediation", spec, path, defaults, "rollback")
        remediation = self.choice(remediation_value, tuple(Remediation), remediation_path)
        create_namespace = self.boolean(*_setting("create_namespace", spec, path, defaults, True))
        checks = self.release_prometheus_checks(
            spec.get("health"), f"{path}.health", environment, declared=declared
        )
        placeholders = {"namespace": namespace, "release": name, "id": rid}

        return Release(
            id=rid,
            name=name,
            namespace=namespace,
            chart_path=source.chart_path,
            order=_order(rid),
            needs=tuple(dict.fromkeys(needs)),
            labels=labels,
            values_files=self.values_files(rid, spec, environment, env_names),
            secrets=(SecretsSource(source.secrets_file),) if source.secrets_file else (),
            set_values=self.scalar_map(spec.get("set"), f"{path}.set"),
            secrets_for=source.secrets_for,
            timeout_seconds=max(1, round(timeout)),
            remediation=Remediation(remediation),
            http_checks=self.http_checks(spec.get("health"), f"{path}.health"),
            create_namespace=create_namespace,
            prometheus_checks=tuple(_substitute(check, placeholders) for check in checks),
            drift_ignore=self.drift_rules(spec.get("drift"), f"{path}.drift", release=rid),
        )

    def values_files(
        self, rid: str, spec: dict[str, Any], environment: Environment, env_names: list[str]
    ) -> tuple[Path, ...]:
        """Environment values, then the release's `values.<env>`, then envs/<env>/<id>.yaml if present.

        Every environment's references are checked, not only the selected one's, so a missing
        production file is found while working on staging.
        """
        path = f"releases.{rid}.values"
        per_env = self.mapping(spec.get("values"), path)
        chosen: list[Path] = []
        for env, files in per_env.items():
            if env not in env_names:
                self.fail(
                    f"values for unknown environment {env!r}",
                    f"{path}.{env}",
                    hint=did_you_mean(env, env_names) or "known environments: " + ", ".join(env_names),
                )
            for index, value in enumerate(self.strings(files, f"{path}.{env}")):
                resolved = self.file_ref(value, f"{path}.{env}[{index}]", what="values file")
                if env == environment.name:
                    chosen.append(resolved)
        neutral = environment.name == DEFAULT_ENVIRONMENT and DEFAULT_ENVIRONMENT not in self.declared
        if neutral and environment.name not in per_env:
            return ()  # the neutral environment (none declared by that name) has no values of its own
        implicit = self.root / "envs" / environment.name / f"{rid}.yaml"
        if implicit.exists():
            if not implicit.is_file():
                raise ConfigError(
                    f"envs/{environment.name}/{rid}.yaml is not a regular file",
                    location=Location(f"envs/{environment.name}/{rid}.yaml"),
                )
            if implicit not in chosen:
                chosen.append(implicit)
        return (*environment.values_files, *chosen)

    def http_checks(self, value: Any, path: str) -> tuple[HttpCheck, ...]:
        health = self.mapping(value, path)
        self.check_keys(health, HEALTH_KEYS, path)
        raw = health.get("http")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.fail(f"expected a list of checks, got a {_kind(raw)}", f"{path}.http")
        checks = []
        for index, item in enumerate(raw):
            item_path = f"{path}.http[{index}]"
            item = self.mapping(item, item_path)
            self.check_keys(item, HTTP_CHECK_KEYS, item_path)
            if "url" not in item:
                self.fail("an http health check needs a url", item_path)
            url = self.string(item["url"], f"{item_path}.url")
            if not url.startswith(("http://", "https://")):
                self.fail(f"health check url {url!r} must start with http:// or https://", f"{item_path}.url")
            checks.append(
                HttpCheck(
                    url=url,
                    expect_status=self.integer(item.get("expect", 200), f"{item_path}.expect", minimum=100),
                    timeout_seconds=self.duration(item.get("timeout", 5), f"{item_path}.timeout"),
                )
            )
        return tuple(checks)

    # -- health queries and drift rules --------------------------------------------------------------

    def number(self, value: Any, key_path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"expected a number, got {_kind(value)} {value!r}", key_path)
        return float(value)

    def prometheus_settings(self, value: Any, path: str) -> PrometheusSettings:
        spec = self.mapping(value, path)
        self.check_keys(spec, PROMETHEUS_KEYS, path)
        if "url" not in spec:
            self.fail(
                "prometheus needs a url", path, hint="for example url: http://prometheus.monitoring:9090"
            )
        url = self.string(spec["url"], f"{path}.url")
        if not url.startswith(("http://", "https://")):
            self.fail(f"prometheus url {url!r} must start with http:// or https://", f"{path}.url")
        choices = tuple(OnUnreachable)
        on_unreachable = self.choice(spec.get("on_unreachable", "fail"), choices, f"{path}.on_unreachable")
        return PrometheusSettings(
            url=url.rstrip("/"),
            on_unreachable=OnUnreachable(on_unreachable),
            timeout_seconds=self.duration(spec.get("timeout", 5), f"{path}.timeout"),
        )

    def environment_health(self, value: Any, path: str) -> tuple[PrometheusCheck, ...]:
        health = self.mapping(value, path)
        self.check_keys(health, ENVIRONMENT_HEALTH_KEYS, path)
        return self.prometheus_checks(health.get("prometheus"), f"{path}.prometheus")

    def release_prometheus_checks(
        self, value: Any, path: str, environment: Environment, *, declared: bool
    ) -> tuple[PrometheusCheck, ...]:
        """The release's own `health.prometheus`, else the environment's default; checked against the
        environment having a Prometheus to ask (the neutral default environment is never asked)."""
        health = self.mapping(value, path)
        if "prometheus" in health:
            checks = self.prometheus_checks(health["prometheus"], f"{path}.prometheus")
            where = f"{path}.prometheus"
        else:
            checks = environment.prometheus_checks
            where = f"environments.{environment.name}.health.prometheus"
        if checks and declared and environment.prometheus is None:
            self.fail(
                f"health.prometheus queries need a Prometheus, and environment {environment.name!r} "
                "names none",
                where,
                hint=f"add environments.{environment.name}.prometheus.url, or declare the queries under "
                "the environments that have one (environments.<env>.health.prometheus)",
            )
        return checks

    def prometheus_checks(self, value: Any, path: str) -> tuple[PrometheusCheck, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(f"expected a list of queries, got a {_kind(value)}", path)
        checks = []
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            item = self.mapping(item, item_path)
            self.check_keys(item, PROMETHEUS_CHECK_KEYS, item_path)
            if "query" not in item:
                self.fail("a prometheus health check needs a query", item_path)
            query = self.string(item["query"], f"{item_path}.query").strip()
            for match in _PLACEHOLDER.finditer(query):
                if match.group(1) not in QUERY_PLACEHOLDERS:
                    self.fail(
                        f"unknown placeholder ${{{match.group(1)}}} in the query",
                        f"{item_path}.query",
                        hint=did_you_mean(match.group(1), QUERY_PLACEHOLDERS)
                        or "placeholders: " + ", ".join(f"${{{p}}}" for p in QUERY_PLACEHOLDERS),
                    )
            high = self.number(item["max"], f"{item_path}.max") if "max" in item else None
            low = self.number(item["min"], f"{item_path}.min") if "min" in item else None
            if high is None and low is None:
                self.fail(
                    "a prometheus health check needs a threshold: max, min or both",
                    item_path,
                    hint="for example max: 0.05 (breached when the query's value is above it)",
                )
            if high is not None and low is not None and high < low:
                self.fail(f"max ({high:g}) is below min ({low:g}): no value could pass", f"{item_path}.max")
            checks.append(
                PrometheusCheck(
                    query=query,
                    max=high,
                    min=low,
                    for_seconds=self.duration(item.get("for", 0), f"{item_path}.for"),
                    name=self.string(item["name"], f"{item_path}.name") if "name" in item else "",
                    location=self.doc.location(item_path),
                )
            )
        return tuple(checks)

    def drift_rules(self, value: Any, path: str, *, release: str | None) -> tuple[DriftIgnoreRule, ...]:
        drift = self.mapping(value, path)
        self.check_keys(drift, DRIFT_KEYS, path)
        raw = drift.get("ignore")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.fail(f"expected a list of ignore rules, got a {_kind(raw)}", f"{path}.ignore")
        rules = []
        for index, item in enumerate(raw):
            item_path = f"{path}.ignore[{index}]"
            item = self.mapping(item, item_path)
            self.check_keys(item, DRIFT_RULE_KEYS, item_path)
            paths = self.strings_allow_empty(item.get("paths"), f"{item_path}.paths")
            for number, text in enumerate(paths):
                try:
                    parse_pointer(text)
                except PointerError as exc:
                    self.fail(
                        str(exc),
                        f"{item_path}.paths[{number}]",
                        hint="write a JSON pointer such as /spec/replicas or /metadata/labels/app; "
                        "* matches any one key or list index",
                    )
            managers = self.strings(item.get("managers"), f"{item_path}.managers")
            if not paths and not managers:
                self.fail(
                    "an ignore rule needs paths (JSON pointers), managers (field managers), or both",
                    item_path,
                    hint="for example paths: [/spec/replicas], or managers: [kube-controller-manager]; "
                    'paths: [""] ignores whole objects',
                )
            rules.append(
                DriftIgnoreRule(
                    paths=tuple(paths),
                    managers=tuple(managers),
                    target=self.drift_target(item.get("target"), f"{item_path}.target"),
                    reason=self.string(item["reason"], f"{item_path}.reason") if "reason" in item else "",
                    release=release,
                    location=self.doc.location(item_path),
                )
            )
        return tuple(rules)

    def strings_allow_empty(self, value: Any, key_path: str) -> list[str]:
        """A list of strings where "" is meaningful (the empty JSON pointer)."""
        if value is None:
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            self.fail(f"expected a list of strings, got a {_kind(value)}", key_path)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                self.fail(f"expected a string, got {_kind(item)} {item!r}", f"{key_path}[{index}]")
        return list(items)

    def drift_target(self, value: Any, path: str) -> DriftTarget:
        spec = self.mapping(value, path)
        self.check_keys(spec, DRIFT_TARGET_KEYS, path)

        def text(key: str) -> str | None:
            return self.string(spec[key], f"{path}.{key}") if key in spec else None

        return DriftTarget(
            kind=text("kind"),
            name=text("name"),
            namespace=text("namespace"),
            labels=self.scalar_map(spec.get("labels"), f"{path}.labels"),
        )

    def check_unique_helm_names(self, releases: list[Release], sources: dict[str, _Source]) -> None:
        seen: dict[tuple[str, str], Release] = {}
        for release in releases:
            key = (release.namespace, release.name)
            if key in seen:
                first = seen[key]
                where = (
                    f"releases.{release.id}.name"
                    if f"releases.{release.id}.name" in self.doc.locations
                    else f"releases.{release.id}"
                )
                location = self.doc.locations.get(where) or Location(sources[release.id].display)
                raise ConfigError(
                    f"releases {first.id!r} ({sources[first.id].display}) and {release.id!r} "
                    f"({sources[release.id].display}) are both Helm release {release.name!r} "
                    f"in namespace {release.namespace!r}",
                    location=location,
                    hint=f"give one of them its own name: or namespace: under releases: in {CONFIG_FILE}",
                )
            seen[key] = release


def _setting(
    key: str, spec: dict[str, Any], path: str, defaults: dict[str, Any], fallback: Any
) -> tuple[Any, str]:
    """A release setting and where it came from: the release, else `defaults:`, else the built-in."""
    if key in spec:
        return spec[key], f"{path}.{key}"
    return defaults.get(key, fallback), f"defaults.{key}"


def _substitute(check: PrometheusCheck, values: dict[str, str]) -> PrometheusCheck:
    """The check with `${namespace}`, `${release}` and `${id}` replaced in its query and name (the query's
    placeholders were checked at parse time)."""
    query = _PLACEHOLDER.sub(lambda m: values[m.group(1)], check.query)
    # A name is a label: an unknown ${...} in it is left as written rather than refused.
    name = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), check.name)
    return replace(check, query=query, name=name)


def _order(rid: str) -> int:
    match = _NUMBERED.match(rid)
    return int(match.group(1)) if match else 0


def _suffix(rid: str) -> str:
    match = _NUMBERED.match(rid)
    return match.group(2) if match else rid


def _replace_needs(release: Release, needs: tuple[str, ...]) -> Release:
    return release if needs == release.needs else replace(release, needs=needs)


def _kind(value: Any) -> str:
    if value is None:
        return "empty value"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__
