"""Values for deploys: in-memory decryption and merge, masking, and the no-plaintext-on-disk proof."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from plaintext_watch import PlaintextWatch
from secrets_helpers import Identity, make_platform, random_secret

from gripctl.adapters import helm
from gripctl.model.types import SecretsSource
from gripctl.secrets import decrypt_values, mask, merged_values, secret_leaves

CHART_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-admin
data:
  password: {{ .Values.grafana.adminPassword | b64enc }}
  token: {{ .Values.api.token | b64enc }}
"""


def _chart(root: Path) -> Path:
    chart = root / "ops/helm/060-grafana-stack"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: grafana-stack\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("grafana: {adminPassword: ''}\napi: {token: ''}\n")
    (chart / "templates/secret.yaml").write_text(CHART_SECRET)
    return chart


def test_decrypt_then_helm_template_writes_no_plaintext(
    tmp_path: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch, plaintext_watch: PlaintextWatch
) -> None:
    password, token = random_secret("pw"), random_secret("tok")
    # Built before the watch matters: encryption is not the deploy path.
    root = make_platform(
        tmp_path / "platform",
        [alice.public],
        {
            "060-grafana-stack-secrets": {"grafana": {"adminPassword": password}},
            "061-extra-secrets": {"api": {"token": token}},
        },
    )
    chart = _chart(root)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))

    sources = [
        SecretsSource(Path("ops/secrets/060-grafana-stack-secrets/values.sops.yaml")),
        SecretsSource(root / "ops/secrets/061-extra-secrets/values.sops.yaml"),
    ]
    values = merged_values(sources, root)
    assert values is not None
    rendered = helm.template("grafana-stack", chart, "grafana", helm.Values(stdin_yaml=values))

    # The values did reach helm (so the watch below watched a real deploy path)...
    assert base64.b64encode(password.encode()).decode() in rendered
    assert base64.b64encode(token.encode()).decode() in rendered
    # ...and no file anywhere writable got them, nor did sops or helm make temp files.
    plaintext_watch.assert_no_plaintext([password, token, base64.b64encode(password.encode()).decode()])


def test_plaintext_watch_catches_a_leak(tmp_path: Path, plaintext_watch: PlaintextWatch) -> None:
    """The proof above can fail: a secret written to /tmp and deleted at once is still caught."""
    if plaintext_watch.backend != "fanotify":
        pytest.skip("inotify cannot read a file deleted before it is opened; fanotify needs CAP_SYS_ADMIN")
    secret = random_secret("leak")
    leak = Path("/tmp") / f"gripctl-leak-test-{secret[-8:]}.txt"
    leak.write_text(f"password: {secret}\n")
    leak.unlink()
    with pytest.raises(AssertionError, match="secret values were written to"):
        plaintext_watch.assert_no_plaintext([secret])


def test_plaintext_watch_catches_temp_files_of_children(plaintext_watch: PlaintextWatch) -> None:
    import os
    import subprocess

    subprocess.run(["sh", "-c", 'echo harmless > "$TMPDIR/scratch"'], check=True, env=dict(os.environ))
    with pytest.raises(AssertionError, match="temp files were created"):
        plaintext_watch.assert_no_plaintext(["not-in-any-file-xyz"])


def test_merged_values_later_source_wins(
    tmp_path: Path, alice: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_platform(
        tmp_path / "p",
        [alice.public],
        {
            "010-a-secrets": {"db": {"user": "app", "password": "first-password"}, "only_a": "aaaaaaa"},
            "020-b-secrets": {"db": {"password": "second-password"}, "only_b": "bbbbbbb"},
        },
    )
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(alice.key_file))
    a = SecretsSource(root / "ops/secrets/010-a-secrets/values.sops.yaml")
    b = SecretsSource(root / "ops/secrets/020-b-secrets/values.sops.yaml")
    merged = yaml.safe_load(merged_values([a, b], root) or b"")
    assert merged == {
        "db": {"user": "app", "password": "second-password"},
        "only_a": "aaaaaaa",
        "only_b": "bbbbbbb",
    }
    assert merged_values([], root) is None
    single = merged_values([a], root)
    assert single == decrypt_values(a.path, root=root)


def test_secret_leaves_and_mask() -> None:
    doc = yaml.safe_dump(
        {
            "grafana": {"adminPassword": "s3cr3t-password", "enabled": True, "replicas": 1, "mode": "on"},
            "pin": 12345678,
            "tls": {"key": "-----BEGIN KEY-----\nMIIEabcdefghijk\n-----END KEY-----\n"},
            "list": ["list-secret-1", "no"],
            "short": "abc",
        }
    ).encode()
    leaves = secret_leaves(doc)
    assert "s3cr3t-password" in leaves
    assert base64.b64encode(b"s3cr3t-password").decode() in leaves  # as in a rendered Secret
    assert "12345678" in leaves and "list-secret-1" in leaves
    assert "MIIEabcdefghijk" in leaves  # each line of a multi-line value
    assert not {"True", "true", "1", "on", "no", "abc"} & leaves  # trivially short values are not masked

    text = (
        "password: s3cr3t-password\n"
        f"data: {base64.b64encode(b's3cr3t-password').decode()}\n"
        "+  MIIEabcdefghijk\n"
        "enabled: true replicas: 1 short: abc\n"
    )
    masked = mask(text, leaves)
    assert "s3cr3t" not in masked and "MIIE" not in masked
    assert base64.b64encode(b"s3cr3t-password").decode() not in masked
    assert masked.count("<secret>") == 3
    assert "enabled: true replicas: 1 short: abc" in masked
    # Longest first: a value containing another is masked whole.
    assert mask("x=abcdefgh-long", {"abcdefgh", "abcdefgh-long"}) == "x=<secret>"
    # Short values passed directly are still not masked.
    assert mask("on 1 true", {"on", "1", "true"}) == "on 1 true"
