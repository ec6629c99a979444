"""gripctl.yaml as plain data, for rooms that need one section (ledger, secrets, notifications)
without loading and validating the whole platform (which needs every chart to be readable).

It is the same parse the model's loader uses (`yamlfile.load_config`: ruamel, YAML 1.2, parsed once
per process and file version), so a section means the same thing to every room.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gripctl.errors import ConfigError, Location
from gripctl.model.yamlfile import load_config

CONFIG_FILE = "gripctl.yaml"


def read_settings(root: Path) -> dict[str, Any]:
    """The parsed gripctl.yaml under `root`; {} when there is none (commands work outside a platform)."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    data = load_config(path, CONFIG_FILE).data
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("gripctl.yaml must be a mapping of settings", location=Location(CONFIG_FILE, 1))
    return data
