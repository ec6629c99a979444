"""Validate: pre-deployment checks (lint, render, schema, yamllint, secret scan, policies) over the model.

`validate(platforms, selected, options)` runs every check and returns a `Report`; `report` presents it.
Check ids, severities and exceptions are documented in docs/validate.md.
"""

from gripctl.validate.findings import CHECKS, Finding, Report, Severity
from gripctl.validate.policy import Policies, PolicyException, load_policies
from gripctl.validate.runner import Options, validate

__all__ = [
    "CHECKS",
    "Finding",
    "Options",
    "Policies",
    "PolicyException",
    "Report",
    "Severity",
    "load_policies",
    "validate",
]
