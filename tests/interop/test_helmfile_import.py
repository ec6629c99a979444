"""`gripctl import helmfile`: a hand-written helmfile with parts gripctl cannot map (each listed with its
line), bad input (an error naming file:line, nothing written), --dry-run, and never overwriting."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from interop_helpers import run_cli, snapshot

from gripctl.errors import ConfigError, UsageError
from gripctl.model import load_platform
from gripctl.service.interop import ImportHelmfileRequest, import_helmfile

HANDWRITTEN = """\
repositories:
  - name: bitnami
    url: https://charts.bitnami.com/bitnami
environments:
  staging:
    kubeContext: kind-staging
    values:
      - env/staging.yaml
  production:
    kubeContext: prod
---
helmDefaults:
  timeout: 600
  atomic: true
hooks:
  - events: ["prepare"]
    command: echo
releases:
  - name: db
    namespace: data
    chart: ./charts/db
    labels:
      tier: data
    values:
      - values/common.yaml
      - values/{{ .Environment.Name }}.yaml
      - persistence:
          size: {{ if eq .Environment.Name "production" }}100Gi{{ else }}1Gi{{ end }}
    set:
      - name: image.tag
        value: "1.2,3"
      - name: hosts
        values: [a, b]
  - name: app
    namespace: web
    chart: ./charts/app
    needs:
      - data/db
      - redis
    values:
      - values/common.yaml
      - image:
          tag: {{ requiredEnv "TAG" }}
    secrets:
      - secrets/app.yaml
    hooks:
      - events: ["presync"]
        command: ./migrate.sh
    timeout: 60
  - name: redis
    namespace: data
    chart: bitnami/redis
    version: 18.0.0
  - name: old
    namespace: web
    chart: ./charts/app
    installed: false
{{ range list "a" "b" }}
  - name: gen-{{ . }}
    chart: ./charts/app
{{ end }}
"""


def _line(needle: str, *, whole: bool = False) -> int:
    """The 1-based line of HANDWRITTEN where `needle` first occurs (or that is `needle`, with whole)."""
    lines = enumerate(HANDWRITTEN.splitlines(), 1)
    return next(n for n, line in lines if (line == needle if whole else needle in line))


def _repo(root: Path, helmfile: str, name: str = "helmfile.yaml.gotmpl") -> Path:
    for chart in ("app", "db"):
        (root / "charts" / chart / "templates").mkdir(parents=True, exist_ok=True)
        (root / "charts" / chart / "Chart.yaml").write_text(
            f"apiVersion: v2\nname: {chart}\nversion: 0.1.0\n"
        )
    (root / "values").mkdir(exist_ok=True)
    for env, replicas in (("common", 1), ("staging", 2), ("production", 3)):
        (root / "values" / f"{env}.yaml").write_text(f"replicas: {replicas}\n")
    path = root / name
    path.write_text(textwrap.dedent(helmfile))
    return path


def test_handwritten_helmfile_maps_what_it_can_and_lists_the_rest(tmp_path: Path) -> None:
    source = _repo(tmp_path, HANDWRITTEN)
    result = import_helmfile(ImportHelmfileRequest(source=source))

    gaps = {(g.topic, g.where.split(" ")[0].split(":", 1)[1]) for g in result.gaps}
    expected = {
        ("repositories", f"{_line('repositories:')}:1"),
        ("environments.staging.values", f"{_line('values:')}:5"),
        ("helmDefaults.atomic", f"{_line('atomic:')}:3"),
        ("hooks", f"{_line('hooks:')}:1"),
        ("template", f"{_line('requiredEnv')}"),
        ("needs", f"{_line('- redis')}:9"),  # app needs redis, which is not imported
        ("secrets", f"{_line('- secrets/app.yaml')}:9"),  # helm-secrets values of app
        ("hooks", f"{_line('    hooks:')}:5"),  # app's release hooks
        ("version", f"{_line('version:')}:5"),
        ("release", f"{_line('- name: redis')}:5"),  # a repository chart
        ("release", f"{_line('- name: old')}:5"),  # installed: false
        (
            "template",
            f"{_line('{{ range')}-{_line('{{ end }}', whole=True)}",
        ),  # the {{ range }} that makes releases
    }
    assert gaps == expected
    assert {n.topic for n in result.notes} == {"ids"}

    config = yaml.safe_load((tmp_path / "gripctl.yaml").read_text())
    assert config["defaults"] == {"timeout": "600s"}
    assert config["environments"] == {
        "staging": {"context": "kind-staging", "values": ["values/common.yaml"]},
        "production": {"context": "prod", "values": ["values/common.yaml"]},
    }
    db, app = config["releases"]["010-db"], config["releases"]["020-app"]
    assert db["chart"] == "charts/db" and db["namespace"] == "data" and db["labels"] == {"tier": "data"}
    assert db["set"] == {"image.tag": "1.2\\,3", "hosts": "{a,b}"}  # helmfile's escaping, kept
    assert db["values"] == {
        "staging": ["values/staging.yaml", "helmfile-values/010-db.2.staging.yaml"],
        "production": ["values/production.yaml", "helmfile-values/010-db.2.production.yaml"],
    }
    assert yaml.safe_load((tmp_path / "helmfile-values/010-db.2.production.yaml").read_text()) == {
        "persistence": {"size": "100Gi"}
    }
    assert app == {
        "chart": "charts/app",
        "namespace": "web",
        "needs": ["010-db"],
        "timeout": "60s",
        "values": {
            "staging": ["helmfile-values/020-app.1.yaml"],
            "production": ["helmfile-values/020-app.1.yaml"],
        },
    }
    # The gaps are also at the top of gripctl.yaml, so they outlive the command's output.
    head = (tmp_path / "gripctl.yaml").read_text().split("apiVersion:")[0]
    assert head.count("\n#   - ") == len(result.gaps) + len(result.notes)

    for env in ("staging", "production"):
        platform = load_platform(tmp_path, env)
        assert list(platform.releases) == ["010-db", "020-app"]
        assert platform.releases["020-app"].needs == ("010-db",)
    production = load_platform(tmp_path, "production").releases["010-db"]
    assert [f.name for f in production.values_files] == [
        "common.yaml",
        "production.yaml",
        "010-db.2.production.yaml",
    ]


def test_plain_helmfile_renders_release_fields_per_environment(tmp_path: Path) -> None:
    """In a plain helmfile.yaml only release fields are templates (helmfile v1): values paths with
    {{ .Environment.Name }} and {{ .Release.Name }} switch per environment; inline values stay literal."""
    source = _repo(
        tmp_path,
        """\
        environments:
          staging: {}
          production: {}
        releases:
          - name: app
            namespace: web
            chart: charts/app
            values:
              - values/{{ .Environment.Name }}.yaml
              - literal: "{{ not rendered }}"
          - name: db
            namespace: web
            chart: charts/db
            needs: [app]
        """,
        name="helmfile.yaml",
    )
    result = import_helmfile(ImportHelmfileRequest(source=source, into=tmp_path))
    assert result.gaps == ()
    config = yaml.safe_load((tmp_path / "gripctl.yaml").read_text())
    assert config["releases"]["010-app"]["values"] == {
        "staging": ["values/staging.yaml", "helmfile-values/010-app.1.yaml"],
        "production": ["values/production.yaml", "helmfile-values/010-app.1.yaml"],
    }
    assert yaml.safe_load((tmp_path / "helmfile-values/010-app.1.yaml").read_text()) == {
        "literal": "{{ not rendered }}"
    }
    assert config["releases"]["020-db"]["needs"] == ["010-app"]


def test_no_needs_is_a_note_and_no_environments_is_default(tmp_path: Path) -> None:
    source = _repo(
        tmp_path,
        """\
        helmDefaults: {kubeContext: ctx, createNamespace: false}
        releases:
          - {name: app, chart: ./charts/app, values: [values/common.yaml, values/staging.yaml]}
          - {name: db, chart: ./charts/db, namespace: db, labels: {id: 005-db}, values: [values/common.yaml]}
        """,
        name="helmfile.yaml",
    )
    result = import_helmfile(ImportHelmfileRequest(source=source))
    config = yaml.safe_load((tmp_path / "gripctl.yaml").read_text())
    assert config["environments"] == {"default": {"context": "ctx"}}
    assert config["defaults"] == {"create_namespace": False}
    assert set(config["releases"]) == {"005-db", "010-app"}  # an id label is kept, the rest is numbered
    assert config["releases"]["010-app"]["namespace"] == "default"
    assert {n.topic for n in result.notes} == {"needs", "namespace", "ids"}
    platform = load_platform(tmp_path)
    assert platform.environment.name == "default"
    assert platform.releases["010-app"].needs == ("005-db",)  # gripctl's numeric order, as noted
    assert [f.name for f in platform.releases["010-app"].values_files] == ["common.yaml", "staging.yaml"]
    assert [f.name for f in platform.releases["005-db"].values_files] == ["common.yaml"]


def test_defaults_spelled_out_are_not_gaps(tmp_path: Path) -> None:
    """What `helmfile build` prints (or a careful author writes): false/0 settings, helmfile's built-in
    labels, `timeout: 0` (not set). None of it changes what helm does, so none of it is a gap."""
    source = _repo(
        tmp_path,
        """\
        helmBinary: helm
        helmDefaults: {atomic: false, timeout: 0, verify: false, wait: false, historyMax: 0}
        releases:
          - name: app
            namespace: web
            chart: ./charts/app
            chartPath: charts/app
            timeout: 0
            force: false
            labels: {name: app, namespace: web, chart: app, team: a}
        """,
        "helmfile.yaml",
    )
    result = import_helmfile(ImportHelmfileRequest(source=source))
    assert result.gaps == ()
    config = yaml.safe_load((tmp_path / "gripctl.yaml").read_text())
    assert "defaults" not in config
    assert config["releases"]["010-app"] == {
        "chart": "charts/app",
        "namespace": "web",
        "labels": {"team": "a"},
    }
    assert load_platform(tmp_path).releases["010-app"].timeout_seconds == 300


BAD = {
    "not-yaml": ("releases:\n  - name: a\n    chart: [./c\n", 4, "YAML syntax error"),
    "not-a-mapping": ("- name: a\n  chart: ./charts/app\n", 1, "must be a mapping"),
    "no-chart": ("releases:\n  - name: a\n    namespace: x\n", 2, "has no chart"),
    "duplicate": (
        "releases:\n  - name: a\n    chart: ./charts/app\n  - name: a\n    chart: ./charts/db\n",
        4,
        "two releases are a",
    ),
    "needs-nothing": (
        "releases:\n  - name: a\n    chart: ./charts/app\n    needs: [ghost]\n",
        4,
        "needs 'ghost', which names no release",
    ),
    "missing-values": (
        "releases:\n  - name: a\n    chart: ./charts/app\n    values: [nope.yaml]\n",
        4,
        "values file nope.yaml of release a does not exist",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_an_error_with_its_line_and_writes_nothing(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text, line, message = BAD[case]
    _repo(tmp_path, text, name="helmfile.yaml")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as caught:
        import_helmfile(ImportHelmfileRequest(source=Path("helmfile.yaml")))
    assert message in caught.value.message
    assert caught.value.location is not None
    assert (caught.value.location.path, caught.value.location.line) == ("helmfile.yaml", line)
    run = run_cli(monkeypatch, capsys, "import", "helmfile", "helmfile.yaml")
    assert run.code == 2
    assert f"helmfile.yaml:{line}" in run.stderr and message in run.stderr
    assert snapshot(tmp_path) == before


def test_an_import_that_would_not_load_is_taken_back(tmp_path: Path) -> None:
    """Valid helmfile, but a namespace gripctl rejects: the written gripctl.yaml is removed again."""
    source = _repo(
        tmp_path, "releases:\n  - {name: app, chart: ./charts/app, namespace: Web_Apps}\n", "helmfile.yaml"
    )
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as caught:
        import_helmfile(ImportHelmfileRequest(source=source))
    assert "does not load, so nothing was written" in caught.value.message
    assert "not a valid Kubernetes name" in caught.value.message
    assert snapshot(tmp_path) == before


def test_dry_run_writes_nothing_and_shows_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _repo(tmp_path, HANDWRITTEN)
    before = snapshot(tmp_path)
    run = run_cli(monkeypatch, capsys, "import", "helmfile", str(source), "--dry-run")
    assert run.code == 0, run.stderr
    assert snapshot(tmp_path) == before
    assert "would write 4 files for 2 releases" in run.stdout
    assert "apiVersion: gripctl/v1" in run.stdout and "size: 100Gi" in run.stdout
    assert "not imported (12)" in run.stdout
    as_json = run_cli(monkeypatch, capsys, "-o", "json", "import", "helmfile", str(source), "--dry-run")
    document = json.loads(as_json.stdout)
    assert document["written"] == [] and document["dry_run"] is True
    assert len(document["not_imported"]) == 12
    assert snapshot(tmp_path) == before


def test_never_overwrites_a_gripctl_yaml_it_did_not_write(tmp_path: Path) -> None:
    source = _repo(
        tmp_path, "releases:\n  - {name: app, namespace: app, chart: ./charts/app}\n", "helmfile.yaml"
    )
    mine = "apiVersion: gripctl/v1\n# mine\n"
    (tmp_path / "gripctl.yaml").write_text(mine)
    with pytest.raises(UsageError) as caught:
        import_helmfile(ImportHelmfileRequest(source=source))
    assert "not written by gripctl" in caught.value.message
    assert (tmp_path / "gripctl.yaml").read_text() == mine
    import_helmfile(ImportHelmfileRequest(source=source, force=True))
    import_helmfile(ImportHelmfileRequest(source=source))  # its own file: replaced without --force
    assert yaml.safe_load((tmp_path / "gripctl.yaml").read_text())["releases"] == {
        "010-app": {"chart": "charts/app"}
    }


def test_nothing_to_import_says_why(tmp_path: Path) -> None:
    source = _repo(
        tmp_path,
        "repositories: [{name: bitnami, url: https://charts.bitnami.com/bitnami}]\n"
        "releases:\n  - {name: redis, chart: bitnami/redis}\n  - {name: pg, chart: oci://r.example/pg}\n",
        "helmfile.yaml",
    )
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError) as caught:
        import_helmfile(ImportHelmfileRequest(source=source))
    assert "nothing to import" in caught.value.message
    assert "bitnami/redis is not a folder here" in caught.value.message
    assert "oci://r.example/pg is remote" in caught.value.message
    assert snapshot(tmp_path) == before


def test_a_plain_helmfile_with_template_blocks_points_at_gotmpl(tmp_path: Path) -> None:
    source = _repo(
        tmp_path,
        'releases:\n{{ if eq .Environment.Name "x" }}\n  - {name: app, chart: ./charts/app}\n{{ end }}\n',
        "helmfile.yaml",
    )
    with pytest.raises(ConfigError) as caught:
        import_helmfile(ImportHelmfileRequest(source=source))
    assert caught.value.hint is not None and "rename it to helmfile.yaml.gotmpl" in caught.value.hint
    assert not (tmp_path / "gripctl.yaml").exists()


def test_a_missing_helmfile_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(monkeypatch, capsys, "import", "helmfile", str(tmp_path / "helmfile.yaml"))
    assert run.code == 64 and "no such file" in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_into_must_exist(tmp_path: Path) -> None:
    source = _repo(tmp_path, "releases:\n  - {name: app, chart: ./charts/app}\n", "helmfile.yaml")
    with pytest.raises(UsageError, match="no such folder"):
        import_helmfile(ImportHelmfileRequest(source=source, into=tmp_path / "missing"))
    assert not (tmp_path / "missing").exists()
