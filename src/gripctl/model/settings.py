"""gripctl.yaml as plain data, for rooms that need one section (ledger, secrets, notifications)
without loading and validating the whole platform (which needs every chart to be readable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gripctl.errors import ConfigError, Location

CONFIG_FILE = "gripctl.yaml"


def read_settings(root: Path) -> dict[str, Any]:
    """The parsed gripctl.yaml under `root`; {} when there is none (commands work outside a platform)."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            f"not valid YAML: {exc}", hint="fix the YAML syntax", location=Location(str(path), line)
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("gripctl.yaml must be a mapping of settings", location=Location(str(path), 1))
    return data
