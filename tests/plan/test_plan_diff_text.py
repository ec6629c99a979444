"""diff_manifests' text shortcut: manifests that are the same text (but for trailing blank lines) are
not parsed, and the shortcut never hides a change that parsing would show."""

from __future__ import annotations

import pytest

from gripctl.errors import ConfigError
from gripctl.plan.diff import diff_manifests, same_text

CONFIGMAP = """---
# Source: app/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: app
data:
  key: {value}
"""


def test_stored_manifest_with_helms_two_extra_newlines_is_unchanged_without_parsing() -> None:
    # Text that does not parse: had either side been parsed, diff_manifests would raise ConfigError.
    broken = "apiVersion: v1\nkind: [unclosed\n"
    with pytest.raises(ConfigError):
        diff_manifests(broken, broken + "x", "ns")
    assert diff_manifests(broken + "\n\n", broken, "ns") == ()
    assert same_text(CONFIGMAP.format(value="a") + "\n\n", CONFIGMAP.format(value="a"))


def test_a_changed_value_is_still_a_change() -> None:
    live, desired = CONFIGMAP.format(value="a") + "\n\n", CONFIGMAP.format(value="b")
    assert not same_text(live, desired)
    (change,) = diff_manifests(live, desired, "ns")
    assert (change.kind, change.name, change.change) == ("ConfigMap", "app", "changed")
    assert "-  key: a" in change.diff and "+  key: b" in change.diff


@pytest.mark.parametrize("indicator", ["|+", ">+", "|2+", "|+2"])
def test_trailing_blank_lines_of_a_keep_chomping_block_scalar_are_content(indicator: str) -> None:
    desired = CONFIGMAP.format(value=f"{indicator}\n    line\n")
    live = desired + "\n\n"
    assert not same_text(live, desired)
    (change,) = diff_manifests(live, desired, "ns")  # parsed: the value really differs
    assert change.change == "changed"
