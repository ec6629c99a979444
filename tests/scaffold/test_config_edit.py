"""The gripctl.yaml entry of a new app is inserted as lines: every other line, comment and style stays."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from gripctl.errors import ConfigError
from gripctl.scaffold.config_edit import add_release

WEBGRIP_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "webgrip" / "gripctl.yaml"


def _added(before: str, after: str) -> list[str]:
    changes = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]
    assert all(line.startswith("+") for line in changes), changes  # nothing removed or changed
    return [line[2:] for line in changes]


def test_goes_in_numeric_order_above_the_comments_of_the_next_release() -> None:
    text = (
        "apiVersion: gripctl/v1\n"
        "releases:\n"
        "  010-a:\n"
        "    labels: {tier: core}   # keep me\n"
        "  # the b release comes after a\n"
        "  020-b:\n"
        "    needs: [010-a]\n"
    )
    after = add_release(text, "015-new", ["010-a"])
    assert _added(text, after) == ["  015-new:", "    needs: [010-a]"]
    assert after.index("015-new") < after.index("# the b release")


def test_the_example_platform_file_gains_only_the_entry() -> None:
    text = WEBGRIP_CONFIG.read_text()
    after = add_release(text, "955-billing", ["030-ingress-controllers", "060-grafana-stack"])
    assert _added(text, after) == [
        "  955-billing:",
        "    needs: [030-ingress-controllers, 060-grafana-stack]",
    ]
    data = yaml.safe_load(after)
    assert list(data["releases"])[-1] == "955-billing"
    assert list(data) == list(yaml.safe_load(text))  # sections keep their order: the entry is in releases


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apiVersion: gripctl/v1\n", "releases:\n  010-a:\n    needs: []\n"),
        (
            "apiVersion: gripctl/v1\nreleases: {}  # none yet\n",
            "releases:  # none yet\n  010-a:\n    needs: []\n",
        ),
        ("apiVersion: gripctl/v1\nreleases:\nenvironments: {}\n", "releases:\n  010-a:\n    needs: []\nenv"),
    ],
)
def test_an_empty_or_missing_releases_section(text: str, expected: str) -> None:
    after = add_release(text, "010-a", [])
    assert expected in after
    assert yaml.safe_load(after)["releases"] == {"010-a": {"needs": []}}


def test_keeps_the_files_own_indentation() -> None:
    text = "apiVersion: gripctl/v1\nreleases:\n    005-b:\n        labels: {a: b}\n"
    after = add_release(text, "010-a", ["005-b"])
    assert after.endswith("    010-a:\n        needs: [005-b]\n")


def test_refuses_what_it_cannot_extend_cleanly() -> None:
    with pytest.raises(ConfigError) as caught:
        add_release("apiVersion: gripctl/v1\nreleases:\n  010-a: {}\n", "010-a", [])
    assert "already has an entry for '010-a'" in caught.value.message
    assert caught.value.location is not None and caught.value.location.line == 3
    with pytest.raises(ConfigError) as caught:
        add_release("apiVersion: gripctl/v1\nreleases: {005-b: {}}\n", "010-a", [])
    assert "flow mapping" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        add_release("apiVersion: gripctl/v1\nreleases: [a]\n", "010-a", [])
    assert "must be a mapping" in caught.value.message
