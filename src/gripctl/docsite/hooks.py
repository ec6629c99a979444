"""The MkDocs hooks file gripctl puts in the config it builds with; see gripctl.docsite.plugin."""

from __future__ import annotations

from typing import Any

from gripctl.docsite import plugin


def on_config(config: Any) -> Any:
    return plugin.on_config(config)


def on_files(files: Any, config: Any) -> Any:
    return plugin.on_files(files, config)
