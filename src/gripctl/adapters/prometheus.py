"""A small typed Prometheus HTTP API client (httpx): instant queries, and asking whether a query parses.

Thin: it sends requests and parses answers; what a value means is decided in `gripctl.plan.health`.
Errors are GripErrors that name the URL and the next step:

- `PrometheusUnreachable`: no answer (connection refused, DNS, timeout, TLS, a 5xx from a proxy);
- `QueryRejected`: Prometheus answered that the query is wrong (its parser's message is kept);
- `PrometheusError`: anything else Prometheus refused (403 from a proxy, an answer that is not JSON).

Query validation asks Prometheus' own parser: `GET /api/v1/parse_query` (Prometheus 2.44 and later,
including 3.x), else `/api/v1/format_query` (2.38 and later), else an instant query (any version: a
syntax error is a 400 `bad_data` before anything is evaluated).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from gripctl.errors import GripError


class PrometheusError(GripError):
    """Prometheus answered, but not with what was asked for."""


class PrometheusUnreachable(PrometheusError):
    """Nothing (or a proxy error) answered at the environment's Prometheus URL."""


class QueryRejected(PrometheusError):
    """Prometheus refused a query: a syntax error, an unknown function, a wrong argument type."""

    def __init__(self, message: str, *, query: str, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.query = query
        self.reason = reason  # Prometheus' own words


@dataclass(frozen=True)
class Sample:
    """One value of an instant query: the series' labels, its value, and Prometheus' timestamp."""

    labels: Mapping[str, str]
    value: float
    timestamp: float

    @property
    def series(self) -> str:
        """`{job="api", code="500"}`, or `{}` for a scalar or an aggregate without labels."""
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return "{" + inner + "}"


@dataclass(frozen=True)
class QueryResult:
    query: str
    result_type: str  # vector | scalar | matrix | string
    samples: tuple[Sample, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def _float(text: Any) -> float:
    # Prometheus sends sample values as strings ("NaN", "+Inf" included).
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


class Prometheus:
    """One Prometheus server. Use `async with Prometheus(url) as prom:` or call `aclose()`."""

    def __init__(
        self, url: str, *, timeout_seconds: float = 5.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._client = httpx.AsyncClient(
            base_url=self.url, timeout=timeout_seconds, transport=transport, follow_redirects=True
        )

    async def __aenter__(self) -> Prometheus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- requests --------------------------------------------------------------------------------

    async def _get(self, path: str, params: dict[str, str]) -> httpx.Response:
        try:
            response = await self._client.get(path, params=params)
        except httpx.TimeoutException:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} did not answer within {self.timeout_seconds:g}s",
                hint="is it up and reachable from here? raise environments.<env>.prometheus.timeout if it "
                "is only slow",
            ) from None
        except httpx.HTTPError as exc:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} is unreachable: {exc or type(exc).__name__}",
                hint="check environments.<env>.prometheus.url in gripctl.yaml (and a port-forward or VPN "
                "if it runs inside the cluster)",
            ) from None
        if response.status_code in (502, 503, 504):
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} is unavailable (HTTP {response.status_code})",
                hint="is it starting up or overloaded? try again in a moment",
            )
        return response

    def _body(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise PrometheusError(
                f"{self.url}{response.request.url.path} answered HTTP {response.status_code} without a "
                f"Prometheus API document while {what}",
                hint="does the URL point at Prometheus itself (not its web UI behind a login, or another "
                "service)? it should answer /api/v1/query",
            )
        return body

    # -- instant queries -------------------------------------------------------------------------

    async def query(self, expr: str, *, at: float | None = None) -> QueryResult:
        """An instant query (`GET /api/v1/query`); QueryRejected when Prometheus refuses it."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        response = await self._get("/api/v1/query", params)
        body = self._body(response, f"running {expr!r}")
        if body.get("status") != "success":
            raise self._rejected(expr, body, response.status_code)
        data = body.get("data") or {}
        result_type = str(data.get("resultType", ""))
        raw = data.get("result")
        samples: list[Sample] = []
        if result_type == "vector" and isinstance(raw, list):
            for item in raw:
                value = item.get("value") or [0, "NaN"]
                samples.append(Sample(dict(item.get("metric") or {}), _float(value[1]), float(value[0])))
        elif result_type == "scalar" and isinstance(raw, list) and len(raw) == 2:
            samples.append(Sample({}, _float(raw[1]), float(raw[0])))
        elif result_type == "matrix" and isinstance(raw, list):
            for item in raw:  # a range selector as an instant query: its latest value per series
                values = item.get("values") or []
                if values:
                    samples.append(
                        Sample(dict(item.get("metric") or {}), _float(values[-1][1]), float(values[-1][0]))
                    )
        return QueryResult(expr, result_type, tuple(samples), tuple(map(str, body.get("warnings") or ())))

    def _rejected(self, expr: str, body: Mapping[str, Any], status: int) -> PrometheusError:
        reason = str(body.get("error") or f"HTTP {status}")
        kind = str(body.get("errorType") or "")
        if kind == "bad_data" or status == 400:
            return QueryRejected(
                f"Prometheus at {self.url} rejects the query {expr!r}: {reason}",
                query=expr,
                reason=reason,
                hint="fix the query in gripctl.yaml (health.prometheus); try it in Prometheus' web UI",
            )
        return PrometheusError(
            f"Prometheus at {self.url} could not run {expr!r}: {kind + ': ' if kind else ''}{reason}",
            hint="a timeout or an overloaded server: simplify the query or try again",
        )

    # -- validation ------------------------------------------------------------------------------

    async def check_query(self, expr: str) -> None:
        """Raise QueryRejected unless Prometheus' parser accepts `expr`; evaluates nothing when the
        server has `parse_query` or `format_query`."""
        for endpoint in ("/api/v1/parse_query", "/api/v1/format_query"):
            response = await self._get(endpoint, {"query": expr})
            if response.status_code == 404:
                continue  # an older Prometheus: try the next way
            body = self._body(response, f"parsing {expr!r}")
            if body.get("status") == "success":
                return
            raise self._rejected(expr, body, response.status_code)
        await self.query(expr)
