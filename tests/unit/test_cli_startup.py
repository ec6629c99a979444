"""CLI start-up: --version and --help import no heavy library, and ledger reads skip the engine.

Each case runs the real entry point in a fresh interpreter and inspects `sys.modules` afterwards:
imports, not timings, because machines are noisy but an import is either there or not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gripctl import __version__
from gripctl.cli.app import COMMAND_MODULES, _only_version

# Run each `gripctl ARGS` of a JSON list through main() (its error-to-exit-code mapping included) in
# this one interpreter, and report per command: exit code, stdout, and every module imported so far (a
# command that imports too much is the first whose report shows it).
PROBE = """
import contextlib, io, json, sys
from gripctl.cli import app
reports = []
for argv in json.loads(sys.argv[1]):
    sys.argv = ["gripctl", *argv]
    out, code = io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(out):
            app.main()
    except SystemExit as exc:
        code = exc.code
    reports.append({"argv": argv, "code": code, "stdout": out.getvalue(), "modules": sorted(sys.modules)})
print(json.dumps(reports))
"""

# What --version and --help must not import: the seconds of start-up this file exists to keep away.
HEAVY = (
    "kubernetes",
    "kubernetes_validate",
    "sqlalchemy",
    "alembic",
    "detect_secrets",
    "gripctl.validate.runner",  # the checks (the package itself only holds findings and Severity)
    "gripctl.validate.schema",
    "gripctl.service.deploy",
    "gripctl.engine.runner",
    "gripctl.observe.snapshot",  # the package itself is light: `types` is what faces render
    "gripctl.incidents",
    "gripctl.ledger.store",  # SQLAlchemy (the package itself only holds the record types)
)


def _gripctl(*commands: list[str], database: Path | None = None) -> tuple[list[dict[str, Any]], str]:
    """The per-command reports of PROBE, and the stderr of them all."""
    env = dict(os.environ)
    if database is not None:
        env["GRIPCTL_DATABASE_URL"] = f"sqlite:///{database}"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(commands)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    reports: list[dict[str, Any]] = json.loads(result.stdout)
    return reports, result.stderr


def _loaded(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [p for p in prefixes if any(m == p or m.startswith(p + ".") for m in modules)]


def test_version_prints_the_version_and_registers_no_command() -> None:
    (report,), _ = _gripctl(["--version"])
    assert report["code"] == 0
    assert report["stdout"] == f"gripctl {__version__}\n"
    assert _loaded(report["modules"], tuple(COMMAND_MODULES)) == []
    assert _loaded(report["modules"], HEAVY) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--version"], True),
        (["-v", "--version"], True),
        (["-C", "some/root", "-o", "json", "--version"], True),
        (["--output=json", "--root=x", "--version", "deploy"], True),
        (["-C", "--version"], False),  # the root directory is called --version
        (["--help", "--version"], False),  # help is eager too, and comes first
        (["-h", "--version"], False),
        (["runs", "--version"], False),  # a usage error of `runs`
        (["deploy"], False),
        ([], False),
    ],
)
def test_only_version_spots_version_before_any_command(argv: list[str], expected: bool) -> None:
    assert _only_version(argv) is expected


def test_version_after_a_command_is_still_a_usage_error() -> None:
    (report,), stderr = _gripctl(["runs", "--version"])
    assert report["code"] == 64
    assert "No such option: --version" in stderr


def test_help_imports_no_heavy_library() -> None:
    shows = {
        ("--help",): "incident",
        ("deploy", "--help"): "rollback-run",
        ("apply", "--help"): "--wait-lock",
        ("status", "--help"): "--environment",
        ("runs", "--help"): "show",
        ("plan", "--help"): "--show-unchanged",
        ("validate", "--help"): "1.36",
        ("sandbox", "up", "--help"): "--nodes",
        ("metrics", "--help"): "prometheus",
        ("incident", "list", "--help"): "acknowledged",
    }
    reports, stderr = _gripctl(*(list(argv) for argv in shows))
    for report, text in zip(reports, shows.values(), strict=True):
        assert report["code"] == 0, stderr
        assert text in report["stdout"], f"gripctl {report['argv']}: no help printed"
        assert _loaded(report["modules"], HEAVY) == [], f"gripctl {report['argv']}"


def test_ledger_reads_do_not_import_the_kubernetes_client(tmp_path: Path) -> None:
    (tmp_path / "gripctl.yaml").write_text("apiVersion: gripctl/v1\n")
    root = ["-C", str(tmp_path)]
    shows = {
        ("runs",): (0, "outcome"),
        ("runs", "show", "1"): (64, ""),  # the empty ledger has no run 1
        ("metrics",): (0, "no data"),
        ("incident", "list"): (0, "no incidents"),
    }
    reports, stderr = _gripctl(*([*root, *argv] for argv in shows), database=tmp_path / "ledger.sqlite")
    assert "no run 1 in the ledger" in stderr
    for report, (code, text) in zip(reports, shows.values(), strict=True):
        assert (report["code"], text in report["stdout"]) == (code, True), stderr
        engine = ("kubernetes", "gripctl.service.deploy", "gripctl.observe.snapshot")
        assert _loaded(report["modules"], engine) == [], f"gripctl {report['argv']}"


def test_on_failure_moved_to_a_light_module_is_the_same_type() -> None:
    from gripctl.engine import options, runner

    assert runner.OnFailure is options.OnFailure
