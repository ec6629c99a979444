"""Who is acting: the one rule every room uses to name the person (or CI job) behind a change."""

from __future__ import annotations

import getpass
import os


def actor() -> str:
    """$GRIPCTL_USER, else $GRIPCTL_ACTOR (what CI sets), else the login name."""
    for name in ("GRIPCTL_USER", "GRIPCTL_ACTOR", "USER"):
        if value := os.environ.get(name):
            return value
    return getpass.getuser()
