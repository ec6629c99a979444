"""Plan: pure decisions; desired (model) vs observed state gives one action per release and the DAG.

The public functions are imported lazily: `gripctl.observe.types` imports `gripctl.plan.types`, and
`gripctl.plan.compute` imports `gripctl.observe.types`, so an eager import here would be a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gripctl.plan.compute import compute_plan
    from gripctl.plan.digest import check_fresh
    from gripctl.plan.serialize import plan_from_json, plan_to_dict, plan_to_json

_LAZY = {
    "compute_plan": "gripctl.plan.compute",
    "check_fresh": "gripctl.plan.digest",
    "plan_from_json": "gripctl.plan.serialize",
    "plan_to_dict": "gripctl.plan.serialize",
    "plan_to_json": "gripctl.plan.serialize",
}

__all__ = ["check_fresh", "compute_plan", "plan_from_json", "plan_to_dict", "plan_to_json"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gripctl.plan' has no attribute {name!r}")
