"""Prometheus health rules: samples and a threshold/`for` rule in, ok/pending/breach with a reason out."""

from __future__ import annotations

import math

import pytest

from gripctl.model.types import PrometheusCheck
from gripctl.plan.health import NO_SERIES, QueryHistory, Verdict, evaluate

ERRORS = PrometheusCheck(query="sum(rate(errors_total[1m]))", max=0.5, for_seconds=30)
UP = PrometheusCheck(query="sum(up)", min=1, for_seconds=60, name="targets up")


def test_within_bounds_is_ok() -> None:
    result = evaluate(ERRORS, [(0, 0.9), (15, 0.1)])
    assert result.verdict is Verdict.ok
    assert result.reason == "query sum(rate(errors_total[1m])) = 0.1, within bounds"
    assert result.value == 0.1


def test_above_max_for_long_enough_is_a_breach_with_the_operator_reason() -> None:
    result = evaluate(ERRORS, [(0, 0.1), (10, 0.7), (25, 0.8), (40, 0.8)])
    assert result.verdict is Verdict.breach
    assert result.reason == "query sum(rate(errors_total[1m])) = 0.8, above max 0.5 for 30s"


def test_above_max_not_yet_for_long_enough_is_pending() -> None:
    result = evaluate(ERRORS, [(0, 0.1), (10, 0.7), (25, 0.8)])
    assert result.verdict is Verdict.pending
    assert result.reason == (
        "query sum(rate(errors_total[1m])) = 0.8, above max 0.5 for 15s (breach after 30s)"
    )


def test_a_good_sample_resets_the_run() -> None:
    samples = [(0, 0.9), (20, 0.9), (25, 0.1), (30, 0.9), (50, 0.9)]
    assert evaluate(ERRORS, samples).verdict is Verdict.pending  # 20s since 30, not 50s since 0


def test_for_zero_breaches_at_once() -> None:
    check = PrometheusCheck(query="x", max=1)
    result = evaluate(check, [(5, 2.0)])
    assert result.verdict is Verdict.breach
    assert result.reason == "query x = 2, above max 1"


def test_below_min_uses_the_name_and_minutes() -> None:
    result = evaluate(UP, [(0, 0.0), (60, 0.0), (120, 0.0)])
    assert result.verdict is Verdict.breach
    assert result.reason == "query targets up = 0, below min 1 for 2m"


def test_nan_is_out_of_bounds() -> None:
    result = evaluate(ERRORS, [(0, math.nan), (30, math.nan)])
    assert result.verdict is Verdict.breach
    assert result.reason == "query sum(rate(errors_total[1m])) = NaN, not a number for 30s"
    assert result.to_dict()["value"] is None


def test_no_data_is_fine_for_a_max_rule_and_a_breach_for_a_min_rule() -> None:
    errors, up = QueryHistory(ERRORS), QueryHistory(UP)
    for at in (0, 30, 60):
        errors.record(at, {})
        up.record(at, {})
    assert errors.evaluate().verdict is Verdict.ok
    result = up.evaluate()
    assert result.verdict is Verdict.breach
    assert result.reason == "query targets up: no data, below min 1 for 1m"
    assert result.series == NO_SERIES


def test_history_judges_the_worst_current_series() -> None:
    history = QueryHistory(ERRORS)
    history.record(0, {'{code="500"}': 0.9, '{code="503"}': 0.1, '{code="502"}': 0.9})
    history.record(40, {'{code="500"}': 0.9, '{code="503"}': 0.9})  # 502 is gone: no longer judged
    result = history.evaluate()
    assert result.verdict is Verdict.breach
    assert result.series == '{code="500"}'
    assert result.reason == 'query sum(rate(errors_total[1m])) {code="500"} = 0.9, above max 0.5 for 40s'


def test_data_coming_back_ends_a_no_data_run() -> None:
    history = QueryHistory(UP)
    history.record(0, {})
    history.record(100, {"{}": 3.0})
    assert history.evaluate().verdict is Verdict.ok
    assert NO_SERIES not in history.samples


@pytest.mark.parametrize("samples", [[], ()])
def test_nothing_sampled_yet(samples: list[tuple[float, float]]) -> None:
    result = evaluate(ERRORS, samples)
    assert result.verdict is Verdict.ok and result.reason.endswith("not sampled yet")
