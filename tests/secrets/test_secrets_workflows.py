"""init, encrypt, decrypt and edit through the real `gripctl secrets` command, with real sops and age."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from secrets_helpers import Identity, decrypt_with, make_platform, tree_digest

from gripctl.secrets.decrypt import read_metadata
from gripctl.secrets.rules import load_rules

COMPONENT = "060-grafana-stack-secrets"
VALUES = {"grafana": {"adminPassword": "correct-horse-battery"}}


def gripctl(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), "secrets", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_a_private_key_rules_and_gitignore(tmp_path: Path, isolated_keys: Path) -> None:
    root = tmp_path / "platform"
    root.mkdir()
    (root / "gripctl.yaml").write_text(
        "apiVersion: gripctl/v1\nenvironments: {staging: {}, production: {}}\n"
    )
    # An existing rule for another path must survive, comments included.
    (root / ".sops.yaml").write_text(
        "# team rules\ncreation_rules:\n  - path_regex: ^legacy/.*\\.yaml$  # old stuff\n"
        "    age: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n"
    )
    result = gripctl(root, "init")
    assert result.returncode == 0, result.stderr
    key_file = isolated_keys / ".config/sops/age/keys.txt"  # sops' default location
    assert _mode(key_file) == 0o600 and _mode(key_file.parent) == 0o700
    public = result.stdout.split("public key: ")[1].split()[0]
    assert public.startswith("age1")
    assert "AGE-SECRET-KEY" not in result.stdout + result.stderr  # never printed
    assert "AGE-SECRET-KEY-1" in key_file.read_text()

    rules = load_rules(root)
    assert rules[0].path_regex == r"^legacy/.*\.yaml$"  # kept, in place
    assert rules[1].path_regex == r"^ops/secrets/.*\.sops\.ya?ml$" and rules[1].recipients == (public,)
    assert "# old stuff" in (root / ".sops.yaml").read_text()
    ignored = (root / ".gitignore").read_text().splitlines()
    assert {"*.dec.yaml", "*.dec.yml", "*.agekey"} <= set(ignored)

    # An environment key in a chosen file inside the repo: appended, 0600, ignored, own rule first.
    env_key = root / "keys" / "production.txt"
    result = gripctl(root, "init", "--env", "production", "--key-file", str(env_key))
    assert result.returncode == 0, result.stderr
    env_public = result.stdout.split("public key: ")[1].split()[0]
    assert _mode(env_key) == 0o600
    assert "/keys/production.txt" in (root / ".gitignore").read_text().splitlines()
    rules = load_rules(root)
    assert [r.path_regex for r in rules] == [
        r"^legacy/.*\.yaml$",
        r"^envs/production/.*\.sops\.ya?ml$",
        r"^ops/secrets/.*\.sops\.ya?ml$",
    ]
    assert rules[1].recipients == (public, env_public)  # people can still edit it
    assert rules[2].recipients == (public, env_public)  # production deploys the shared secrets

    # An existing public key: nothing generated, idempotent.
    result = gripctl(root, "init", "--recipient", public)
    assert result.returncode == 0 and "already lists this key" in result.stdout


def test_init_rejects_bad_input_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "platform"
    root.mkdir()
    (root / "gripctl.yaml").write_text("apiVersion: gripctl/v1\nenvironments: {staging: {}}\n")
    before = tree_digest(root)
    bad = gripctl(root, "init", "--recipient", "age1notakey")
    assert bad.returncode == 64 and "is not an age public key" in bad.stderr
    bad_env = gripctl(root, "init", "--env", "prod")
    assert (
        bad_env.returncode == 64 and "no environment 'prod'" in bad_env.stderr and "staging" in bad_env.stderr
    )
    assert tree_digest(root) == before


def test_encrypt_verifies_round_trip_and_removes_plaintext(tmp_path: Path, alice: Identity) -> None:
    root = make_platform(tmp_path / "platform", [alice.public], {})
    plaintext = root / "ops/secrets" / COMPONENT / "values.dec.yaml"
    plaintext.parent.mkdir(parents=True)
    plaintext.write_text("# admin login\ngrafana:\n  adminPassword: correct-horse-battery\n")
    result = gripctl(root, "encrypt", "060-grafana-stack", env=alice.env())
    assert result.returncode == 0, result.stderr
    assert "round trip verified" in result.stdout
    assert not plaintext.exists()
    target = root / "ops/secrets" / COMPONENT / "values.sops.yaml"
    assert "correct-horse-battery" not in target.read_text()
    meta = read_metadata(target)
    assert meta is not None and meta.recipients == (alice.public,) and meta.has_mac
    assert yaml.safe_load(decrypt_with(alice, target).stdout) == VALUES
    assert [p.name for p in target.parent.iterdir()] == ["values.sops.yaml"]  # no temp files left
    assert _mode(target) == 0o644  # ciphertext: an ordinary repository file


def test_encrypt_not_for_yourself_keeps_the_plaintext(tmp_path: Path, alice: Identity, bob: Identity) -> None:
    root = make_platform(tmp_path / "platform", [alice.public], {})
    plaintext = root / "ops/secrets" / COMPONENT / "values.dec.yaml"
    plaintext.parent.mkdir(parents=True)
    plaintext.write_text("grafana:\n  adminPassword: correct-horse-battery\n")
    before = tree_digest(root)
    result = gripctl(root, "encrypt", COMPONENT, env=bob.env())  # bob is not a recipient
    assert result.returncode == 1
    assert "could not be decrypted back, so it was not written" in result.stderr
    assert tree_digest(root) == before


def test_encrypt_rejects_invalid_yaml_with_its_line(tmp_path: Path, alice: Identity) -> None:
    root = make_platform(tmp_path / "platform", [alice.public], {})
    plaintext = root / "ops/secrets" / COMPONENT / "values.dec.yaml"
    plaintext.parent.mkdir(parents=True)
    plaintext.write_text("grafana:\n  adminPassword: [unclosed\n")
    before = tree_digest(root)
    result = gripctl(root, "encrypt", COMPONENT, env=alice.env())
    assert result.returncode == 2
    assert f"ops/secrets/{COMPONENT}/values.dec.yaml:" in result.stderr and "not valid YAML" in result.stderr
    assert tree_digest(root) == before


def test_decrypt_to_stdout_and_to_a_private_ignored_file(tmp_path: Path, alice: Identity) -> None:
    root = make_platform(tmp_path / "platform", [alice.public], {COMPONENT: VALUES})
    out = gripctl(root, "decrypt", "060-grafana-stack", env=alice.env())
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout) == VALUES

    dest = root / "scratch" / "grafana.yaml"
    result = gripctl(root, "decrypt", COMPONENT, "--to-file", str(dest), env=alice.env())
    assert result.returncode == 0, result.stderr
    assert "writing plaintext secrets" in result.stderr  # warned
    assert _mode(dest) == 0o600
    assert yaml.safe_load(dest.read_text()) == VALUES
    assert "/scratch/grafana.yaml" in (root / ".gitignore").read_text().splitlines()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", str(dest)], check=False)
    assert ignored.returncode == 0  # git really ignores it


def test_unknown_component_lists_the_known_ones(tmp_path: Path, alice: Identity) -> None:
    root = make_platform(tmp_path / "platform", [alice.public], {COMPONENT: VALUES})
    result = gripctl(root, "decrypt", "999-nope", env=alice.env())
    assert result.returncode == 64
    assert "no secrets component '999-nope-secrets'" in result.stderr and COMPONENT in result.stderr


def test_edit_uses_sops_editor_flow(tmp_path: Path, alice: Identity) -> None:
    root = make_platform(tmp_path / "platform", [alice.public], {COMPONENT: VALUES})
    # A non-interactive $EDITOR: sed changes the value in sops' own temp file.
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nsed -i "s/correct-horse-battery/new-horse-battery/" "$1"\n')
    editor.chmod(0o700)
    result = gripctl(root, "edit", COMPONENT, env={**alice.env(), "EDITOR": str(editor)})
    assert result.returncode == 0, result.stderr
    assert "saved and re-encrypted" in result.stdout
    path = root / "ops/secrets" / COMPONENT / "values.sops.yaml"
    assert yaml.safe_load(decrypt_with(alice, path).stdout) == {
        "grafana": {"adminPassword": "new-horse-battery"}
    }

    unchanged = gripctl(root, "edit", COMPONENT, env={**alice.env(), "EDITOR": "true"})
    assert unchanged.returncode == 0 and "no changes" in unchanged.stdout


def test_edit_with_wrong_key_fails_before_the_editor(tmp_path: Path, alice: Identity, bob: Identity) -> None:
    root = make_platform(tmp_path / "platform", [alice.public], {COMPONENT: VALUES})
    marker = tmp_path / "editor-ran"
    before = tree_digest(root)
    result = gripctl(root, "edit", COMPONENT, env={**bob.env(), "EDITOR": f"touch {marker}"})
    assert result.returncode == 1
    assert "wrong age key" in result.stderr and alice.public in result.stderr
    assert not marker.exists()
    assert tree_digest(root) == before


def test_rotate_cli_prints_the_deploy_command(tmp_path: Path, alice: Identity) -> None:
    root = make_platform(tmp_path / "platform", [alice.public], {COMPONENT: VALUES})
    (root / "gripctl.yaml").write_text(
        (root / "gripctl.yaml").read_text()
        + f"secrets_rotation:\n  {COMPONENT}:\n"
        + "    grafana.adminPassword: {generator: password, length: 24}\n"
    )
    result = gripctl(root, "rotate", "060-grafana-stack", "-e", "staging", env=alice.env())
    assert result.returncode == 0, result.stderr
    assert "gripctl deploy -e staging --only 060-grafana-stack --include-dependents" in result.stdout
    new = yaml.safe_load(decrypt_with(alice, root / "ops/secrets" / COMPONENT / "values.sops.yaml").stdout)
    assert new["grafana"]["adminPassword"] not in result.stdout + result.stderr  # the value is never shown
    assert len(new["grafana"]["adminPassword"]) == 24


@pytest.mark.parametrize("command", [["decrypt", COMPONENT], ["check"]])
def test_json_output(tmp_path: Path, alice: Identity, command: list[str]) -> None:
    root = make_platform(tmp_path / "platform", [alice.public], {COMPONENT: VALUES})
    result = subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-o", "json", "-C", str(root), "secrets", *command],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **alice.env()},
    )
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout) is not None
