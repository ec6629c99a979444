"""Rendering the dashboard: Jinja2 templates (autoescaped) and the SVG trend charts drawn on the server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

STATE_CLASS = {
    "healthy": "ok",
    "deployed": "ok",
    "succeeded": "ok",
    "resolved": "ok",
    "approved": "ok",
    "in-sync": "ok",
    "failed": "bad",
    "rolled-back": "bad",
    "rolled_back": "bad",
    "interrupted": "bad",
    "rejected": "bad",
    "open": "bad",
    "P0": "bad",
    "P1": "bad",
    "deploying": "busy",
    "verifying": "busy",
    "monitoring": "busy",
    "progressing": "busy",
    "running": "busy",
    "awaiting-approval": "warn",
    "acknowledged": "warn",
    "drift": "warn",
    "refused": "muted",
    "skipped": "muted",
    "pending": "muted",
    "absent": "muted",
    "unknown": "muted",
}
LOGIN_CSRF = "gripctl_login_csrf"
BAND_CLASS = {"elite": "ok", "high": "good", "medium": "warn", "low": "bad"}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def ago(when: datetime | float | None) -> str:
    if when is None:
        return "never"
    if isinstance(when, int | float):
        when = datetime.fromtimestamp(when, UTC)
    seconds = (datetime.now(UTC) - when).total_seconds()
    if seconds < 5:
        return "just now"
    return duration(seconds) + " ago"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "–"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}" if value >= 0.1 or value == 0 else f"{value:.1%}"


def diff_lines(text: str) -> Markup:
    """A unified diff as lines classed add/del/hunk (escaped)."""
    from markupsafe import escape

    out = []
    for line in text.splitlines():
        cls = (
            "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "hunk"
            if line.startswith("@@")
            else ""
        )
        out.append(f'<span class="{cls}">{escape(line)}</span>' if cls else str(escape(line)))
    return Markup("\n".join(out))


def sparkline(
    values: Sequence[float | None],
    labels: Sequence[str],
    *,
    fmt: Any = str,
    width: int = 300,
    height: int = 80,
    bars: bool = False,
    title: str = "",
) -> Markup:
    """A small SVG chart of weekly values (bars or a line with points), each point titled with its
    week and value. No data is shown as a gap."""
    from markupsafe import escape

    pad_x, pad_y = 4, 10
    n = len(values)
    known = [v for v in values if v is not None]
    top = max(known) if known else 1.0
    top = top or 1.0
    step = (width - 2 * pad_x) / max(1, n)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<line class="axis" x1="0" y1="{height - pad_y}" x2="{width}" y2="{height - pad_y}"/>',
    ]
    points = []
    for i, (v, label) in enumerate(zip(values, labels, strict=True)):
        x = pad_x + step * i + step / 2
        if v is None:
            continue
        y = height - pad_y - (v / top) * (height - 2 * pad_y)
        tip = f"{escape(label)}: {escape(fmt(v))}"
        if bars:
            w = max(2.0, step * 0.7)
            parts.append(
                f'<rect class="bar" x="{x - w / 2:.1f}" y="{y:.1f}" width="{w:.1f}" '
                f'height="{height - pad_y - y:.1f}"><title>{tip}</title></rect>'
            )
        else:
            points.append((x, y))
            parts.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{tip}</title></circle>')
    if len(points) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
        parts.insert(2, f'<path class="line" d="{path}"/>')
    if not known:
        parts.append(
            f'<text class="nodata" x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


class Pages:
    def __init__(self, root: Path, public_url: str | None) -> None:
        self.root = root
        self.public_url = public_url
        self.env = Environment(
            loader=PackageLoader("gripctl.web", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(state_class=STATE_CLASS, band_class=BAND_CLASS)
        self.env.filters.update(duration=duration, ago=ago, when=when, percent=percent, diff_lines=diff_lines)
        self.env.globals.update(
            sparkline=sparkline, duration=duration, percent=percent, deploys_text=lambda v: f"{v:.0f} deploys"
        )

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        principal = getattr(request.state, "principal", None)
        session = getattr(request.state, "session", None)
        html = self.env.get_template(template).render(
            request=request,
            me=principal,
            csrf=session.csrf if session is not None else "",
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers={"cache-control": "no-store"})

    def login(
        self, request: Request, *, status_code: int = 200, error: str = "", next: str | None = None
    ) -> HTMLResponse:
        """The login form, with a fresh double-submit CSRF token (a cookie only /login receives)."""
        import secrets

        token = secrets.token_urlsafe(24)
        target = next or request.url.path
        target = target if target.startswith("/") and not target.startswith("//") else "/"
        response = self.render(request, "login.html", status_code, error=error, next=target, login_csrf=token)
        response.set_cookie(LOGIN_CSRF, token, max_age=900, httponly=True, samesite="strict", path="/login")
        return response

    def error(self, request: Request, status_code: int, message: str, hint: str | None) -> HTMLResponse:
        return self.render(request, "error.html", status_code, code=status_code, message=message, hint=hint)
