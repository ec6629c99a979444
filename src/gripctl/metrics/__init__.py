"""Metrics: the four DORA keys and deploy statistics, computed in SQL over the ledger."""

from gripctl.metrics.dora import (
    DoraReport,
    EnvironmentMetrics,
    FrequencyBand,
    Window,
    compute,
    deploy_totals,
    window,
)

__all__ = [
    "DoraReport",
    "EnvironmentMetrics",
    "FrequencyBand",
    "Window",
    "compute",
    "deploy_totals",
    "window",
]
