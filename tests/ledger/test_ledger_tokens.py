"""API tokens: created with only an argon2 hash of the secret, verified, listed, revoked and stamped
when used; every refusal says why and changes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import text

from gripctl.errors import LedgerError, UsageError
from gripctl.ledger import Ledger, TokenRefused, TokenRole
from gripctl.ledger.testing import Clock


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def test_token_lifecycle_keeps_only_the_hash(ledger: Ledger, clock: Clock) -> None:
    secret = new_secret()
    created = ledger.create_token(
        "tk_alice1",
        secret,
        "alice",
        "deployer",
        created_by="root",
        environments=["staging", "prod", "staging"],
        expires_at=clock.now + timedelta(days=30),
    )
    assert (created.id, created.user, created.role, created.environments, created.created_by) == (
        "tk_alice1",
        "alice",
        TokenRole.deployer,
        ("prod", "staging"),
        "root",
    )
    assert created.covers("prod") and not created.covers("qa")
    assert "secret" not in str(created.to_dict()) and secret not in str(created.to_dict())
    with ledger.engine.connect() as conn:
        (stored,) = conn.execute(text("SELECT secret_hash FROM api_tokens")).scalars()
    assert stored.startswith("$argon2id$") and secret not in stored

    clock.advance(60)
    assert ledger.verify_token("tk_alice1", secret) == created
    ledger.touch_token("tk_alice1")
    touched = ledger.token("tk_alice1")
    assert touched is not None and touched.last_used_at == clock.now

    everyone = ledger.create_token("tk_admin1", new_secret(), "root", TokenRole.admin, created_by="root")
    assert everyone.environments == () and everyone.covers("anything") and everyone.expires_at is None
    assert [tk.id for tk in ledger.tokens()] == ["tk_admin1", "tk_alice1"]  # newest first
    assert [tk.id for tk in ledger.tokens(user="alice")] == ["tk_alice1"]

    clock.advance(60)
    revoked = ledger.revoke_token("tk_alice1")
    assert revoked.revoked_at == clock.now
    clock.advance(60)
    assert ledger.revoke_token("tk_alice1").revoked_at == revoked.revoked_at  # the first revocation stays
    assert [tk.id for tk in ledger.tokens(user="alice")] == ["tk_alice1"]  # listed, marked revoked


def test_verification_refuses_unknown_wrong_revoked_and_expired_tokens(ledger: Ledger, clock: Clock) -> None:
    secret = new_secret()
    ledger.create_token(
        "tk_bob01", secret, "bob", "viewer", created_by="root", expires_at=clock.now + timedelta(hours=1)
    )
    with pytest.raises(TokenRefused, match=r"no API token 'tk_nobody' in the ledger") as err:
        ledger.verify_token("tk_nobody", secret)
    assert err.value.hint
    with pytest.raises(TokenRefused, match=r"no API token '../etc' in the ledger"):
        ledger.verify_token("../etc", secret)
    with pytest.raises(TokenRefused, match=r"API token 'tk_bob01' does not match the secret presented"):
        ledger.verify_token("tk_bob01", new_secret())

    clock.advance(3600)
    with pytest.raises(TokenRefused, match=r"API token 'tk_bob01' of bob expired at 2026-03-01 13:00 UTC"):
        ledger.verify_token("tk_bob01", secret)
    # Expired or revoked, a wrong secret learns nothing more than "wrong secret".
    with pytest.raises(TokenRefused, match="does not match the secret presented"):
        ledger.verify_token("tk_bob01", new_secret())

    other = new_secret()
    ledger.create_token("tk_bob02", other, "bob", "viewer", created_by="root")
    ledger.revoke_token("tk_bob02")
    with pytest.raises(
        TokenRefused, match=r"API token 'tk_bob02' of bob was revoked at 2026-03-01 13:00 UTC"
    ):
        ledger.verify_token("tk_bob02", other)
    assert all(tk.last_used_at is None for tk in ledger.tokens())  # refusals stamp nothing


def test_revoking_or_touching_an_unknown_token_changes_nothing(ledger: Ledger) -> None:
    ledger.create_token("tk_carol", new_secret(), "carol", "approver", created_by="root")
    before = ledger.tokens()
    with pytest.raises(UsageError, match=r"no API token 'tk_ghost' in the ledger") as err:
        ledger.revoke_token("tk_ghost")
    assert "list the tokens" in (err.value.hint or "")
    with pytest.raises(LedgerError, match="no API token tk_ghost in the ledger"):
        ledger.touch_token("tk_ghost")
    assert ledger.tokens() == before
    assert ledger.counts()["api_tokens"] == 1


def test_bad_tokens_are_refused_at_creation_and_nothing_is_written(ledger: Ledger, clock: Clock) -> None:
    secret = new_secret()
    first = ledger.create_token("tk_dave01", secret, "dave", "viewer", created_by="root")
    with pytest.raises(UsageError, match=r"an API token with id 'tk_dave01' already exists"):
        ledger.create_token("tk_dave01", new_secret(), "mallory", "admin", created_by="mallory")
    assert ledger.tokens() == [first]
    assert ledger.verify_token("tk_dave01", secret) == first  # the original is untouched

    with pytest.raises(ValueError, match="'superuser' is not a valid TokenRole"):
        ledger.create_token("tk_dave02", new_secret(), "dave", "superuser", created_by="root")
    with pytest.raises(ValueError, match=r"token id 'a b' must be 6-32 letters"):
        ledger.create_token("a b", new_secret(), "dave", "viewer", created_by="root")
    with pytest.raises(ValueError, match="at least 24 characters"):
        ledger.create_token("tk_dave03", "short", "dave", "viewer", created_by="root")
    with pytest.raises(ValueError, match="is not in the future"):
        ledger.create_token(
            "tk_dave04", new_secret(), "dave", "viewer", created_by="root", expires_at=clock.now
        )
    with pytest.raises(TypeError, match="list of environment names"):
        ledger.create_token(
            "tk_dave05", new_secret(), "dave", "viewer", created_by="root", environments="prod"
        )
    assert ledger.counts()["api_tokens"] == 1
