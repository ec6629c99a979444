"""The example platform (examples/webgrip) read the way docs/config.md says gripctl reads it.

Deliberately independent of gripctl's model loader: these tests check the example itself, so a bug in
the loader cannot hide a bug in the example (and the other way round). PyYAML for gripctl.yaml, the
real `helm` and `sops` binaries (through gripctl's process adapter) for everything else.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gripctl.adapters.process import Completed, run

REPO = Path(__file__).resolve().parents[2]
WEBGRIP = REPO / "examples" / "webgrip"
TEST_KEY = WEBGRIP / "keys" / "test-only.agekey"
ENVIRONMENTS = ("staging", "production")
WORKLOAD_KINDS = frozenset({"Deployment", "DaemonSet", "StatefulSet"})
CLUSTER_SCOPED_KINDS = frozenset(
    {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "IngressClass", "ClusterIssuer"}
)


@dataclass(frozen=True)
class Chart:
    """One release of the example: a chart folder plus where and how docs/config.md deploys it."""

    id: str  # folder name, e.g. 010-cert-manager or 010-cert-manager-secrets
    path: Path
    name: str  # helm release name
    namespace: str
    secrets_for: str | None  # the release a NNN-name-secrets release serves

    @property
    def sops_file(self) -> Path | None:
        path = self.path / "values.sops.yaml"
        return path if path.is_file() else None


def platform_file() -> dict[str, Any]:
    data = yaml.safe_load((WEBGRIP / "gripctl.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _strip_number(release_id: str) -> str:
    return re.sub(r"^\d+-", "", release_id)


def charts() -> list[Chart]:
    """Every release (ops/helm) and secrets release (ops/secrets), names resolved per docs/config.md."""
    platform = platform_file()
    overrides: dict[str, dict[str, Any]] = platform.get("releases") or {}
    found: list[Chart] = []
    for folder in sorted((WEBGRIP / platform.get("charts", "ops/helm")).iterdir()):
        if (folder / "Chart.yaml").is_file():
            over = overrides.get(folder.name, {})
            found.append(
                Chart(
                    id=folder.name,
                    path=folder,
                    name=over.get("name", _strip_number(folder.name)),
                    namespace=over.get("namespace", _strip_number(folder.name)),
                    secrets_for=None,
                )
            )
    by_id = {c.id: c for c in found}
    for folder in sorted((WEBGRIP / platform.get("secrets", "ops/secrets")).iterdir()):
        if (folder / "Chart.yaml").is_file() and folder.name.endswith("-secrets"):
            served = folder.name.removesuffix("-secrets")
            found.append(
                Chart(
                    id=folder.name,
                    path=folder,
                    name=_strip_number(folder.name),
                    namespace=by_id[served].namespace,
                    secrets_for=served,
                )
            )
    return found


def values_files(chart: Chart, environment: str) -> list[Path]:
    """Layers 2 and 3 of docs/config.md: environment values, then the release's own for that env."""
    platform = platform_file()
    env = platform["environments"][environment]
    files = [WEBGRIP / f for f in env.get("values", [])]
    release = (platform.get("releases") or {}).get(chart.id, {})
    files += [WEBGRIP / f for f in (release.get("values") or {}).get(environment, [])]
    per_release = WEBGRIP / "envs" / environment / f"{chart.id}.yaml"
    if per_release.is_file() and per_release not in files:
        files.append(per_release)
    return files


def sops_env() -> dict[str, str]:
    return {"SOPS_AGE_KEY_FILE": str(TEST_KEY)}


def decrypt(path: Path) -> bytes:
    """Layer 4: the decrypted secrets, in memory only (never written anywhere)."""
    result = run("sops", ["--decrypt", str(path)], env=sops_env(), check=False)
    assert result.ok, f"sops --decrypt {path} failed: {result.stderr}"
    return result.stdout.encode()


def helm_values_args(chart: Chart, environment: str) -> tuple[list[str], bytes | None]:
    args: list[str] = []
    for f in values_files(chart, environment):
        args += ["--values", str(f)]
    stdin = None
    if chart.sops_file is not None:
        stdin = decrypt(chart.sops_file)
        args += ["--values", "-"]
    return args, stdin


def helm_template(chart: Chart, environment: str, *, with_secrets: bool = True) -> Completed:
    args, stdin = helm_values_args(chart, environment)
    if not with_secrets and stdin is not None:
        args, stdin = args[:-2], None
    return run(
        "helm",
        ["template", chart.name, str(chart.path), "--namespace", chart.namespace, *args],
        stdin=stdin,
        check=False,
    )


def helm_lint(chart: Chart, environment: str) -> Completed:
    args, stdin = helm_values_args(chart, environment)
    return run(
        "helm",
        ["lint", "--strict", str(chart.path), "--namespace", chart.namespace, *args],
        stdin=stdin,
        check=False,
    )


def documents(manifest: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifest) if isinstance(d, dict)]


def pod_templates(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Pod templates of an object: workloads' spec.template, and custom resources' spec.template."""
    template = (doc.get("spec") or {}).get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        yield template


def images(node: Any) -> Iterator[str]:
    """Every container image reference anywhere in an object (custom resources included)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                yield value
            else:
                yield from images(value)
    elif isinstance(node, list):
        for item in node:
            yield from images(item)


def secret_data(doc: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}


def known_test_values() -> dict[str, str]:
    """`file:key` -> value, from the table in keys/README.md (the one list tests grep outputs for)."""
    table = (WEBGRIP / "keys" / "README.md").read_text()
    rows = re.findall(r"^\|\s*(ops/\S+)\s*\|\s*(\S+)\s*\|\s*`([^`]+)`\s*\|$", table, flags=re.MULTILINE)
    return {f"{path}:{key}": value for path, key, value in rows}


def public_key() -> str:
    match = re.search(r"^# public key: (age1\w+)$", TEST_KEY.read_text(), flags=re.MULTILINE)
    assert match, f"{TEST_KEY} has no '# public key:' line"
    return match.group(1)
