"""A corpus of broken platform repositories, generated from one good one.

Each `Case` breaks a copy of the base platform in one way a person does (YAML syntax, tabs,
duplicate keys, wrong types, unknown keys, cycles, missing charts and values files, broken
Chart.yaml, wrong age key, corrupt SOPS file, bad durations, unknown environment, ...) and says what
kind of breakage it is — which fixes the exit code each command documents for it — and which file
(and line, where there is one) the message must name.

Exit codes (docs/cli.md, docs/validate.md, docs/plan.md):

| kind    | validate | plan | deploy | what                                                        |
|---------|----------|------|--------|-------------------------------------------------------------|
| config  | 2        | 1    | 2      | gripctl.yaml does not load (ConfigError)                     |
| file    | 1        | 1    | 2      | another file gripctl reads (values file, Chart.yaml) is bad: |
|         |          |      |        | a finding for validate, a ConfigError for plan and deploy    |
| finding | 1        | 1    | 1      | helm cannot render the chart, or the secrets do not decrypt  |
| schema  | 1        | 2    | 1      | renders, but an object fails the pre-deployment checks: the  |
|         |          |      |        | plan shows the change, validate and deploy refuse it         |
| usage   | 64       | 64   | 64     | the command line names what does not exist                   |

A message names the file where the breakage is; `needle` (or `at`) gives the line it must name too.
An exit 0 or 2 of `plan` is its answer, not an error: nothing to name.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXIT = {
    "config": {"validate": 2, "plan": 1, "deploy": 2},
    "file": {"validate": 1, "plan": 1, "deploy": 2},
    "finding": {"validate": 1, "plan": 1, "deploy": 1},
    "schema": {"validate": 1, "plan": 2, "deploy": 1},
    "usage": {"validate": 64, "plan": 64, "deploy": 64},
}


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # config | finding | usage
    where: str  # the file the message must name, relative to the platform root
    breaks: Callable[[Path], None]
    needle: str | None = None  # the message must name the line holding this text (in `where`)
    env: dict[str, str] = field(default_factory=dict)  # e.g. the wrong age key
    environment: str | None = None  # -e: default the base's environment
    nth: int = 1  # the needle's nth occurrence
    at: int | None = None  # the line, when `where` is not a file of the repository (helm's chart paths)
    also: tuple[str, ...] = ()  # more words the message must hold

    def line(self, root: Path) -> int | None:
        if self.needle is None:
            return self.at
        lines = (root / self.where).read_text().splitlines()
        return [i for i, text in enumerate(lines, 1) if self.needle in text][self.nth - 1]


# -- editing helpers -----------------------------------------------------------------------------------


def replace(rel: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text, f"{rel} has no {old!r}"
        path.write_text(text.replace(old, new, count))

    return edit


def write(rel: str, text: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)

    return edit


def remove(rel: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return edit


def config(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """Edit gripctl.yaml as data (written back block-style, one key per line)."""

    def edit(root: Path) -> None:
        path = root / "gripctl.yaml"
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    return edit


def both(*edits: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        for e in edits:
            e(root)

    return edit


def corrupt_sops(rel: str) -> Callable[[Path], None]:
    """Flip one character inside the first ENC[...] value: the MAC no longer matches."""

    def edit(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        m = re.search(r"ENC\[AES256_GCM,data:([A-Za-z0-9+/]{4})", text)
        assert m, f"{rel} has no encrypted value"
        a = m.start(1)
        flipped = "A" if text[a] != "A" else "B"
        path.write_text(text[:a] + flipped + text[a + 1 :])

    return edit


def truncate(rel: str, keep: float = 0.5) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / rel
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return edit


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node = data
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return change


def _env(data: dict[str, Any]) -> dict[str, Any]:
    envs: dict[str, Any] = data["environments"]
    return envs[next(iter(envs))]  # type: ignore[no-any-return]


# -- the corpus ----------------------------------------------------------------------------------------

G = "gripctl.yaml"
A_CHART = "ops/helm/010-a/Chart.yaml"
A_VALUES = "ops/helm/010-a/values.yaml"
A_TEMPLATE = "ops/helm/010-a/templates/app.yaml"
SOPS = "ops/secrets/010-a-secrets/values.sops.yaml"
COMMON = "envs/common.yaml"


def cases(env: str) -> list[Case]:
    """The corpus, for a base platform whose (first) environment is `env`."""
    rel_env_values = f"envs/{env}/020-b.yaml"
    out = [
        # gripctl.yaml: YAML syntax
        Case("yaml-unclosed-flow-mapping", "config", G, replace(G, "releases:\n", "releases: {\n"), None),
        Case(
            "yaml-bad-indentation",
            "config",
            G,
            replace(G, "  timeout: 60s", "    timeout: 60s\n  oops"),
            None,
        ),
        Case("yaml-tab-indentation", "config", G, replace(G, "  timeout: 60s", "\ttimeout: 60s"), None),
        Case("yaml-unterminated-quote", "config", G, replace(G, "timeout: 60s", 'timeout: "60s'), None),
        Case("yaml-mapping-in-scalar", "config", G, replace(G, "timeout: 60s", "timeout: 60s: 30s"), None),
        Case(
            "yaml-stray-bracket",
            "config",
            G,
            replace(G, "  remediation: rollback", "  remediation: rollback]"),
            None,
        ),
        Case("yaml-not-a-mapping", "config", G, write(G, "- apiVersion: gripctl/v1\n- releases: {}\n"), None),
        Case("yaml-empty-file", "config", G, write(G, ""), None),
        Case("yaml-binary-garbage", "config", G, write(G, "apiVersion: gripctl/v1\n\x00\x01\x02: [\n"), None),
        # gripctl.yaml: duplicate keys
        Case(
            "duplicate-top-level-key",
            "config",
            G,
            replace(G, "releases:\n", "defaults: {}  # again\nreleases:\n"),
            "# again",
        ),
        Case("duplicate-release", "config", G, replace(G, "releases:\n", "releases:\n  020-b: {}\n"), None),
        Case(
            "duplicate-defaults-key",
            "config",
            G,
            replace(G, "  timeout: 60s", "  timeout: 60s\n  timeout: 30s"),
            "timeout: 30s",
        ),
        Case(
            "duplicate-environment-key",
            "config",
            G,
            replace(G, "    monitor: 0s", "    monitor: 0s\n    monitor: 5s", 1),
            "monitor: 5s",
        ),
        # gripctl.yaml: unknown keys
        Case(
            "unknown-top-level-key",
            "config",
            G,
            replace(G, "defaults:\n", "defaultz: {}\ndefaults:\n"),
            "defaultz",
        ),
        Case("unknown-release-key", "config", G, replace(G, "    needs: []", "    neds: []", 1), "neds"),
        Case(
            "unknown-environment-key",
            "config",
            G,
            replace(G, "    monitor: 0s", "    monitr: 0s", 1),
            "monitr",
        ),
        Case(
            "unknown-defaults-key",
            "config",
            G,
            replace(G, "  timeout: 60s", "  timeout: 60s\n  retries: 3"),
            "retries",
        ),
        Case("unknown-health-key", "config", G, config(_set("releases.010-a.health", {"htp": []})), "htp"),
        # gripctl.yaml: wrong types and values
        Case("type-timeout-list", "config", G, replace(G, "timeout: 60s", "timeout: [60]"), "timeout:"),
        Case(
            "type-concurrency-string",
            "config",
            G,
            replace(G, "concurrency: 4", "concurrency: many", 1),
            "concurrency:",
        ),
        Case(
            "type-concurrency-zero",
            "config",
            G,
            replace(G, "concurrency: 4", "concurrency: 0", 1),
            "concurrency:",
        ),
        Case(
            "type-needs-mapping",
            "config",
            G,
            replace(G, "    needs:\n    - 010-a", "    needs: {010-a: true}"),
            "needs: {",
        ),
        Case(
            "type-namespace-list",
            "config",
            G,
            replace(G, "    namespace: ", "    namespace: [a, b]\n    name: ", 1),
            "namespace: [a, b]",
        ),
        Case("type-releases-list", "config", G, config(_set("releases", ["010-a"])), "releases:"),
        Case(
            "type-environments-string", "config", G, config(_set("environments", "staging")), "environments:"
        ),
        Case("type-labels-list", "config", G, config(_set("releases.010-a.labels", ["tier"])), "labels:"),
        Case(
            "bad-api-version",
            "config",
            G,
            replace(G, "apiVersion: gripctl/v1", "apiVersion: gripctl/v9"),
            "apiVersion",
        ),
        Case("missing-api-version", "config", G, replace(G, "apiVersion: gripctl/v1\n", ""), None),
        Case(
            "bad-remediation",
            "config",
            G,
            replace(G, "remediation: rollback", "remediation: pray"),
            "remediation:",
        ),
        Case(
            "bad-approval",
            "config",
            G,
            config(lambda d: _env(d).__setitem__("approval", "sometimes")),
            "approval:",
        ),
        Case(
            "bad-deploy-mode",
            "config",
            G,
            config(lambda d: _env(d).__setitem__("deploy", "whenever")),
            "deploy: whenever",
        ),
        Case(
            "bad-namespace-name",
            "config",
            G,
            config(_set("releases.010-a.namespace", "Not_A_Namespace")),
            "Not_A_Namespace",
        ),
        Case(
            "bad-policy-severity", "config", G, config(_set("policies.checks.image-pinned", "fatal")), "fatal"
        ),
        # durations
        Case("duration-words", "config", G, replace(G, "timeout: 60s", "timeout: 5 minutes"), "timeout:"),
        Case("duration-negative", "config", G, replace(G, "monitor: 0s", "monitor: -1s", 1), "monitor:"),
        Case("duration-unit", "config", G, replace(G, "timeout: 60s", "timeout: 10x"), "timeout:"),
        Case(
            "duration-health-timeout",
            "config",
            G,
            config(_set("releases.010-a.health", {"http": [{"url": "http://x/", "timeout": "soon"}]})),
            "soon",
        ),
        # the graph
        Case("needs-unknown-release", "config", G, replace(G, "    - 010-a", "    - 010-z"), "010-z"),
        Case("needs-cycle", "config", G, config(_set("releases.010-a.needs", ["020-b"])), None),
        Case("needs-self", "config", G, config(_set("releases.020-b.needs", ["020-b"])), "needs:", nth=2),
        Case(
            "needs-three-cycle",
            "config",
            G,
            both(
                write("ops/helm/030-c/Chart.yaml", "apiVersion: v2\nname: c\nversion: 0.1.0\n"),
                config(
                    lambda d: (
                        d["releases"].__setitem__("030-c", {"needs": ["020-b"]}),
                        d["releases"]["010-a"].__setitem__("needs", ["030-c"]),
                    )
                ),
            ),
            None,
        ),
        # charts
        Case(
            "chart-folder-missing",
            "config",
            G,
            config(_set("releases.900-x", {"chart": "vendor/x"})),
            "vendor/x",
        ),
        Case("chart-yaml-missing", "config", "ops/helm/010-a", remove(A_CHART), None),
        Case(
            "chart-yaml-syntax",
            "file",
            A_CHART,
            write(A_CHART, "apiVersion: v2\nname: a\nversion: [0.1.0\n"),
            None,
        ),
        Case("chart-yaml-no-version", "file", A_CHART, write(A_CHART, "apiVersion: v2\nname: a\n"), None),
        Case(
            "chart-yaml-bad-version",
            "file",
            A_CHART,
            write(A_CHART, "apiVersion: v2\nname: a\nversion: one\n"),
            "version: one",
        ),
        Case("chart-yaml-no-name", "file", A_CHART, write(A_CHART, "apiVersion: v2\nversion: 0.1.0\n"), None),
        Case(
            "chart-yaml-api-v3",
            "file",
            A_CHART,
            write(A_CHART, "apiVersion: v3\nname: a\nversion: 0.1.0\n"),
            "apiVersion: v3",
        ),
        Case(
            "chart-yaml-duplicate-key",
            "file",
            A_CHART,
            write(A_CHART, "apiVersion: v2\nname: a\nversion: 0.1.0\nversion: 0.2.0\n"),
            "version: 0.2.0",
        ),
        # the chart's own values.yaml is helm's to read: its message names the chart, the file and the line
        Case(
            "chart-values-syntax",
            "finding",
            "ops/helm/010-a",
            replace(A_VALUES, "replicas: 1", "replicas: [1"),
            None,
            also=("values.yaml", "line"),
        ),
        Case(
            "chart-values-tab",
            "finding",
            "ops/helm/010-a",
            replace(A_VALUES, "replicas: 1", "replicas:\n\t1"),
            None,
            also=("values.yaml", "line"),
        ),
        Case(
            "template-nil-pointer",
            "finding",
            "templates/broken.yaml",
            write("ops/helm/010-a/templates/broken.yaml", "{{ .Values.nope.deeper }}\n"),
            None,
            at=1,
        ),
        Case(
            "template-not-yaml",
            "finding",
            "templates/broken.yaml",
            write("ops/helm/010-a/templates/broken.yaml", "kind: ConfigMap\nmetadata: {name: x\n"),
            None,
            also=("line 2",),
        ),
        Case(
            "template-unknown-field",
            "schema",
            A_TEMPLATE,
            replace(A_TEMPLATE, "  replicas:", "  replicaz: 1\n  replicas:"),
            None,
        ),
        # values files named in gripctl.yaml
        Case("values-file-missing", "config", G, remove(COMMON), COMMON),
        Case("values-file-syntax", "file", COMMON, write(COMMON, "replicas: [1\n"), None),
        Case("values-file-tab", "file", COMMON, write(COMMON, "replicas:\n\t1\n"), None),
        Case(
            "values-file-duplicate-key",
            "file",
            COMMON,
            write(COMMON, "replicas: 1\nreplicas: 2\n"),
            "replicas: 2",
        ),
        Case("values-file-not-a-mapping", "file", COMMON, write(COMMON, "- replicas\n"), None),
        Case("env-values-file-syntax", "file", rel_env_values, write(rel_env_values, "version: {v1\n"), None),
        Case(
            "env-values-file-duplicate-key",
            "file",
            rel_env_values,
            write(rel_env_values, "version: v1\nversion: v2\n"),
            "version: v2",
        ),
        # secrets
        Case(
            "sops-wrong-age-key",
            "finding",
            SOPS,
            lambda _root: None,
            None,
            env={"SOPS_AGE_KEY_FILE": "@other"},
        ),
        Case("sops-mac-mismatch", "finding", SOPS, corrupt_sops(SOPS), None),
        Case("sops-truncated", "finding", SOPS, truncate(SOPS), None),
        Case("sops-plaintext", "finding", SOPS, write(SOPS, "password: hunter2\n"), None),
        Case("sops-not-yaml", "finding", SOPS, write(SOPS, "password: [ENC\n"), None),
        # the command line
        Case("unknown-environment", "usage", G, lambda _root: None, None, environment="nope"),
    ]
    return out
