"""The CLI's global contract: --version, --help, and GripErrors as messages with exit codes."""

from __future__ import annotations

import subprocess
import sys

from gripctl import __version__
from gripctl.errors import ConfigError, Location


def _gripctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", *args], capture_output=True, text=True, check=False
    )


def test_version_prints_package_version() -> None:
    result = _gripctl("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"gripctl {__version__}"


def test_help_lists_global_output_option() -> None:
    result = _gripctl("--help")
    assert result.returncode == 0
    assert "--output" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = _gripctl("no-such-command")
    assert result.returncode == 64
    assert "no-such-command" in result.stderr


def test_error_message_names_location_and_hint() -> None:
    err = ConfigError(
        "unknown key 'neds'", hint="did you mean 'needs'?", location=Location("gripctl.yaml", 4, 5)
    )
    assert str(err) == "gripctl.yaml:4:5: unknown key 'neds'\n  hint: did you mean 'needs'?"
    assert err.exit_code == 2
