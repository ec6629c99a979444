"""What the pull-request workflow's validate step relies on: annotations and a SARIF file from one run,
with paths from the repository root (the platform may live in a folder of it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEBGRIP = REPO / "examples" / "webgrip"


def _validate(top: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(WEBGRIP / "keys" / "test-only.agekey")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gripctl.cli.app",
            "-C",
            str(top / "platform"),
            "validate",
            "-e",
            "staging",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _repository(tmp_path: Path) -> Path:
    top = tmp_path / "repo"
    shutil.copytree(WEBGRIP, top / "platform", ignore=shutil.ignore_patterns(".gripctl", "site"))
    subprocess.run(["git", "init", "-q"], cwd=top, check=True)
    values = top / "platform" / "envs" / "staging" / "values.yaml"
    values.write_text(values.read_text() + "extra: 1   \n")  # yamllint: trailing spaces
    return top


def test_one_run_annotates_inline_and_writes_sarif_with_repository_paths(tmp_path: Path) -> None:
    top = _repository(tmp_path)
    line = len((top / "platform/envs/staging/values.yaml").read_text().splitlines())
    sarif = tmp_path / "gripctl.sarif"
    done = _validate(top, "--format", "github", "--sarif", str(sarif))
    assert done.returncode == 1, done.stdout + done.stderr  # a yamllint error fails validate
    expected = f"::error file=platform/envs/staging/values.yaml,line={line},title=yamllint::trailing spaces"
    assert any(row.startswith(expected) for row in done.stdout.splitlines()), done.stdout
    log = json.loads(sarif.read_text())
    located = [r for r in log["runs"][0]["results"] if r.get("locations")]
    [physical] = [r["locations"][0]["physicalLocation"] for r in located if r["ruleId"] == "yamllint"]
    assert physical["artifactLocation"]["uri"] == "platform/envs/staging/values.yaml"
    assert physical["region"]["startLine"] == line


def test_an_unwritable_sarif_path_is_an_error_naming_it(tmp_path: Path) -> None:
    top = _repository(tmp_path)
    target = tmp_path / "missing-folder" / "gripctl.sarif"
    done = _validate(top, "--sarif", str(target))
    assert done.returncode == 64
    assert f"cannot write the SARIF report to {target}: No such file or directory" in done.stderr
    assert not target.parent.exists()
