"""gripctl.yamlio parses and dumps exactly like PyYAML's pure-Python safe loader and dumper, only
faster (libyaml): the same types for YAML 1.1's tricky scalars, the same documents, the same errors."""

from __future__ import annotations

import pytest
import yaml

from gripctl import yamlio

MANIFEST = """\
# Source: chart/templates/a.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: a, labels: {on: yes, off: no}}
data:
  octal: 0o17
  old_octal: 017
  float: 1e3
  date: 2026-11-27
  stamp: 2026-11-27T16:00:00Z
  empty: ~
  text: |
    line one
    line two
  anchor: &x {k: v}
  alias: *x
---
---
# Source: chart/templates/b.yaml
kind: List
items: [{kind: Service, metadata: {name: b}}]
"""


def test_loads_like_the_pure_python_safe_loader() -> None:
    assert list(yamlio.safe_load_all(MANIFEST)) == list(yaml.safe_load_all(MANIFEST))
    assert yamlio.safe_load("a: [1, 2.5, true, null]") == yaml.safe_load("a: [1, 2.5, true, null]")


def test_dump_round_trips_like_the_pure_python_dumper() -> None:
    data = next(iter(yaml.safe_load_all(MANIFEST)))
    dumped = yamlio.safe_dump(data, sort_keys=True)
    assert yaml.safe_load(dumped) == data
    assert dumped == yaml.safe_dump(data, sort_keys=True)


def test_refuses_python_objects_and_reports_yaml_errors() -> None:
    with pytest.raises(yamlio.YAMLError):
        yamlio.safe_load("!!python/object/apply:os.system ['true']")
    with pytest.raises(yamlio.YAMLError):
        yamlio.safe_load("a: [unclosed")
