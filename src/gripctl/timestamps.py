"""Timestamps as the Kubernetes API and helm write them (RFC 3339, `Z` or an offset), parsed once here."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str | None) -> datetime | None:
    """An aware datetime for RFC 3339 / ISO 8601 text (`Z` accepted); None when empty or unreadable."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def epoch(text: str | None) -> float | None:
    """Seconds since the epoch for RFC 3339 text, or None."""
    value = parse_time(text)
    return value.timestamp() if value is not None else None


def micro_time(t: float) -> str:
    """A Kubernetes MicroTime (`2024-01-02T03:04:05.123456Z`) for seconds since the epoch."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
