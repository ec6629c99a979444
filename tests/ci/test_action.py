"""action.yml, the composite action a platform repository `uses:` to get gripctl and its toolchain.

GitHub runs its `uses:` steps (setup-python, setup-go, cache) itself; its own shell steps are run here
as the runner runs them (bash -e -o pipefail, with GITHUB_ACTION_PATH, RUNNER_TEMP and the GITHUB_OUTPUT,
GITHUB_PATH and GITHUB_ENV files): the cache keys, the locked install of gripctl, the toolchain.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gripctl import __version__
from gripctl.adapters.toolchain import find_tool

REPO = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
STEPS = {step["id"]: step for step in ACTION["runs"]["steps"] if "id" in step}


def _run_step(step_id: str, action_path: Path, tmp_path: Path) -> dict[str, str]:
    """Run one shell step of the action; returns what it wrote to GITHUB_OUTPUT, GITHUB_PATH, GITHUB_ENV."""
    step = STEPS[step_id]
    assert step["shell"] == "bash"
    defaults = {name: spec["default"] for name, spec in ACTION["inputs"].items()}
    step_env = {
        key: re.sub(r"\$\{\{ inputs\.([a-z-]+) \}\}", lambda m: defaults[m.group(1)], str(value))
        for key, value in (step.get("env") or {}).items()
    }
    files = {name: tmp_path / f"{step_id}.{name}" for name in ("GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_ENV")}
    for path in files.values():
        path.write_text("")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        **step_env,
        **{name: str(path) for name, path in files.items()},
        "GITHUB_ACTION_PATH": str(action_path),
        "RUNNER_TEMP": str(runner_temp),
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, f"step {step_id} failed:\n{done.stdout}\n{done.stderr}"
    return {name: path.read_text() for name, path in files.items()}


def _outputs(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_every_expression_names_a_declared_input_or_step() -> None:
    text = (REPO / "action.yml").read_text()
    inputs = set(re.findall(r"\$\{\{ inputs\.([a-z-]+) \}\}", text)) | set(
        re.findall(r"inputs\.([a-z-]+) ==", text)
    )
    assert inputs and inputs <= set(ACTION["inputs"])
    assert set(re.findall(r"steps\.([a-z-]+)\.outputs", text)) <= set(STEPS)
    assert ACTION["runs"]["using"] == "composite"
    for step in ACTION["runs"]["steps"]:
        assert ("uses" in step) != ("run" in step)
        if "run" in step:
            assert step["shell"] == "bash"
    assert {s["uses"].split("@")[0] for s in ACTION["runs"]["steps"] if "uses" in s} == {
        "actions/setup-python",
        "actions/setup-go",
        "actions/cache",
    }


def _action_copy(tmp_path: Path) -> Path:
    """What the cache keys read: tools/, scripts/toolchain.sh and uv.lock."""
    copy = tmp_path / "action"
    shutil.copytree(REPO / "tools", copy / "tools")
    (copy / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "toolchain.sh", copy / "scripts" / "toolchain.sh")
    shutil.copy(REPO / "uv.lock", copy / "uv.lock")
    return copy


def test_the_cache_keys_follow_the_pins_and_the_lock(tmp_path: Path) -> None:
    action = _action_copy(tmp_path)
    first = _outputs(_run_step("keys", action, tmp_path)["GITHUB_OUTPUT"])
    assert first["toolchain"].startswith("gripctl-toolchain-Linux-X64-go1.26-")
    assert first["python"].startswith("gripctl-uv-Linux-X64-py3.11-")
    assert _outputs(_run_step("keys", action, tmp_path)["GITHUB_OUTPUT"]) == first  # stable
    pins = action / "tools" / "versions.env"
    pins.write_text(pins.read_text().replace("HELM_VERSION=", "HELM_VERSION=v0.0.0-"))
    second = _outputs(_run_step("keys", action, tmp_path)["GITHUB_OUTPUT"])
    assert second["toolchain"] != first["toolchain"] and second["python"] == first["python"]
    (action / "uv.lock").write_text((action / "uv.lock").read_text() + "\n")
    third = _outputs(_run_step("keys", action, tmp_path)["GITHUB_OUTPUT"])
    assert third["python"] != second["python"] and third["toolchain"] == second["toolchain"]


@pytest.mark.timeout(600)
def test_the_install_step_puts_the_locked_gripctl_on_path(tmp_path: Path) -> None:
    written = _run_step("install", REPO, tmp_path)
    [bin_dir] = written["GITHUB_PATH"].split()
    assert _outputs(written["GITHUB_OUTPUT"]) == {"version": __version__}
    done = subprocess.run([f"{bin_dir}/gripctl", "ci", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "init" in done.stdout
    # not an editable install of this checkout: the package (and its data) lives in the environment
    site = subprocess.run(
        [f"{bin_dir}/python", "-c", "import gripctl, sys; sys.stdout.write(gripctl.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(tmp_path) in site and str(REPO / "src") not in site


def test_the_toolchain_step_puts_the_pinned_tools_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step in a private cache (GRIPCTL_CACHE), so that the shared cache's `current` toolchain is not
    switched to the deploy set under other sessions; the components already built are linked into it,
    so nothing is rebuilt."""
    cache = tmp_path / "cache"
    (cache / "toolchain" / "components").mkdir(parents=True)
    keys = subprocess.run(
        [str(REPO / "scripts" / "toolchain.sh"), "--deploy", "--keys"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    shared = Path(find_tool("helm")).resolve().parent.parent.parent  # .../toolchain/components
    for name, key in (line.split() for line in keys if line.strip()):
        built = shared / f"{name}-{key}"
        assert (built / ".complete").is_file(), f"{built}: run `make setup` first"
        (cache / "toolchain" / "components" / f"{name}-{key}").symlink_to(built)
    monkeypatch.setenv("GRIPCTL_CACHE", str(cache))
    written = _run_step("toolchain", REPO, tmp_path)
    [bin_dir] = written["GITHUB_PATH"].split()
    assert sorted(p.name for p in Path(bin_dir).iterdir()) == [
        "age",
        "age-keygen",
        "gripctl-helmd",
        "helm",
        "sops",
    ]
    assert Path(bin_dir).is_relative_to(cache)
    assert written["GITHUB_ENV"].strip() == f"GRIPCTL_TOOLCHAIN_BIN={bin_dir}"
    assert _outputs(written["GITHUB_OUTPUT"]) == {"bin": bin_dir}
    helm = subprocess.run(
        [f"{bin_dir}/helm", "version", "--short"], capture_output=True, text=True, check=True
    )
    pins = (REPO / "tools" / "versions.env").read_text()
    assert re.search(r"^HELM_VERSION=(\S+)", pins, re.M)[1] in helm.stdout  # type: ignore[index]
