"""Validate: pre-deployment checks (lint, render, schema, yamllint, secret scan, policies) over the model.

`validate(platforms, selected, options)` runs every check and returns a `Report`; `report` presents it.
Check ids, severities and exceptions are documented in docs/validate.md.
"""

from typing import TYPE_CHECKING, Any

from gripctl.validate.findings import CHECKS, DEFAULT_KUBE_VERSION, Finding, Report, Severity

if TYPE_CHECKING:
    from gripctl.validate.policy import Policies, PolicyException, load_policies
    from gripctl.validate.runner import Options, validate

# The checks import the Kubernetes schemas, the secret scanner, yamllint...: loaded on first use, so
# that `gripctl --help` and the CLI's option types (Severity) do not pay for them.
_LAZY = {
    "Policies": "gripctl.validate.policy",
    "PolicyException": "gripctl.validate.policy",
    "load_policies": "gripctl.validate.policy",
    "Options": "gripctl.validate.runner",
    "validate": "gripctl.validate.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHECKS",
    "DEFAULT_KUBE_VERSION",
    "Finding",
    "Options",
    "Policies",
    "PolicyException",
    "Report",
    "Severity",
    "load_policies",
    "validate",
]
