"""`gripctl graph` end to end: text waves and critical path, Graphviz dot, JSON, selection, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from model_helpers import PlatformFactory, snapshot

from gripctl.cli.app import main

CONFIG = """
apiVersion: gripctl/v1
releases:
  020-b: {needs: [010-a], labels: {tier: core}}
  030-c: {needs: [010-a]}
  040-d: {needs: [020-b, 030-c]}
environments:
  staging: {}
  production: {}
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def gripctl(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run the real entry point (`main`, with its error-to-exit-code mapping) in this process: starting
    a new interpreter per call costs seconds because the CLI imports every command group."""

    def run(root: Path, *args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["gripctl", "--root", str(root), *args])
        capsys.readouterr()
        code: int | str | None = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return Result(int(code or 0), out, err)

    return run


def gripctl_process(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "--root", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def root(make_platform: PlatformFactory) -> Path:
    return make_platform(CONFIG, charts=["010-a", "020-b", "030-c", "040-d"], secrets=["030-c-secrets"])


def test_text_shows_numbered_waves_then_critical_path(root: Path, gripctl: Callable[..., Result]) -> None:
    result = gripctl(root, "graph", "-e", "staging")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "environment staging: 5 releases in 3 waves",
        "wave 1",
        "  010-a",
        "  030-c-secrets",
        "wave 2",
        "  020-b  (after 010-a)",
        "  030-c  (after 010-a, 030-c-secrets)",
        "wave 3",
        "  040-d  (after 020-b, 030-c)",
        "critical path (3 releases): 010-a -> 020-b -> 040-d",
    ]


def test_json_format_and_global_json_output(root: Path, gripctl: Callable[..., Result]) -> None:
    result = gripctl(root, "graph", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document == {
        "environment": "default",
        "waves": [["010-a", "030-c-secrets"], ["020-b", "030-c"], ["040-d"]],
        "critical_path": ["010-a", "020-b", "040-d"],
        "edges": [
            {"from": "010-a", "to": "020-b"},
            {"from": "010-a", "to": "030-c"},
            {"from": "030-c-secrets", "to": "030-c"},
            {"from": "020-b", "to": "040-d"},
            {"from": "030-c", "to": "040-d"},
        ],
    }
    assert json.loads(gripctl(root, "--output", "json", "graph").stdout) == document


def test_dot_is_a_graphviz_digraph(root: Path, gripctl: Callable[..., Result]) -> None:
    result = gripctl(root, "graph", "--format", "dot")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "digraph gripctl {" and lines[-1] == "}"
    assert '    "030-c-secrets" [label="030-c-secrets", style=dashed];' in lines
    assert '  "010-a" -> "020-b" [style=bold, color=red];' in lines  # on the critical path
    assert '  "010-a" -> "030-c";' in lines
    assert sum(" -> " in line for line in lines) == 5


def test_selection_options_narrow_the_graph(root: Path, gripctl: Callable[..., Result]) -> None:
    result = gripctl(root, "-o", "json", "graph", "--only", "040-d,030-c")
    assert json.loads(result.stdout)["waves"] == [["030-c-secrets"], ["030-c"], ["040-d"]]
    result = gripctl(root, "-o", "json", "graph", "--only", "020-b", "--include-needs")
    assert json.loads(result.stdout)["waves"] == [["010-a"], ["020-b"]]
    result = gripctl(root, "-o", "json", "graph", "-l", "tier=core", "--include-dependents")
    assert json.loads(result.stdout)["waves"] == [["020-b"], ["040-d"]]


def test_unknown_release_in_only_exits_64(root: Path, gripctl: Callable[..., Result]) -> None:
    before = snapshot(root)
    result = gripctl(root, "graph", "--only", "020-bb")
    assert result.returncode == 64
    assert result.stdout == ""
    assert "--only names '020-bb', which is not a release of this platform" in result.stderr
    assert "did you mean '020-b'?" in result.stderr
    assert snapshot(root) == before


def test_unknown_environment_exits_64(root: Path, gripctl: Callable[..., Result]) -> None:
    result = gripctl(root, "graph", "-e", "prod")
    assert result.returncode == 64
    assert "no environment named 'prod' in gripctl.yaml" in result.stderr
    assert "did you mean 'production'? known environments: staging, production" in result.stderr


def test_config_error_exits_2_with_location(root: Path) -> None:
    # A real process this once: the exit code and stderr as a shell sees them.
    (root / "gripctl.yaml").write_text(
        CONFIG.lstrip().replace("030-c: {needs: [010-a]}", "030-c: {needs: [040-d]}")
    )
    before = snapshot(root)
    result = gripctl_process(root, "graph")
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        "gripctl.yaml:4:11 (releases.030-c.needs): dependency cycle: 030-c -> 040-d -> 030-c" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert snapshot(root) == before
