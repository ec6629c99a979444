"""Model: the platform as typed data, loaded from gripctl.yaml and the ops/ tree; reads files only."""

from gripctl.model.graph import Graph
from gripctl.model.loader import (
    DEFAULT_ENVIRONMENT,
    SUPPORTED_API_VERSIONS,
    environment_names,
    load_platform,
)
from gripctl.model.selection import parse_selector, select
from gripctl.model.settings import CONFIG_FILE
from gripctl.model.types import (
    Approval,
    Environment,
    HttpCheck,
    Platform,
    Release,
    Remediation,
    SecretsSource,
)

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_ENVIRONMENT",
    "SUPPORTED_API_VERSIONS",
    "Approval",
    "Environment",
    "Graph",
    "HttpCheck",
    "Platform",
    "Release",
    "Remediation",
    "SecretsSource",
    "environment_names",
    "load_platform",
    "parse_selector",
    "select",
]
