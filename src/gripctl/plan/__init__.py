"""Plan: pure decisions; desired (model) vs observed state gives one action per release and the DAG."""

from gripctl.plan.compute import compute_plan
from gripctl.plan.digest import check_fresh
from gripctl.plan.serialize import plan_from_json, plan_to_dict, plan_to_json

__all__ = ["check_fresh", "compute_plan", "plan_from_json", "plan_to_dict", "plan_to_json"]
