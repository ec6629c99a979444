"""Who may do what: API tokens (created, listed, revoked), the principal a token authenticates, the
roles and their permissions per environment, and the audit log of every mutation.

Roles follow Argo CD's RBAC model, simplified: a token has one role, scoped to environments (none
listed: all of them).

| role | may |
|---|---|
| viewer | read everything in its environments |
| deployer | read; deploy and roll back; acknowledge and resolve incidents |
| approver | read; approve and reject plans; acknowledge and resolve incidents |
| admin | everything, and tokens and the audit log |
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from gripctl.errors import UsageError
from gripctl.identity import actor as current_actor
from gripctl.ledger.store import Ledger
from gripctl.ledger.types import ApiTokenRecord, AuditRecord, TokenRole
from gripctl.service.metrics import moment
from gripctl.service.workspace import ledger_of


class Permission(StrEnum):
    read = "read"
    deploy = "deploy"  # deploy, rollback
    approve = "approve"  # approve, reject
    incident = "incident"  # acknowledge, resolve
    admin = "admin"  # tokens, audit log


ROLE_PERMISSIONS: dict[TokenRole, frozenset[Permission]] = {
    TokenRole.viewer: frozenset({Permission.read}),
    TokenRole.deployer: frozenset({Permission.read, Permission.deploy, Permission.incident}),
    TokenRole.approver: frozenset({Permission.read, Permission.approve, Permission.incident}),
    TokenRole.admin: frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    """Who a request speaks for: the token's user, role and environments."""

    user: str
    role: TokenRole
    environments: tuple[str, ...] = ()  # empty: every environment
    token_id: str | None = None

    def covers(self, environment: str | None) -> bool:
        return environment is None or not self.environments or environment in self.environments

    def can(self, permission: Permission, environment: str | None = None) -> bool:
        """Whether this principal may do `permission` in `environment` (None: anywhere it is scoped to)."""
        return permission in ROLE_PERMISSIONS[self.role] and self.covers(environment)

    def visible(self, environments: Sequence[str]) -> list[str]:
        return [e for e in environments if self.covers(e)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "role": self.role.value,
            "environments": list(self.environments),
            "token": self.token_id,
            "permissions": sorted(p.value for p in ROLE_PERMISSIONS[self.role]),
        }


# -- tokens --------------------------------------------------------------------------------------------

TOKEN_PREFIX = "grip_"


def split_token(text: str) -> tuple[str, str] | None:
    """`grip_<id>.<secret>` -> (id, secret); None when it does not have that shape."""
    text = text.strip()
    if not text.startswith(TOKEN_PREFIX) or "." not in text:
        return None
    token_id, _, secret = text[len(TOKEN_PREFIX) :].partition(".")
    return (token_id, secret) if token_id and secret else None


@dataclass(frozen=True)
class CreatedToken:
    record: ApiTokenRecord
    token: str  # shown once; the ledger keeps only an argon2 hash of its secret

    def to_dict(self) -> dict[str, Any]:
        return {**_token_dict(self.record), "token": self.token}


def _token_dict(r: ApiTokenRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "user": r.user,
        "role": r.role.value,
        "environments": list(r.environments),
        "created_at": r.created_at.isoformat(),
        "created_by": r.created_by,
        "expires_at": r.expires_at.isoformat() if r.expires_at else None,
        "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        "last_used_at": r.last_used_at.isoformat() if r.last_used_at else None,
    }


@dataclass(frozen=True)
class TokenRequest:
    root: Path
    user: str
    role: TokenRole
    environments: tuple[str, ...] = ()
    expires: str | None = None  # a duration from now (90d) or a date; None: never
    actor: str = field(default_factory=current_actor)
    source: str = "cli"


def _ledger(root: Path, ledger: Ledger | None) -> Ledger:
    return ledger if ledger is not None else ledger_of(root)


def _known_environments(root: Path, names: Sequence[str]) -> None:
    from gripctl.model.loader import environment_names

    known = environment_names(root)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"no environment named {', '.join(map(repr, unknown))} in gripctl.yaml",
            hint=f"known environments: {', '.join(known) or '(none)'}",
        )


