"""check_secrets: findings for each way secrets go wrong, and a clean bill for a healthy platform."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from secrets_helpers import Identity, make_identity, make_platform, tree_digest, write_sops_config

from gripctl.secrets import SecretFinding, check_secrets, decrypt_values, secret_leaves, workflows

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webgrip"
VALUES = {"db": {"password": "database-password-1"}}


def _ids(findings: list[SecretFinding]) -> list[tuple[str, str, str]]:
    return sorted((f.check, f.severity, f.path) for f in findings)


@pytest.fixture
def platform(tmp_path: Path, alice: Identity, bob: Identity) -> Path:
    return make_platform(
        tmp_path / "platform",
        [alice.public, bob.public],
        {"010-a-secrets": VALUES, "020-b-secrets": {"token": "api-token-value-2"}},
    )


def test_healthy_platform_has_no_findings(
    platform: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    assert check_secrets(platform) == []


def test_each_problem_is_a_finding_and_check_changes_nothing(
    platform: Path, tmp_path: Path, alice: Identity, bob: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    a = platform / "ops/secrets/010-a-secrets/values.sops.yaml"
    # a: tampered value; b: bob removed from the rules but still a recipient (stale); c: plaintext.
    text = a.read_text()
    i = text.index("password: ENC[AES256_GCM,data:") + len("password: ENC[AES256_GCM,data:")
    a.write_text(text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1 :])
    carol = make_identity(tmp_path / "keys" / "carol.agekey")
    write_sops_config(platform, [alice.public, carol.public])
    plain = platform / "ops/secrets/030-c-secrets/values.sops.yaml"
    plain.parent.mkdir(parents=True)
    plain.write_text("password: in-the-clear\n")
    # Tracked: a plaintext values file and a real private key; a TEST ONLY key is only info.
    (platform / "leftover.dec.yaml").write_text("password: oops\n")
    (platform / "keys").mkdir()
    (platform / "keys/ci.agekey").write_bytes(bob.key_file.read_bytes())
    (platform / "keys/demo.agekey").write_text("# TEST ONLY - public demo key\n" + alice.key_file.read_text())
    subprocess.run(["git", "init", "-q", str(platform)], check=True)
    subprocess.run(["git", "-C", str(platform), "add", "-f", "."], check=True)
    before = tree_digest(platform)

    findings = check_secrets(platform)
    assert _ids(findings) == [
        ("secrets-mac", "error", "ops/secrets/010-a-secrets/values.sops.yaml"),
        ("secrets-plaintext", "error", "ops/secrets/030-c-secrets/values.sops.yaml"),
        ("secrets-recipients", "error", "ops/secrets/010-a-secrets/values.sops.yaml"),
        ("secrets-recipients", "error", "ops/secrets/020-b-secrets/values.sops.yaml"),
        ("secrets-recipients", "warning", "ops/secrets/010-a-secrets/values.sops.yaml"),
        ("secrets-recipients", "warning", "ops/secrets/020-b-secrets/values.sops.yaml"),
        ("secrets-tracked", "error", "keys/ci.agekey"),
        ("secrets-tracked", "error", "leftover.dec.yaml"),
        ("secrets-tracked", "info", "keys/demo.agekey"),
    ]
    stale = next(f for f in findings if f.check == "secrets-recipients" and f.severity == "error")
    assert bob.public in stale.message and "updatekeys" in (stale.hint or "")
    missing = next(f for f in findings if f.check == "secrets-recipients" and f.severity == "warning")
    assert carol.public in missing.message
    assert all("AGE-SECRET-KEY" not in f.message + (f.hint or "") for f in findings)
    assert tree_digest(platform) == before


def test_wrong_or_missing_key_and_missing_rules(
    platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _ids(check_secrets(platform)) == [("secrets-no-key", "warning", ".sops.yaml")]
    mallory = make_identity(tmp_path / "keys" / "mallory.agekey")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(mallory.key_file))
    findings = check_secrets(platform)
    assert [(f.check, f.severity) for f in findings] == [("secrets-decrypt", "error")] * 2
    assert "wrong age key" in findings[0].message
    (platform / ".sops.yaml").write_text(yaml.safe_dump({"creation_rules": [{"path_regex": "^nope/"}]}))
    assert {f.check for f in check_secrets(platform)} == {"secrets-rule", "secrets-decrypt"}


def test_updatekeys_clears_recipient_findings(
    platform: Path, tmp_path: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    write_sops_config(platform, [alice.public])
    assert {f.check for f in check_secrets(platform)} == {"secrets-recipients"}
    workflows.updatekeys(platform)
    assert check_secrets(platform) == []


def test_init_adds_to_an_existing_rule_with_another_regex(
    platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, alice: Identity
) -> None:
    """A hand-written rule (like the example platform's) is the one sops uses: the key goes there."""
    write_sops_config(platform, [alice.public], regex=r"ops/secrets/[^/]+-secrets/values\.sops\.yaml$")
    carol = make_identity(tmp_path / "keys" / "carol.agekey")
    workflows.init(platform, recipient=carol.public)
    rules = yaml.safe_load((platform / ".sops.yaml").read_text())["creation_rules"]
    assert len(rules) == 1 and rules[0]["age"] == f"{alice.public},{carol.public}"


@pytest.mark.skipif(
    not (EXAMPLE / "keys/test-only.agekey").is_file() or not (EXAMPLE / ".sops.yaml").is_file(),
    reason="the example platform is not there yet",
)
def test_example_platform_passes_with_its_test_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(EXAMPLE / "keys/test-only.agekey"))
    findings = check_secrets(EXAMPLE)
    assert [f for f in findings if f.severity != "info"] == []
    files = sorted((EXAMPLE / "ops/secrets").glob("*/values.sops.yaml"))
    assert files
    # Only values sops encrypted count as secrets: names and hosts left in the clear are not masked.
    grafana = EXAMPLE / "ops/secrets/060-grafana-stack-secrets/values.sops.yaml"
    if grafana.is_file():
        plain = decrypt_values(grafana, root=EXAMPLE)
        precise = secret_leaves(plain, grafana.read_bytes())
        assert precise and precise < secret_leaves(plain)


def test_missing_tools_and_broken_rules_are_findings(
    platform: Path, tmp_path: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gripctl.adapters.toolchain import find_tool

    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    (platform / ".sops.yaml").write_text("creation_rules: [unclosed\n")
    broken = check_secrets(platform)
    assert [(f.check, f.severity) for f in broken] == [("secrets-rule", "error")]
    assert "not valid YAML" in broken[0].message
    write_sops_config(platform, [alice.public])
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("GRIPCTL_TOOLCHAIN_BIN", str(empty))
    monkeypatch.setenv("PATH", str(empty))
    find_tool.cache_clear()
    try:
        findings = check_secrets(platform)
    finally:
        find_tool.cache_clear()
    assert [(f.check, f.severity) for f in findings] == [("secrets-tools", "error")]
    assert "is not installed" in findings[0].message and "make setup" in (findings[0].hint or "")
