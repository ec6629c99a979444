"""Inputs a person writes, read strictly (found by the chaos suite's broken-input corpus,
tests/chaos/broken_corpus.py): a duplicate key in a values file deployed the last value silently, and
a Chart.yaml helm refuses was reported in helm's words, naming neither the file nor the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gripctl import yamlio
from gripctl.errors import ConfigError
from gripctl.model.types import Release
from gripctl.observe.render import _chart_meta, _load_values_file


def _release(tmp_path: Path) -> Release:
    return Release(id="010-a", name="a", namespace="ns", chart_path=tmp_path / "chart", order=10)


def test_strict_load_names_the_duplicate_key_and_its_line() -> None:
    with pytest.raises(yamlio.DuplicateKeyError) as err:
        yamlio.safe_load_strict(b"image:\n  tag: v1\n  pull: Always\n  tag: v2\n")
    assert err.value.problem == "found duplicate key 'tag'"
    assert err.value.problem_mark is not None and err.value.problem_mark.line + 1 == 4


def test_strict_load_reads_what_safe_load_reads() -> None:
    text = b"a: {x: 1, y: [1, {z: 2}]}\nb: ~\nc: [a, a]\n"
    assert yamlio.safe_load_strict(text) == yamlio.safe_load(text)


def test_a_values_file_with_a_duplicate_key_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    values = tmp_path / "envs" / "common.yaml"
    values.parent.mkdir()
    values.write_text("replicas: 1\nversion: v1\nreplicas: 2\n")
    with pytest.raises(ConfigError) as err:
        _load_values_file(values, tmp_path, _release(tmp_path))
    assert str(err.value.location) == "envs/common.yaml:3:1"
    assert "duplicate key 'replicas'" in err.value.message


@pytest.mark.parametrize(
    ("chart_yaml", "where", "words"),
    [
        ("apiVersion: v2\nname: a\nversion: one\n", "chart/Chart.yaml:3", "not a SemVer version"),
        ("apiVersion: v3\nname: a\nversion: 0.1.0\n", "chart/Chart.yaml:1", "is not v1 or v2"),
        ("apiVersion: v2\nname: a\nversion: [0.1\n", "chart/Chart.yaml:4:1", "not valid YAML"),
        (
            "apiVersion: v2\nname: a\nversion: 0.1.0\nname: b\n",
            "chart/Chart.yaml:4:1",
            "duplicate key 'name'",
        ),
    ],
)
def test_chart_yaml_that_helm_refuses_is_named_with_its_line(
    tmp_path: Path, chart_yaml: str, where: str, words: str
) -> None:
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text(chart_yaml)
    with pytest.raises(ConfigError) as err:
        _chart_meta(tmp_path / "chart", tmp_path, _release(tmp_path))
    assert str(err.value.location) == where and words in err.value.message


@pytest.mark.parametrize("version", ["0.1.0", "1", "1.2", "v1.2.3", "1.2.3-rc.1+build.5"])
def test_chart_versions_helm_accepts_pass(tmp_path: Path, version: str) -> None:
    (tmp_path / "chart").mkdir()
    (tmp_path / "chart" / "Chart.yaml").write_text(f"apiVersion: v2\nname: a\nversion: {version}\n")
    assert _chart_meta(tmp_path / "chart", tmp_path, _release(tmp_path)) == ("a", version)
