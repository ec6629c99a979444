"""The part of helmfile's Go templating that an import can evaluate without helmfile, and nothing more.

helmfile renders a `.gotmpl` state file as a Go template before parsing it, and renders some release
fields (name, namespace, chart, labels, values paths, needs) once more per release. Most real files use
a small subset to switch on the environment:

    {{ .Environment.Name }}                      {{ if eq .Environment.Name "production" }} ... {{ end }}
    {{ .Release.Name }}  {{ .Release.Namespace }}  {{ else if ne .Environment.Name "dev" }}  {{ else }}
    {{ "literal" }}  {{`{{ .Release.Name }}`}}     {{ if has .Environment.Name (list "a" "b") }}
    {{/* comments */}}                           {{ if or (eq ...) (eq ...) }}  and, not

That subset is evaluated here. Anything else (`.Values`, `requiredEnv`, `exec`, `range`, `include`, ...) is
reported as a `Skipped` part with its line, never guessed: an unsupported expression renders as nothing,
and the text inside an unsupported block is left out. Rendering keeps every newline, so a line number in
the rendered text is the line number in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gripctl.errors import ConfigError, Location

_COMMENT = re.compile(r"^/\*.*\*/$", re.S)
_STRING = re.compile(r'^(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`)$', re.S)
_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|`[^`]*`|[^\s()]+)')
_BLOCKS = ("range", "with", "define", "block")


@dataclass(frozen=True)
class Skipped:
    """A template part that could not be evaluated: what it was and where (1-based lines)."""

    expression: str
    line: int
    end_line: int | None = None  # for a block: the line of its `end`
    reason: str = "not evaluated"


@dataclass(frozen=True)
class Scope:
    """What the expressions may refer to."""

    environment: str
    release_name: str | None = None
    release_namespace: str | None = None


@dataclass
class _Frame:
    line: int
    expression: str
    parent_active: bool
    active: bool
    taken: bool = False
    supported: bool = True


@dataclass
class Rendered:
    text: str
    skipped: list[Skipped] = field(default_factory=list)


def render(text: str, scope: Scope, display: str) -> Rendered:
    """Render `text` for `scope`; unsupported parts are left out and listed. Unbalanced blocks
    (`end` without `if`, an `if` never closed) are a ConfigError naming the line."""
    out: list[str] = []
    skipped: list[Skipped] = []
    stack: list[_Frame] = []
    position = 0

    def active() -> bool:
        return all(frame.active for frame in stack)

    def emit(literal: str) -> None:
        # Text in a branch not taken still keeps its newlines, so that lines stay where they were.
        out.append(literal if active() else "\n" * literal.count("\n"))

    for action in _actions(text, display):
        literal = text[position : action.start]
        if action.trim_left:  # `{{-` trims the spaces before it, but never a newline (lines must stay put)
            literal = literal.rstrip(" \t")
        emit(literal)
        position = action.end
        if action.trim_right:
            position += len(text[position:]) - len(text[position:].lstrip(" \t"))
        expression = action.expression
        line = text.count("\n", 0, action.start) + 1
        newlines = "\n" * text.count("\n", action.start, action.end)
        if _COMMENT.match(expression):
            out.append(newlines)
            continue
        keyword = expression.split(None, 1)[0] if expression else ""
        rest = expression[len(keyword) :].strip()
        if keyword == "if":
            value = _condition(rest, scope)
            frame = _Frame(line, expression, parent_active=active(), active=bool(value), taken=bool(value))
            if value is None:
                frame.supported = frame.active = False
            stack.append(frame)
        elif keyword == "else":
            frame = _top(stack, expression, line, display)
            if frame.supported:
                if rest.startswith("if "):
                    value = None if frame.taken else _condition(rest[3:].strip(), scope)
                    if frame.taken:
                        frame.active = False
                    elif value is None:
                        frame.supported = frame.active = False
                        frame.expression = expression
                        frame.line = line
                    else:
                        frame.active = value
                        frame.taken = value
                else:
                    frame.active = not frame.taken
                    frame.taken = True
        elif keyword == "end":
            frame = _top(stack, expression, line, display)
            stack.pop()
            if not frame.supported and frame.parent_active:
                skipped.append(
                    Skipped(
                        frame.expression, frame.line, line, "block not evaluated: its content is left out"
                    )
                )
        elif keyword in _BLOCKS:
            stack.append(_Frame(line, expression, parent_active=active(), active=False, supported=False))
        elif active():
            printed = _expression(expression, scope)
            if printed is None:
                skipped.append(Skipped(expression, line))
                out.append(newlines)
            else:
                out.append(printed + newlines)
        else:
            out.append(newlines)
    emit(text[position:])
    if stack:
        frame = stack[-1]
        raise ConfigError(
            f"{{{{ {frame.expression} }}}} is never closed with {{{{ end }}}}",
            location=Location(display, frame.line),
            hint="helmfile would fail to render this file too; add the missing {{ end }}",
        )
    return Rendered("".join(out), skipped)


@dataclass(frozen=True)
class _Action:
    start: int
    end: int
    expression: str
    trim_left: bool
    trim_right: bool


def _actions(text: str, display: str) -> list[_Action]:
    """Every `{{ ... }}` in `text`. Scanned, not matched: a quoted or raw string inside an action may
    itself contain `}}` (helmfile files escape release templates as {{`{{ .Release.Name }}`}})."""
    found: list[_Action] = []
    position = 0
    while True:
        start = text.find("{{", position)
        if start < 0:
            return found
        cursor = start + 2
        while True:
            if cursor >= len(text):
                raise ConfigError(
                    "a template action {{ is never closed with }}",
                    location=Location(display, text.count("\n", 0, start) + 1),
                    hint="helmfile would fail to render this file too; close the action",
                )
            char = text[cursor]
            if text.startswith("}}", cursor):
                break
            if char in "\"'":
                cursor += 1
                while cursor < len(text) and text[cursor] != char:
                    cursor += 2 if text[cursor] == "\\" else 1
            elif char == "`":
                closing = text.find("`", cursor + 1)
                cursor = closing if closing >= 0 else len(text)
            cursor += 1
        body = text[start + 2 : cursor]
        trim_left = body.startswith("- ") or body == "-"
        trim_right = body.endswith(" -") or body == "-"
        inner = body[1:] if trim_left else body
        inner = inner[:-1] if trim_right and inner.endswith("-") else inner
        found.append(_Action(start, cursor + 2, inner.strip(), trim_left, trim_right))
        position = cursor + 2


def render_field(
    value: str, scope: Scope, display: str, line: int | None
) -> tuple[str | None, list[Skipped]]:
    """A release field as helmfile's per-release pass renders it; None when it holds an expression
    outside the subset (the caller reports the field)."""
    if "{{" not in value:
        return value, []
    rendered = render(value, scope, display)
    if rendered.skipped:
        return None, [Skipped(s.expression, line or s.line, None, s.reason) for s in rendered.skipped]
    return rendered.text, []


def _top(stack: list[_Frame], expression: str, line: int, display: str) -> _Frame:
    if not stack:
        raise ConfigError(
            f"{{{{ {expression} }}}} without a matching {{{{ if }}}}",
            location=Location(display, line),
            hint="helmfile would fail to render this file too; remove it or add the opening {{ if }}",
        )
    return stack[-1]


def _expression(expression: str, scope: Scope) -> str | None:
    literal = _STRING.match(expression)
    if literal:
        return _unquote(expression) if literal.group(1) is not None else literal.group(2)
    if expression == ".Environment.Name":
        return scope.environment
    if expression == ".Release.Name" and scope.release_name is not None:
        return scope.release_name
    if expression == ".Release.Namespace" and scope.release_namespace is not None:
        return scope.release_namespace
    return None


def _unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    return re.sub(r'\\(["\\nt])', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), token[1:-1])


def _condition(expression: str, scope: Scope) -> bool | None:
    """eq/ne/has on .Environment.Name, combined with or/and/not; None for anything else."""
    try:
        value, rest = _call(_tokens(expression), scope)
    except _Unsupported:
        return None
    return value if not rest else None


def _tokens(expression: str) -> list[str]:
    tokens: list[str] = []
    text = expression.strip()
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _Unsupported
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Unsupported(Exception):
    pass


def _call(tokens: list[str], scope: Scope) -> tuple[bool, list[str]]:
    """One function call `name arg...` up to the end of `tokens` (or a closing parenthesis)."""
    if not tokens:
        raise _Unsupported
    name, rest = tokens[0], tokens[1:]
    args: list[object] = []
    while rest and rest[0] != ")":
        if rest[0] == "(":
            inner, rest = _group(rest[1:], scope)
            args.append(inner)
        else:
            args.append(_atom(rest[0], scope))
            rest = rest[1:]
    if name in ("eq", "ne") and len(args) == 2 and all(isinstance(a, str) for a in args):
        equal = args[0] == args[1]
        return (equal if name == "eq" else not equal), rest
    if name == "has" and len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], list):
        return args[0] in args[1], rest
    if name in ("or", "and") and args and all(isinstance(a, bool) for a in args):
        return (any(args) if name == "or" else all(args)), rest
    if name == "not" and len(args) == 1 and isinstance(args[0], bool):
        return not args[0], rest
    raise _Unsupported


def _group(tokens: list[str], scope: Scope) -> tuple[object, list[str]]:
    """A parenthesised call: a condition, or `list "a" "b"`."""
    if tokens and tokens[0] == "list":
        items: list[str] = []
        rest = tokens[1:]
        while rest and rest[0] != ")":
            atom = _atom(rest[0], scope)
            if not isinstance(atom, str):
                raise _Unsupported
            items.append(atom)
            rest = rest[1:]
        if not rest:
            raise _Unsupported
        return items, rest[1:]
    value, rest = _call(tokens, scope)
    if not rest or rest[0] != ")":
        raise _Unsupported
    return value, rest[1:]


def _atom(token: str, scope: Scope) -> object:
    if _STRING.match(token):
        return _unquote(token)
    if token == ".Environment.Name":
        return scope.environment
    raise _Unsupported
