"""Builds the incident service of a platform repository: its ledger, notification routes and rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gripctl.errors import ConfigError
from gripctl.incidents import config as incidents_config
from gripctl.incidents.service import IncidentService, ledger_recorder
from gripctl.ledger import Ledger, open_ledger
from gripctl.model.settings import read_settings
from gripctl.notify import config as notify_config
from gripctl.notify.router import Notifier


def notifier_for(root: Path, ledger: Ledger, settings: dict[str, Any]) -> Notifier:
    config = notify_config.parse(settings.get("notifications"), root)
    return Notifier(
        config, recorder=ledger_recorder(ledger), sops=lambda path, key: _sops_value(path, key, root)
    )


def _sops_value(path: Path, dotted_key: str, root: Path) -> str:
    """One value of a SOPS file, decrypted in memory (for channel secrets such as webhook URLs)."""
    from gripctl.secrets.decrypt import decrypt_values  # late: only needed for sops: references

    node: Any = yaml.safe_load(decrypt_values(path, root=root))
    for part in dotted_key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(
                f"{path.name} has no key {dotted_key!r}", hint="check the sops: reference's #key part"
            )
        node = node[part]
    return str(node)


def incident_service(root: Path) -> IncidentService:
    settings = read_settings(root)
    ledger = open_ledger(root=root)
    notifier = notifier_for(root, ledger, settings)
    channels = (settings.get("notifications") or {}).get("channels") or {}
    return IncidentService(ledger, incidents_config.parse(settings.get("incidents"), channels), notifier)
