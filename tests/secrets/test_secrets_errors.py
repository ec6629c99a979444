"""Bad input: each fails with a message that names the file and the next step, and changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from secrets_helpers import Identity, make_identity, make_platform, tree_digest

from gripctl.adapters.toolchain import find_tool
from gripctl.errors import SecretsError, ToolMissingError
from gripctl.secrets import decrypt_values, workflows

VALUES = {"grafana": {"adminPassword": "correct-horse-battery", "port": 3000}}


@pytest.fixture
def platform(tmp_path: Path, alice: Identity, bob: Identity) -> Path:
    return make_platform(
        tmp_path / "platform", [alice.public, bob.public], {"060-grafana-stack-secrets": VALUES}
    )


def _file(root: Path) -> Path:
    return root / "ops/secrets/060-grafana-stack-secrets/values.sops.yaml"


def test_no_age_key_lists_the_files_recipients(platform: Path, alice: Identity, bob: Identity) -> None:
    before = tree_digest(platform)
    with pytest.raises(SecretsError) as err:
        decrypt_values(_file(platform), root=platform)
    text = str(err.value)
    assert "no age key available to decrypt ops/secrets/060-grafana-stack-secrets/values.sops.yaml" in text
    assert alice.public in text and bob.public in text  # which recipients the file needs
    assert "SOPS_AGE_KEY_FILE" in text  # what to do next
    assert "AGE-SECRET-KEY" not in text
    assert tree_digest(platform) == before


def test_wrong_key_names_both_sides(
    platform: Path, tmp_path: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    mallory = make_identity(tmp_path / "keys" / "mallory.agekey")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(mallory.key_file))
    before = tree_digest(platform)
    with pytest.raises(SecretsError) as err:
        decrypt_values(_file(platform), root=platform)
    text = str(err.value)
    assert text.startswith("wrong age key for ops/secrets/060-grafana-stack-secrets/values.sops.yaml")
    assert mallory.public in text  # ours, by public key only
    assert alice.public in text  # the file's recipients
    assert "AGE-SECRET-KEY" not in text
    assert tree_digest(platform) == before


def test_key_from_sops_age_key_variable_is_used(
    platform: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY", alice.key_file.read_text())
    assert yaml.safe_load(decrypt_values(_file(platform), root=platform)) == VALUES


def test_default_key_file_is_used(platform: Path, alice: Identity, isolated_keys: Path) -> None:
    default = isolated_keys / ".config" / "sops" / "age" / "keys.txt"
    default.parent.mkdir(parents=True)
    default.write_bytes(alice.key_file.read_bytes())
    assert yaml.safe_load(decrypt_values(_file(platform), root=platform)) == VALUES


@pytest.mark.parametrize("what", ["value", "mac"])
def test_tampered_file_fails_its_integrity_check(
    platform: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    path = _file(platform)
    text = path.read_text()
    if what == "value":
        # Flip one character of the encrypted password's ciphertext.
        match = re.search(r"adminPassword: ENC\[AES256_GCM,data:(.)", text)
    else:
        match = re.search(r"mac: ENC\[AES256_GCM,data:(.)", text)
    assert match is not None
    i = match.start(1)
    path.write_text(text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :])
    before = tree_digest(platform)
    with pytest.raises(SecretsError) as err:
        decrypt_values(path, root=platform)
    assert "failed its integrity check" in str(err.value)
    assert "ops/secrets/060-grafana-stack-secrets/values.sops.yaml" in str(err.value)
    assert "restore the file" in str(err.value)
    assert tree_digest(platform) == before


def test_plaintext_where_encrypted_expected(
    platform: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    path = _file(platform)
    path.write_text(yaml.safe_dump(VALUES))
    before = tree_digest(platform)
    with pytest.raises(SecretsError) as err:
        decrypt_values(path, root=platform)
    assert "is not SOPS-encrypted" in str(err.value)
    assert "plaintext where an encrypted file is expected" in str(err.value)
    assert "gripctl secrets encrypt" in str(err.value)
    assert tree_digest(platform) == before


def test_no_matching_rule_blocks_encrypt(
    platform: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    (platform / ".sops.yaml").write_text(
        yaml.safe_dump({"creation_rules": [{"path_regex": r"^elsewhere/.*", "age": alice.public}]})
    )
    plaintext = platform / "ops/secrets/070-new-secrets/values.dec.yaml"
    plaintext.parent.mkdir(parents=True)
    plaintext.write_text("token: abcdefghij\n")
    before = tree_digest(platform)
    with pytest.raises(SecretsError) as err:
        workflows.encrypt(platform, "070-new")
    text = str(err.value)
    assert "no creation rule in .sops.yaml matches ops/secrets/070-new-secrets/values.sops.yaml" in text
    assert "'^elsewhere/.*'" in text  # shows the rules it tried
    assert tree_digest(platform) == before  # plaintext kept, nothing encrypted


def test_no_matching_rule_blocks_updatekeys(
    platform: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    (platform / ".sops.yaml").write_text(
        yaml.safe_dump({"creation_rules": [{"path_regex": r"^elsewhere/.*", "age": alice.public}]})
    )
    before = tree_digest(platform)
    with pytest.raises(SecretsError, match="no creation rule"):
        workflows.updatekeys(platform)
    assert tree_digest(platform) == before


@pytest.mark.parametrize("tool", ["sops", "age-keygen"])
def test_missing_tools_say_how_to_install(
    platform: Path, tmp_path: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch, tool: str
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    monkeypatch.setenv("GRIPCTL_TOOLCHAIN_BIN", str(empty))
    monkeypatch.setenv("PATH", str(empty))
    find_tool.cache_clear()
    before = tree_digest(platform)
    try:
        with pytest.raises(ToolMissingError) as err:
            if tool == "sops":
                decrypt_values(_file(platform), root=platform)
            else:
                workflows.init(platform)
    finally:
        find_tool.cache_clear()
    assert f"`{tool}` is not installed" in str(err.value)
    assert "make setup" in str(err.value)
    assert tree_digest(platform) == before
