"""Command-line conventions people expect from kubectl and helm: global options anywhere, one spelling
of -e/--environment (with its env var) on every command, no value placeholder on flags, and tables
that fit the screen, with the full text one option away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from gripctl.cli import app as cli_app
from gripctl.cli.app import hoist_global_options
from gripctl.ledger import open_ledger
from gripctl.ledger.types import RunKind, RunOutcome

WEBGRIP = Path(__file__).resolve().parents[2] / "examples" / "webgrip"


def gripctl(*args: str, columns: int = 80, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": str(columns), **env},
        check=False,
    )


@pytest.mark.parametrize(
    ("argv", "hoisted"),
    [
        (["plan", "-e", "staging", "-o", "json"], ["-o", "json", "plan", "-e", "staging"]),
        (["plan", "-ojson", "-C", "/r"], ["-o", "json", "-C", "/r", "plan"]),
        (["--output=json", "runs", "-v"], ["--output=json", "-v", "runs"]),
        (["secrets", "edit", "x", "--", "-o"], ["secrets", "edit", "x", "--", "-o"]),
        (["validate", "--root", "/r", "--only", "a"], ["--root", "/r", "validate", "--only", "a"]),
    ],
)
def test_global_options_are_moved_in_front_of_the_command(argv: list[str], hoisted: list[str]) -> None:
    assert hoist_global_options(argv) == hoisted


def test_global_options_after_the_command_mean_the_same() -> None:
    after = gripctl("graph", "-C", str(WEBGRIP), "-e", "staging", "-o", "json")
    before = gripctl("-o", "json", "-C", str(WEBGRIP), "graph", "-e", "staging")
    assert after.returncode == before.returncode == 0, after.stderr + before.stderr
    assert after.stdout == before.stdout and '"critical_path"' in after.stdout


def _commands() -> list[tuple[str, Any]]:
    """Every command and subcommand (Typer vendors click privately: groups are known by `commands`)."""
    cli_app.register_commands(["--help"])
    root = typer.main.get_command(cli_app.app)
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, cmd: Any) -> None:
        out.append((prefix, cmd))
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(f"{prefix} {name}".strip(), sub)

    walk("", root)
    return out


def test_environment_is_one_option_everywhere() -> None:
    seen = 0
    for name, cmd in _commands():
        for param in cmd.params:
            if param.name in ("environment", "env"):
                seen += 1
                assert "--environment" in param.opts and "-e" in param.opts, f"gripctl {name}: {param.opts}"
                assert param.envvar == "GRIPCTL_ENVIRONMENT", f"gripctl {name} has no GRIPCTL_ENVIRONMENT"
    assert seen >= 15  # every command that acts on an environment


def test_flags_show_no_value_placeholder() -> None:
    for args, flag in ((["deploy", "--help"], "--serial"), (["plan", "--help"], "--show-unchanged")):
        shown = gripctl(*args, columns=120)
        assert shown.returncode == 0 and flag in shown.stdout
        assert "<bool>" not in shown.stdout, f"gripctl {' '.join(args)}"


def _ledger_with_a_long_error(root: Path) -> str:
    (root / "gripctl.yaml").write_text(
        "apiVersion: gripctl/v1\nenvironments: {staging: {}, production-eu-west-1: {}}\n"
    )
    (root / ".gripctl").mkdir()
    ledger = open_ledger(f"sqlite:///{root / '.gripctl' / 'ledger.sqlite'}")
    error = (
        "020-cluster-issuers: pod issuer-7c9f: container issuer CrashLoopBackOff "
        "(restarts: 3, last exit code 1);\n"
        "last event: BackOff: Back-off restarting failed container issuer in pod issuer-7c9f_cert-manager;\n"
        "rolled back to revision 4 (as revision 6), healthy"
    )
    for env in ("staging", "production-eu-west-1"):
        run = ledger.start_run(env, RunKind.deploy, "alice", "a" * 40, None)
        ledger.finish_run(run, RunOutcome.rolled_back, error)
    return error


def test_runs_fit_80_columns_and_wide_shows_everything(tmp_path: Path) -> None:
    error = _ledger_with_a_long_error(tmp_path)
    shown = gripctl("-C", str(tmp_path), "runs")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.rstrip("\n").splitlines()
    assert len(lines) == 3, shown.stdout  # the header and one line per run
    assert all(len(line) <= 80 for line in lines), shown.stdout
    assert lines[0].split() == ["run", "env", "kind", "actor", "started", "took", "outcome", "error"]
    assert "…" in lines[1] and "production-eu-west-1" in shown.stdout

    wide = gripctl("-C", str(tmp_path), "runs", "-o", "wide")
    assert len(wide.stdout.rstrip("\n").splitlines()) == 3
    assert " ".join(error.split()) in wide.stdout  # the whole error, on its run's line


def test_metrics_headers_are_never_cut(tmp_path: Path) -> None:
    _ledger_with_a_long_error(tmp_path)
    shown = gripctl("-C", str(tmp_path), "metrics")
    assert shown.returncode == 0, shown.stderr
    assert all(len(line) <= 80 for line in shown.stdout.splitlines()), shown.stdout
    header = next(line for line in shown.stdout.splitlines() if "band" in line)
    for name in ("environment", "deploys", "per day", "lead time", "failure rate", "restore", "recovery"):
        assert name in header, header


def test_json_errors_are_documents_wherever_the_option_is(tmp_path: Path) -> None:
    (tmp_path / "gripctl.yaml").write_text("apiVersion: gripctl/v1\n")
    done = gripctl("-C", str(tmp_path), "runs", "show", "7", "-o", "json")
    assert done.returncode == 64
    assert '"error": "UsageError"' in done.stdout and "no run 7" in done.stdout
    assert done.stdout.count("\n") == 1  # the error document is the only thing on stdout
