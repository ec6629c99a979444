"""A client of a gripctl server's JSON API (/api/v1), authenticated with an API token: what the
command line uses to act through the server (an approval given this way is as strong as the token)."""

from __future__ import annotations

from typing import Any

import httpx

from gripctl.errors import GripError


class ServerError(GripError):
    """The gripctl server refused a request or could not be reached."""


def call(server: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """`method` `server`/api/v1`path` with the token; the JSON answer, or ServerError with the server's
    own message (401 bad token, 403 not allowed, 409 refused)."""
    url = server.rstrip("/") + "/api/v1" + path
    try:
        response = httpx.request(
            method, url, json=body, headers={"authorization": f"Bearer {token}"}, timeout=120.0
        )
    except httpx.HTTPError as exc:
        raise ServerError(
            f"cannot reach the gripctl server at {server}: {exc}", hint="check --server / GRIPCTL_SERVER"
        ) from None
    try:
        data = response.json()
    except ValueError:
        data = {"message": response.text[:300]}
    if response.status_code >= 400:
        message = data.get("message") if isinstance(data, dict) else None
        hint = data.get("hint") if isinstance(data, dict) else None
        if response.status_code == 401:
            hint = hint or "the token is unknown, wrong, revoked or expired: check --token / GRIPCTL_TOKEN"
        raise ServerError(
            f"the server answered {response.status_code}: {message or response.reason_phrase}", hint=hint
        )
    return data
