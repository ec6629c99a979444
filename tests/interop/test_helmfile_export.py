"""`gripctl export helmfile`: the document's structure and values order against the model (examples/webgrip,
staging and production), the secrets modes, and every refusal leaving the repository as it was."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from interop_helpers import TEST_KEY, copy_webgrip, run_cli, snapshot, write_platform

from gripctl.adapters.toolchain import find_tool
from gripctl.errors import UsageError
from gripctl.interop.gotemplate import Scope, render
from gripctl.interop.helmfile import SECRETS_DIR, SecretsMode
from gripctl.model import load_platform
from gripctl.secrets.values import merged_values
from gripctl.service.interop import ExportHelmfileRequest, export_helmfile

ENVIRONMENTS = ("staging", "production")


@pytest.fixture
def webgrip(tmp_path: Path) -> Path:
    return copy_webgrip(tmp_path / "webgrip")


@pytest.fixture
def age_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(TEST_KEY))


def _state(text: str) -> dict[str, Any]:
    """A helmfile state as helmfile reads it: its `---` parts merged (environments come in a part of
    their own, which helmfile v1 requires)."""
    parts = [part for part in yaml.safe_load_all(text) if part]
    assert len(parts) <= 2
    if len(parts) == 2:
        assert set(parts[0]) == {"environments"} and "environments" not in parts[1]
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


def _entries(doc: dict[str, object]) -> list[dict[str, object]]:
    releases = doc["releases"]
    assert isinstance(releases, list)
    return releases


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_one_environment_matches_the_model(webgrip: Path, environment: str) -> None:
    out = webgrip / f"helmfile-{environment}.yaml"
    result = export_helmfile(ExportHelmfileRequest(root=webgrip, environment=environment, out=out))
    platform = load_platform(webgrip, environment)
    doc = _state(out.read_text())

    assert not result.templated
    assert doc["environments"] == {environment: {"kubeContext": platform.environment.context}}
    assert doc["helmDefaults"] == {"skipDeps": True}
    entries = _entries(doc)
    assert [e["labels"]["id"] for e in entries] == list(platform.releases)  # type: ignore[index]
    for entry, release in zip(entries, platform.releases.values(), strict=True):
        assert entry["name"] == release.name
        assert entry["namespace"] == release.namespace
        assert (out.parent / str(entry["chart"])).resolve() == release.chart_path.resolve()
        assert str(entry["chart"]).startswith("./")  # a path, not repository/chart
        assert entry["labels"] == {"id": release.id, **release.labels}
        needs = [platform.releases[n] for n in release.needs]
        assert entry.get("needs", []) == [f"{n.namespace}/{n.name}" for n in needs]
        assert entry["timeout"] == release.timeout_seconds
        assert entry["createNamespace"] is release.create_namespace
        # Values layering: the model's files in its order, then the secrets values file, last.
        values = [str(v) for v in entry.get("values", [])]  # type: ignore[attr-defined]
        files = values[: len(release.values_files)]
        assert [(out.parent / v).resolve() for v in files] == [f.resolve() for f in release.values_files]
        extra = values[len(release.values_files) :]
        if release.secrets:
            assert extra == [f"{SECRETS_DIR}/{release.id}.yaml.gotmpl"]
        else:
            assert extra == []
        assert "set" not in entry and "secrets" not in entry


def test_values_order_of_two_releases_spelled_out(webgrip: Path) -> None:
    out = webgrip / "helmfile.yaml"
    export_helmfile(ExportHelmfileRequest(root=webgrip, environment="production", out=out))
    by_id = {e["labels"]["id"]: e for e in _entries(_state(out.read_text()))}  # type: ignore[index]
    assert by_id["950-example-services"]["values"] == [
        "envs/production/values.yaml",
        "envs/production/950-example-services.yaml",
    ]
    assert by_id["950-example-services-secrets"]["values"] == [
        "envs/production/values.yaml",
        "gripctl-secrets/950-example-services-secrets.yaml.gotmpl",
    ]
    assert by_id["950-example-services"]["needs"] == [
        "ingress-controllers/ingress-controllers",
        "grafana-stack/grafana-stack",
        "example-services/example-services-secrets",
    ]


def test_all_environments_is_a_template_that_renders_each_environment(webgrip: Path) -> None:
    result = export_helmfile(ExportHelmfileRequest(root=webgrip))
    assert result.templated
    assert result.out == str(webgrip / "helmfile.yaml.gotmpl")
    text = Path(result.out).read_text()
    for environment in ENVIRONMENTS:
        single = webgrip / f"single-{environment}.yaml"
        export_helmfile(ExportHelmfileRequest(root=webgrip, environment=environment, out=single))
        rendered = render(text, Scope(environment), "helmfile.yaml.gotmpl")
        assert rendered.skipped == []
        both = _state(rendered.text), _state(single.read_text())
        assert both[0]["releases"] == both[1]["releases"]
    # helmfile's own `default` environment (no -e) gets no environment values, like gripctl's neutral one.
    default = _state(render(text, Scope("default"), "h").text)
    values = {e["labels"]["id"]: e.get("values") for e in default["releases"]}
    assert values["005-tainters"] is None
    assert values["010-cert-manager-secrets"] == ["gripctl-secrets/010-cert-manager-secrets.yaml.gotmpl"]
    assert set(_state(render(text, Scope("default"), "h").text)["environments"]) == set(ENVIRONMENTS)


def test_sops_values_files_decrypt_what_gripctl_decrypts(webgrip: Path, age_key: None) -> None:
    """The exported .gotmpl runs `sops --decrypt PATH` in its own folder (helmfile's exec): run exactly
    that and compare with the values gripctl pipes to helm."""
    result = export_helmfile(ExportHelmfileRequest(root=webgrip, environment="staging"))
    platform = load_platform(webgrip, "staging")
    side = sorted((webgrip / SECRETS_DIR).glob("*.gotmpl"))
    assert [p.name for p in side] == [f"{r.id}.yaml.gotmpl" for r in platform.releases.values() if r.secrets]
    for path in side:
        text = path.read_text()
        assert "ENC[" not in text and "password" not in text.lower()
        relative = json.loads(text.split('"--decrypt" ', 1)[1].split(")", 1)[0])
        decrypted = subprocess.run(
            [find_tool("sops"), "--decrypt", relative], cwd=path.parent, capture_output=True, check=True
        ).stdout
        release = platform.releases[path.name.removesuffix(".yaml.gotmpl")]
        assert decrypted == merged_values(release.secrets, webgrip)
    assert result.plaintext_files == ()


def test_helm_secrets_mode_prints_to_stdout(
    webgrip: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(webgrip)
    run = run_cli(
        monkeypatch, capsys, "-C", str(webgrip), "export", "helmfile", "-e", "staging", "--out", "-",
        "--secrets", "helm-secrets",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    doc = _state(run.stdout)
    by_id = {e["labels"]["id"]: e for e in doc["releases"]}
    assert by_id["060-grafana-stack-secrets"]["secrets"] == [
        "ops/secrets/060-grafana-stack-secrets/values.sops.yaml"
    ]
    assert by_id["060-grafana-stack-secrets"]["values"] == ["envs/staging/values.yaml"]
    assert snapshot(webgrip) == before  # printed, nothing written


def test_plaintext_mode_writes_private_files_and_says_so_loudly(
    webgrip: Path, age_key: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(
        monkeypatch, capsys, "-C", str(webgrip), "export", "helmfile", "-e", "production",
        "--secrets", "plaintext",
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert "WRITES THE PLAINTEXT TO DISK" in run.stderr
    assert "PLAINTEXT SECRETS WRITTEN TO DISK" in run.stderr
    platform = load_platform(webgrip, "production")
    folder = webgrip / SECRETS_DIR
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"
    for release in (r for r in platform.releases.values() if r.secrets):
        path = folder / f"{release.id}.yaml"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        plain = merged_values(release.secrets, webgrip)
        assert plain is not None
        assert yaml.safe_load(path.read_text()) == yaml.safe_load(plain)
    doc = _state((webgrip / "helmfile.yaml").read_text())
    by_id = {e["labels"]["id"]: e for e in doc["releases"]}
    assert by_id["010-cert-manager-secrets"]["values"][-1] == "gripctl-secrets/010-cert-manager-secrets.yaml"


def test_json_output_lists_what_helmfile_does_not_carry(
    webgrip: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(monkeypatch, capsys, "-C", str(webgrip), "-o", "json", "export", "helmfile")
    assert run.code == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["environments"] == list(ENVIRONMENTS)
    assert result["templated"] is True
    topics = {(g["topic"], g["where"].split(" ")[0]) for g in result["not_exported"]}
    lines = (webgrip / "gripctl.yaml").read_text().splitlines()

    def where(text: str) -> str:  # gripctl.yaml:LINE:COLUMN of the first line that starts with `text`
        line = next(i for i, s in enumerate(lines, 1) if s.lstrip().startswith(text))
        return f"gripctl.yaml:{line}:{len(lines[line - 1]) - len(lines[line - 1].lstrip()) + 1}"

    assert ("approval", where("approval: required")) in topics
    assert ("monitor", where("monitor: 10s")) in topics
    assert ("policies", where("policies:")) in topics
    assert ("remediation", where("remediation: rollback")) in topics


def test_set_values_keep_helm_meaning(tmp_path: Path) -> None:
    root = write_platform(
        tmp_path / "p",
        r"""
        apiVersion: gripctl/v1
        releases:
          010-app:
            set: {plain: "x", escaped: 'a\,b', list: "{1,2}", flag: true, split: "a,b=c"}
        """,
        charts=["010-app"],
    )
    result = export_helmfile(ExportHelmfileRequest(root=root))
    entry = _state(Path(result.out or "").read_text())["releases"][0]
    assert entry["set"] == [
        {"name": "plain", "value": "x"},
        {"name": "escaped", "value": "a,b"},  # helmfile escapes the comma again: helm sees a\,b
        {"name": "list", "values": ["1", "2"]},  # helmfile writes {1,2}
        {"name": "flag", "value": "true"},
        {"name": "split", "value": "a,b=c"},
    ]
    assert [g.topic for g in result.gaps if g.topic == "set"] == ["set"]  # split: listed, not hidden


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "helmfile.yaml"], "renders only files named *.gotmpl"),
        (["-e", "staging", "--out", "-"], "also needs 3 secrets values files"),
        (["-e", "staging", "--out", "README.md"], "not written by gripctl"),
        (["-e", "nowhere"], "no environment named 'nowhere'"),
        (["--secrets", "vault"], "choose sops, helm-secrets or plaintext"),
    ],
)
def test_refusals_write_nothing(
    webgrip: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(webgrip)
    before = snapshot(webgrip)
    run = run_cli(monkeypatch, capsys, "export", "helmfile", *args)
    assert run.code == 64
    assert message in run.stderr
    assert snapshot(webgrip) == before


def test_a_label_helmfile_would_execute_is_refused(tmp_path: Path) -> None:
    root = write_platform(
        tmp_path / "p",
        """
        apiVersion: gripctl/v1
        releases:
          010-app: {labels: {team: "{{ .Values.team }}"}}
        """,
        charts=["010-app"],
    )
    before = snapshot(root)
    with pytest.raises(UsageError) as caught:
        export_helmfile(ExportHelmfileRequest(root=root))
    assert "label team of release 010-app" in caught.value.message
    assert snapshot(root) == before


def test_re_export_replaces_its_own_files_only(webgrip: Path) -> None:
    first = export_helmfile(ExportHelmfileRequest(root=webgrip, environment="staging"))
    again = export_helmfile(ExportHelmfileRequest(root=webgrip, environment="staging"))
    assert first.written == again.written
    Path(first.written[0]).write_text("# my own helmfile\nreleases: []\n")
    with pytest.raises(UsageError):
        export_helmfile(ExportHelmfileRequest(root=webgrip, environment="staging"))
    assert Path(first.written[0]).read_text() == "# my own helmfile\nreleases: []\n"
    forced = export_helmfile(ExportHelmfileRequest(root=webgrip, environment="staging", force=True))
    assert Path(forced.written[0]).read_text() == forced.document


def test_no_environments_exports_the_neutral_default(tmp_path: Path) -> None:
    root = write_platform(tmp_path / "p", "apiVersion: gripctl/v1\n", charts=["010-a", "020-b"])
    result = export_helmfile(ExportHelmfileRequest(root=root, secrets=SecretsMode.sops))
    doc = _state(Path(result.out or "").read_text())
    assert result.environments == ("default",)
    assert "environments" not in doc
    # no declared needs: gripctl orders by number, and the export says so with needs
    assert [e.get("needs") for e in doc["releases"]] == [None, ["a/a"]]