def create_token(req: TokenRequest, ledger: Ledger | None = None) -> CreatedToken:
    """A new token for `user`, printed once; recorded in the audit log."""
    if not req.user.strip():
        raise UsageError("a token needs a user name", hint="--user alice")
    _known_environments(req.root, req.environments)
    now = datetime.now(UTC)
    expires_at = None
    if req.expires:
        ahead = moment(req.expires, now=now, option="--expires")
        # `moment` reads durations as "before now": a token expires that long *after* now.
        expires_at = now + (now - ahead) if ahead < now else ahead
        if expires_at <= now:
            raise UsageError(f"--expires {req.expires!r} is not in the future", hint="e.g. --expires 90d")
    led = _ledger(req.root, ledger)
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = led.create_token(
        token_id,
        secret,
        req.user.strip(),
        req.role,
        created_by=req.actor,
        environments=req.environments,
        expires_at=expires_at,
    )
    led.record_audit(
        req.actor,
        req.source,
        "token.create",
        token_id,
        {"user": record.user, "role": record.role.value, "environments": list(record.environments)},
    )
    return CreatedToken(record, f"{TOKEN_PREFIX}{token_id}.{secret}")


@dataclass
class TokenList:
    tokens: list[ApiTokenRecord]

    def to_dict(self) -> list[dict[str, Any]]:
        return [_token_dict(t) for t in self.tokens]


def list_tokens(root: Path, user: str | None = None, ledger: Ledger | None = None) -> TokenList:
    return TokenList(_ledger(root, ledger).tokens(user))


def revoke_token(
    root: Path, token_id: str, *, actor: str, source: str = "cli", ledger: Ledger | None = None
) -> ApiTokenRecord:
    led = _ledger(root, ledger)
    record = led.revoke_token(token_id)
    led.record_audit(actor, source, "token.revoke", token_id, {"user": record.user})
    return record


def authenticate(ledger: Ledger, token: str) -> Principal:
    """The principal of a presented token; TokenRefused when it is malformed, unknown, wrong, revoked or
    expired (an HTTP face answers 401 without saying which)."""
    from gripctl.ledger.records.tokens import TokenRefused

    parts = split_token(token)
    if parts is None:
        raise TokenRefused("not a gripctl API token", hint=f"tokens look like {TOKEN_PREFIX}<id>.<secret>")
    record = ledger.verify_token(*parts)
    ledger.touch_token(record.id)
    return principal_of(record)


def principal_of(record: ApiTokenRecord) -> Principal:
    return Principal(record.user, record.role, record.environments, record.id)


def still_valid(ledger: Ledger, token_id: str) -> ApiTokenRecord | None:
    """The token when it is neither revoked nor expired now (a cheap check without its secret, for a
    session that already proved the secret once)."""
    record = ledger.token(token_id)
    if record is None or record.revoked_at is not None:
        return None
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
        return None
    return record


# -- audit log -----------------------------------------------------------------------------------------


def record(
    root: Path,
    actor: str,
    source: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    *,
    ledger: Ledger | None = None,
) -> int:
    """Append one mutation to the audit log: who, from where, what, on which target."""
    return _ledger(root, ledger).record_audit(actor, source, action, target, detail)


@dataclass(frozen=True)
class AuditRequest:
    root: Path
    actor: str | None = None
    action: str | None = None
    since: str | None = None  # a duration before now (7d) or a date
    before: int | None = None  # the last id of the previous page
    limit: int = 100


@dataclass
class AuditPage:
    entries: list[AuditRecord]
    limit: int

    @property
    def next_before(self) -> int | None:
        return self.entries[-1].id if len(self.entries) == self.limit else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": [{**e.to_dict(), "ts": e.ts.isoformat()} for e in self.entries],
            "next_before": self.next_before,
        }


def audit_log(req: AuditRequest, ledger: Ledger | None = None) -> AuditPage:
    if not 1 <= req.limit <= 1000:
        raise UsageError(f"--limit {req.limit}: a page holds 1 to 1000 entries")
    since = moment(req.since, now=datetime.now(UTC), option="--since") if req.since else None
    entries = _ledger(req.root, ledger).audit_log(
        actor=req.actor, action=req.action, since=since, before=req.before, limit=req.limit
    )
    return AuditPage(entries, req.limit)
