"""The Go-template subset an import evaluates: environment switches, literals, comments; everything else
is listed with its line, and lines never move."""

from __future__ import annotations

import pytest

from gripctl.errors import ConfigError
from gripctl.interop.gotemplate import Scope, render, render_field

SWITCH = """\
values:
{{- if eq .Environment.Name "staging" }}
  - staging.yaml
{{- else if has .Environment.Name (list "production" "prod-eu") }}
  - production.yaml
{{- else if or (eq .Environment.Name "dev") (eq .Environment.Name "test") }}
  - dev.yaml
{{- else }}
  - other.yaml
{{- end }}
  - {{ .Environment.Name }}/common.yaml
"""


@pytest.mark.parametrize(
    ("environment", "chosen"),
    [
        ("staging", "staging.yaml"),
        ("production", "production.yaml"),
        ("prod-eu", "production.yaml"),
        ("dev", "dev.yaml"),
        ("test", "dev.yaml"),
        ("qa", "other.yaml"),
    ],
)
def test_environment_switch_takes_one_branch(environment: str, chosen: str) -> None:
    rendered = render(SWITCH, Scope(environment), "h.gotmpl")
    items = [line.strip()[2:] for line in rendered.text.splitlines() if line.strip().startswith("- ")]
    assert items == [chosen, f"{environment}/common.yaml"]
    assert rendered.skipped == []
    assert rendered.text.count("\n") == SWITCH.count("\n")  # every line stays where it was


def test_not_and_ne_and_comments() -> None:
    text = '{{/* a\ncomment */}}a: {{ if not (ne .Environment.Name "x") }}yes{{ else }}no{{ end }}\n'
    assert render(text, Scope("x"), "f").text == "\na: yes\n"
    assert render(text, Scope("y"), "f").text == "\na: no\n"


def test_literals_and_escaped_release_templates() -> None:
    text = 'a: {{ "x}}y" }}\nb: {{`{{ .Release.Name }}`}}\nc: {{ "{{" }}\n'
    assert render(text, Scope("e"), "f").text == "a: x}}y\nb: {{ .Release.Name }}\nc: {{\n"


def test_unsupported_parts_are_listed_with_their_lines_and_left_out() -> None:
    text = (
        'a: {{ requiredEnv "TAG" }}\n'  # line 1: unknown function
        "{{ range .Values.items }}\n"  # lines 2-4: a block
        "- {{ . }}\n"
        "{{ end }}\n"
        "b: {{ if .Values.enabled }}on{{ end }}\n"  # line 5: a condition on state values
        "c: {{ .Environment.Name }}\n"
    )
    rendered = render(text, Scope("staging"), "f")
    assert rendered.text == "a: \n\n\n\nb: \nc: staging\n"
    found = {(s.expression, s.line, s.end_line) for s in rendered.skipped}
    assert found == {
        ('requiredEnv "TAG"', 1, None),
        ("range .Values.items", 2, 4),
        ("if .Values.enabled", 5, 5),
    }


def test_release_fields_render_per_release() -> None:
    scope = Scope("prod", release_name="web", release_namespace="apps")
    assert render_field("values/{{ .Release.Namespace }}/{{ .Release.Name }}.yaml", scope, "f", 3) == (
        "values/apps/web.yaml",
        [],
    )
    value, skipped = render_field("{{ .Values.x }}.yaml", scope, "f", 7)
    assert value is None
    assert [(s.expression, s.line) for s in skipped] == [(".Values.x", 7)]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('a: 1\n{{ if eq .Environment.Name "x" }}\nb: 2\n', 2, "never closed"),
        ("a: 1\nb: 2\n{{ end }}\n", 3, "without a matching"),
        ("a: 1\nb: {{ .Environment.Name\n", 2, "never closed with }}"),
    ],
)
def test_unbalanced_templates_are_errors_with_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        render(text, Scope("x"), "helmfile.yaml.gotmpl")
    assert caught.value.location is not None
    assert caught.value.location.line == line
    assert caught.value.location.path == "helmfile.yaml.gotmpl"
    assert message in caught.value.message
