"""render_desired with real helm and real sops: layering, digests, secrets kept in memory only."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from observe_helpers import one_release_platform

from gripctl.digest import values_digest
from gripctl.errors import ConfigError
from gripctl.manifest import by_key as parse_manifest
from gripctl.model import load_platform
from gripctl.observe.render import render_desired

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webgrip"


async def test_values_layering_files_then_set_and_digests_of_each_input(tmp_path: Path) -> None:
    platform = one_release_platform(
        tmp_path,
        values={
            "envs/test/values.yaml": "replicas: 2\ntag: '2.0'\npodLabels: {team: a}\n",
            "envs/test/010-web.yaml": "replicas: 3\npodLabels: {tier: web}\n",
        },
        set_values={"tag": "3.0", "podLabels.extra": "true"},
    )
    release = platform.release("010-web")
    desired = await render_desired(platform, release)
    objects = parse_manifest(desired.manifest, "web")
    deployment = objects[("apps/Deployment", "web", "web")]
    assert deployment["spec"]["replicas"] == 3  # the later file wins
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/web:3.0"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "web", "team": "a", "tier": "web", "extra": True}  # maps merge; --set typed
    assert ("ConfigMap", "web", "web-hook") not in objects  # hooks are stored apart by helm
    assert objects[("ConfigMap", "web", "web-config")]["data"]["upgrade"] == "false"
    expected = {"replicas": 3, "tag": "3.0", "podLabels": {"team": "a", "tier": "web", "extra": True}}
    assert desired.values_digest == values_digest(expected)
    assert (desired.chart_name, desired.chart_version) == ("web", "0.1.0")
    assert set(desired.inputs) == {
        "chart ops/helm/010-web",
        "values file envs/test/values.yaml",
        "values file envs/test/010-web.yaml",
        "set values 010-web",
    }

    upgraded = await render_desired(platform, release, is_upgrade=True)
    assert (
        parse_manifest(upgraded.manifest, "web")[("ConfigMap", "web", "web-config")]["data"]["upgrade"]
        == "true"
    )

    # each repository input is hashed by content: change one file, only its input changes
    (tmp_path / "envs/test/010-web.yaml").write_text("replicas: 4\n")
    again = await render_desired(platform, release)
    changed = {k for k in desired.inputs if desired.inputs[k] != again.inputs[k]}
    assert changed == {"values file envs/test/010-web.yaml"}
    (tmp_path / "ops/helm/010-web/templates/configmap.yaml").write_text("# emptied\n")
    third = await render_desired(platform, release)
    assert {k for k in again.inputs if again.inputs[k] != third.inputs[k]} == {"chart ops/helm/010-web"}


async def test_missing_values_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    platform = one_release_platform(tmp_path)
    release = replace(platform.release("010-web"), values_files=(tmp_path / "envs/test/nope.yaml",))
    with pytest.raises(ConfigError) as err:
        await render_desired(platform, release)
    assert "values file envs/test/nope.yaml of release 010-web does not exist" in err.value.message


@pytest.mark.parametrize(
    ("chart_yaml", "message"),
    [
        (None, "release 010-web: ops/helm/010-web/Chart.yaml does not exist"),
        ("name: [oops\n", "ops/helm/010-web/Chart.yaml:2:1: not valid YAML"),
        ("apiVersion: v2\nname: web\n", "ops/helm/010-web/Chart.yaml needs `name` and `version`"),
    ],
)
async def test_a_broken_chart_yaml_is_a_config_error_naming_it_relative_to_the_root(
    tmp_path: Path, chart_yaml: str | None, message: str
) -> None:
    platform = one_release_platform(tmp_path)
    path = tmp_path / "ops/helm/010-web/Chart.yaml"
    if chart_yaml is None:
        path.unlink()
    else:
        path.write_text(chart_yaml)
    with pytest.raises(ConfigError) as err:
        await render_desired(platform, platform.release("010-web"))
    assert message in str(err.value)  # the message with the file it names (its location)


async def test_broken_values_yaml_points_at_the_line(tmp_path: Path) -> None:
    platform = one_release_platform(tmp_path, values={"envs/test/values.yaml": "replicas: 2\ntag: [oops\n"})
    with pytest.raises(ConfigError) as err:
        await render_desired(platform, platform.release("010-web"))
    assert err.value.location is not None and err.value.location.path == "envs/test/values.yaml"
    assert err.value.location.line is not None and err.value.location.line >= 2


async def test_secrets_are_decrypted_in_memory_and_only_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "webgrip"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".gripctl"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(root / "keys" / "test-only.agekey"))
    platform = load_platform(root, "production")
    release = platform.release("010-cert-manager-secrets")
    desired = await render_desired(platform, release, kube_version="v1.36.3")
    plain = yaml.safe_load(
        __import__("gripctl.secrets.values", fromlist=["merged_values"]).merged_values(release.secrets, root)
    )
    token = plain["acmeDns"]["token"]
    assert token in desired.secret_values
    assert desired.secret_paths == {"acmeDns.email", "acmeDns.token"}
    assert "secrets 010-cert-manager-secrets" in desired.inputs
    assert token not in repr(desired) and token not in str(desired.inputs)
    secret = parse_manifest(desired.manifest, release.namespace)[
        ("Secret", "cert-manager", "cert-manager-acme-dns")
    ]
    assert secret["data"]["token"]  # helm got the decrypted values through stdin
    assert not list(root.rglob("*.dec*")) and not any(
        token in p.read_text(errors="ignore") for p in root.rglob("*.yaml")
    )
