"""API tokens of the HTTP API: who a token speaks for, with which role, in which environments, until
when. The caller generates the token's public id and its secret; the ledger keeps only an argon2 hash of
the secret, and `verify_token` is the one place a presented secret is checked."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gripctl.errors import GripError, UsageError
from gripctl.ledger import schema as t
from gripctl.ledger.db import LedgerBase
from gripctl.ledger.types import ApiTokenRecord, TokenRole

if TYPE_CHECKING:
    from argon2 import PasswordHasher

TOKEN_ID = re.compile(r"[A-Za-z0-9_-]{6,32}")
MIN_SECRET_LENGTH = 24


class TokenRefused(GripError):
    """A presented API token is unknown, does not match its secret, was revoked, or expired."""


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id with the library's RFC 9106 parameters


def hash_secret(secret: str) -> str:
    """The argon2id hash (PHC string, salt included) under which a token's secret is stored."""
    return _hasher().hash(secret)


def verify_secret(secret_hash: str, secret: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _decoy_hash() -> str:
    return hash_secret("an unknown token id costs the same argon2 work as a wrong secret")


class TokenRecords(LedgerBase):
    def create_token(
        self,
        token_id: str,
        secret: str,
        user: str,
        role: TokenRole | str,
        *,
        created_by: str,
        environments: Sequence[str] = (),
        expires_at: datetime | None = None,
    ) -> ApiTokenRecord:
        """Record a new token; only the hash of `secret` is stored. `environments` empty: all of them.
        UsageError when the id is taken."""
        role = TokenRole(role)
        if isinstance(environments, str):
            raise TypeError("environments is a list of environment names")
        if not TOKEN_ID.fullmatch(token_id):
            raise ValueError(f"token id {token_id!r} must be 6-32 letters, digits, '-' or '_'")
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"a token secret needs at least {MIN_SECRET_LENGTH} characters")
        now = self.clock()
        if expires_at is not None and expires_at <= now:
            raise ValueError(f"token {token_id}: expires_at {expires_at.isoformat()} is not in the future")
        row = t.ApiToken(
            id=token_id,
            user=user,
            role=role.value,
            environments=sorted(set(environments)),
            secret_hash=hash_secret(secret),  # before the transaction: argon2 takes a while
            created_at=now,
            created_by=created_by,
            expires_at=expires_at,
        )
        try:
            with self._tx() as s:
                s.add(row)
                s.flush()
                return _token(row)
        except IntegrityError:
            raise UsageError(
                f"an API token with id {token_id!r} already exists in the ledger {self.url}",
                hint="generate another token id",
            ) from None

    def verify_token(self, token_id: str, secret: str) -> ApiTokenRecord:
        """The token `token_id` if `secret` is its secret and it is neither revoked nor expired; else
        TokenRefused saying which. A wrong secret is reported before revocation or expiry, so that only
        the token's holder learns those."""
        with self._tx(read=True) as s:
            row = s.get(t.ApiToken, token_id) if TOKEN_ID.fullmatch(token_id) else None
            found = (_token(row), row.secret_hash) if row is not None else None
        hint = "present a valid token; an admin can create one"
        if found is None:
            verify_secret(_decoy_hash(), secret)  # an unknown id takes as long as a wrong secret
            raise TokenRefused(f"no API token {token_id!r} in the ledger", hint=hint)
        record, secret_hash = found
        if not verify_secret(secret_hash, secret):
            raise TokenRefused(f"API token {token_id!r} does not match the secret presented", hint=hint)
        whose = f"API token {token_id!r} of {record.user}"
        if record.revoked_at is not None:
            raise TokenRefused(f"{whose} was revoked at {record.revoked_at:%Y-%m-%d %H:%M} UTC", hint=hint)
        if record.expires_at is not None and record.expires_at <= self.clock():
            raise TokenRefused(f"{whose} expired at {record.expires_at:%Y-%m-%d %H:%M} UTC", hint=hint)
        return record

    def token(self, token_id: str) -> ApiTokenRecord | None:
        with self._tx(read=True) as s:
            row = s.get(t.ApiToken, token_id)
            return _token(row) if row is not None else None

    def tokens(self, user: str | None = None) -> list[ApiTokenRecord]:
        """Every token (revoked and expired ones too), newest first."""
        query = select(t.ApiToken).order_by(t.ApiToken.created_at.desc(), t.ApiToken.id)
        if user is not None:
            query = query.where(t.ApiToken.user == user)
        with self._tx(read=True) as s:
            return [_token(r) for r in s.scalars(query)]

    def revoke_token(self, token_id: str) -> ApiTokenRecord:
        """Revoke a token for good; revoking it again keeps the first revocation time."""
        with self._tx() as s:
            row = s.get(t.ApiToken, token_id)
            if row is None:
                raise UsageError(
                    f"no API token {token_id!r} in the ledger {self.url}",
                    hint="list the tokens to find the id of the one to revoke",
                )
            if row.revoked_at is None:
                row.revoked_at = self.clock()
            return _token(row)

    def touch_token(self, token_id: str) -> None:
        """Stamp the token's last use (after a successful verify_token)."""
        with self._tx() as s:
            self._get(s, t.ApiToken, token_id, "API token").last_used_at = self.clock()


def _token(r: t.ApiToken) -> ApiTokenRecord:
    return ApiTokenRecord(
        id=r.id,
        user=r.user,
        role=TokenRole(r.role),
        environments=tuple(r.environments),
        created_at=r.created_at,
        created_by=r.created_by,
        expires_at=r.expires_at,
        revoked_at=r.revoked_at,
        last_used_at=r.last_used_at,
    )
