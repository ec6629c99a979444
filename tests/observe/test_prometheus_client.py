"""The Prometheus client against a real Prometheus on loopback (skipped with a reason when the binary is
missing), and its errors against real sockets: nothing listening, and a server that is not Prometheus."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gripctl.adapters.prometheus import (
    Prometheus,
    PrometheusError,
    PrometheusUnreachable,
    QueryRejected,
)
from gripctl.model.types import PrometheusCheck
from gripctl.plan.health import QueryHistory, Verdict
from prometheus_server import free_port, needs_prometheus, prometheus_server

__all__ = ["prometheus_server"]


@needs_prometheus
async def test_instant_query_returns_typed_samples(prometheus_server: str) -> None:
    async with Prometheus(prometheus_server) as prom:
        result = await prom.query('up{job="self"}')
    assert result.result_type == "vector"
    assert len(result.samples) == 1
    sample = result.samples[0]
    assert sample.value == 1.0
    assert sample.labels["job"] == "self"
    assert sample.series.startswith('{__name__="up", instance="127.0.0.1:')
    assert sample.timestamp > 1.7e9


@needs_prometheus
async def test_scalar_and_empty_results(prometheus_server: str) -> None:
    async with Prometheus(prometheus_server) as prom:
        scalar = await prom.query("scalar(sum(up)) * 2")
        empty = await prom.query('up{job="nothing-scrapes-this"}')
    assert scalar.result_type == "scalar" and [s.value for s in scalar.samples] == [2.0]
    assert empty.samples == ()


@needs_prometheus
async def test_valid_queries_parse(prometheus_server: str) -> None:
    async with Prometheus(prometheus_server) as prom:
        await prom.check_query('sum(rate(prometheus_http_requests_total{code=~"5.."}[1m]))')
        await prom.check_query("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 0.5")


@needs_prometheus
@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("sum(rate(x[1m])", "unclosed left parenthesis"),
        ("rate(x)", "expected type range vector"),
        ("no_such_function(up)", 'unknown function with name "no_such_function"'),
    ],
)
async def test_bad_queries_are_rejected_with_prometheus_words(
    prometheus_server: str, query: str, reason: str
) -> None:
    async with Prometheus(prometheus_server) as prom:
        with pytest.raises(QueryRejected) as info:
            await prom.check_query(query)
        with pytest.raises(QueryRejected):
            await prom.query(query)
    err = info.value
    assert reason in err.reason
    assert err.query == query
    assert err.message.startswith(f"Prometheus at {prometheus_server} rejects the query {query!r}: ")
    assert err.hint is not None and "health.prometheus" in err.hint


@needs_prometheus
async def test_a_rule_breaches_on_real_samples(prometheus_server: str) -> None:
    """The evaluator fed from real polls: `up` is 1, a rule with max 0.5 and for 0s breaches."""
    check = PrometheusCheck(query='up{job="self"}', max=0.5)
    history = QueryHistory(check)
    async with Prometheus(prometheus_server) as prom:
        for _ in range(2):
            result = await prom.query(check.query)
            history.record(result.samples[0].timestamp, {s.series: s.value for s in result.samples})
    evaluation = history.evaluate()
    assert evaluation.verdict is Verdict.breach
    assert evaluation.reason.startswith('query up{job="self"} {__name__="up", instance="127.0.0.1:')
    assert evaluation.reason.endswith("= 1, above max 0.5")


async def test_nothing_listening_is_unreachable_and_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with Prometheus(url, timeout_seconds=2) as prom:
        with pytest.raises(PrometheusUnreachable) as info:
            await prom.check_query("up")
    assert info.value.message.startswith(f"Prometheus at {url} is unreachable: ")
    assert info.value.hint is not None and "environments.<env>.prometheus.url" in info.value.hint


@pytest.fixture
def not_prometheus() -> Iterator[str]:
    """A real HTTP server that is not Prometheus: every path answers a web page (a login, say)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>please log in</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_server_that_is_not_prometheus_is_said_so(not_prometheus: str) -> None:
    async with Prometheus(not_prometheus) as prom:
        with pytest.raises(PrometheusError) as info:
            await prom.check_query("up")
    assert not isinstance(info.value, PrometheusUnreachable)
    assert info.value.message == (
        f"{not_prometheus}/api/v1/parse_query answered HTTP 200 without a Prometheus API document while "
        "parsing 'up'"
    )
    assert info.value.hint is not None and "should answer /api/v1/query" in info.value.hint
