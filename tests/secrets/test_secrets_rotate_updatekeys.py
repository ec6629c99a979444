"""rotate and updatekeys on a temporary platform with real sops and age and a real SQLite ledger."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from secrets_helpers import (
    Identity,
    decrypt_with,
    make_identity,
    make_platform,
    tree_digest,
    write_sops_config,
)

from gripctl.errors import SecretsError, UsageError
from gripctl.ledger import open_ledger
from gripctl.secrets import rotation, workflows
from gripctl.secrets.decrypt import read_metadata

COMPONENT = "060-grafana-stack-secrets"
VALUES = {
    "grafana": {"adminPassword": "old-admin-password", "secretKey": "old-secret-key-value", "port": 3000},
    "api": {"token": "old-api-token-value"},
    "untouched": "keep-this-value",
}


@pytest.fixture
def platform(tmp_path: Path, alice: Identity, bob: Identity) -> Path:
    root = make_platform(tmp_path / "platform", [alice.public, bob.public], {COMPONENT: VALUES})
    (root / "gripctl.yaml").write_text(
        (root / "gripctl.yaml").read_text()
        + "ledger:\n  url: sqlite:///.gripctl/ledger.sqlite\n"
        + "secrets_rotation:\n"
        + f"  {COMPONENT}:\n"
        + "    grafana.adminPassword: {generator: password, length: 40, alphabet: alnum}\n"
        + "    grafana.secretKey: {generator: bytes, length: 32}\n"
        + '    api.token: {generator: command, command: ["python3", "-c", "print(\'tok-\' + \'x\' * 20)"]}\n'
    )
    return root


def _file(root: Path) -> Path:
    return root / "ops/secrets" / COMPONENT / "values.sops.yaml"


def test_updatekeys_removes_a_recipient_for_good(
    platform: Path, alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(platform)
    assert decrypt_with(bob, path).returncode == 0  # bob can read it before
    write_sops_config(platform, [alice.public])  # bob leaves the team
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    updates = workflows.updatekeys(platform)
    assert [u.path for u in updates] == [path]
    assert set(updates[0].before) == {alice.public, bob.public}
    assert updates[0].after == (alice.public,)
    assert updates[0].rotated  # the data key bob may have kept is gone too
    meta = read_metadata(path)
    assert meta is not None and meta.recipients == (alice.public,)
    gone = decrypt_with(bob, path)
    assert gone.returncode == 128, gone.stderr  # bob's key no longer opens it
    kept = decrypt_with(alice, path)
    assert kept.returncode == 0 and yaml.safe_load(kept.stdout) == VALUES

    again = workflows.updatekeys(platform)  # idempotent: nothing to change, nothing rotated
    assert not again[0].changed and not again[0].rotated


def test_updatekeys_adds_a_recipient(
    platform: Path, tmp_path: Path, alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    carol = make_identity(tmp_path / "keys" / "carol.agekey")
    assert decrypt_with(carol, _file(platform)).returncode == 128
    write_sops_config(platform, [alice.public, bob.public, carol.public])
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(bob.key_file))
    workflows.updatekeys(platform)
    assert yaml.safe_load(decrypt_with(carol, _file(platform)).stdout) == VALUES


def test_updatekeys_without_a_key_changes_nothing(platform: Path, alice: Identity) -> None:
    write_sops_config(platform, [alice.public])
    before = tree_digest(platform)
    with pytest.raises(SecretsError, match="no age key available"):
        workflows.updatekeys(platform)
    assert tree_digest(platform) == before


def test_rotate_changes_exactly_the_named_keys_and_records_names_only(
    platform: Path, alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    monkeypatch.setenv("GRIPCTL_ACTOR", "alice@example.com")
    result = rotation.rotate(
        platform, "060-grafana-stack", ["grafana.adminPassword", "api.token"], environment="staging"
    )
    assert result.keys == ("grafana.adminPassword", "api.token")
    assert result.ledger_problem is None
    after = yaml.safe_load(decrypt_with(alice, _file(platform)).stdout)
    new_password = after["grafana"]["adminPassword"]
    assert new_password != VALUES["grafana"]["adminPassword"]
    assert len(new_password) == 40 and new_password.isalnum()
    assert after["api"]["token"] == "tok-" + "x" * 20  # from the command generator
    # Everything else is exactly as it was.
    assert after["grafana"]["secretKey"] == VALUES["grafana"]["secretKey"]
    assert after["grafana"]["port"] == 3000
    assert after["untouched"] == "keep-this-value"
    # Still encrypted for the rule's recipients.
    meta = read_metadata(_file(platform))
    assert meta is not None and set(meta.recipients) == {alice.public, bob.public}

    with open_ledger(f"sqlite:///{platform / '.gripctl/ledger.sqlite'}") as ledger:
        rows = ledger.secret_rotations(COMPONENT)
    assert len(rows) == 1
    row = rows[0]
    assert row.actor == "alice@example.com" and row.environment == "staging"
    assert sorted(row.keys) == ["api.token", "grafana.adminPassword"]
    assert new_password not in repr(row) and "tok-xxxx" not in repr(row)
    ledger_bytes = (platform / ".gripctl/ledger.sqlite").read_bytes()
    assert new_password.encode() not in ledger_bytes


def test_rotate_all_configured_keys_by_default(
    platform: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    result = rotation.rotate(platform, COMPONENT)
    assert set(result.keys) == {"grafana.adminPassword", "grafana.secretKey", "api.token"}
    after = yaml.safe_load(decrypt_with(alice, _file(platform)).stdout)
    assert len(base64.b64decode(after["grafana"]["secretKey"])) == 32
    assert after["untouched"] == "keep-this-value"


def test_rotate_unknown_key_changes_nothing(
    platform: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    before = tree_digest(platform)
    with pytest.raises(UsageError) as err:
        rotation.rotate(platform, COMPONENT, ["grafana.nope"])
    assert "no rotation generator for grafana.nope" in str(err.value)
    assert "grafana.adminPassword" in str(err.value)  # lists the configured keys
    assert tree_digest(platform) == before


def test_rotate_with_failing_generator_changes_nothing(
    platform: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    config = platform / "gripctl.yaml"
    config.write_text(config.read_text().replace('"python3", "-c"', '"false", "-c"'))
    before = tree_digest(platform)
    with pytest.raises(SecretsError, match=r"generator command for api\.token"):
        rotation.rotate(platform, COMPONENT, ["grafana.adminPassword", "api.token"])
    assert tree_digest(platform) == before
