"""The house reads top-down: no room imports a room on its own floor or above, and faces stay thin.

Every `import` in src/gripctl (function-level ones too: a lazy import is still a dependency) is read
with `ast`, and each edge between two rooms must run down the floors below. A new room has to be
given its floor here, on purpose. Faces (cli, web) must also not reach around the service API: no
adapters, no opening the ledger, no engine internals.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "gripctl"

# Higher imports lower, never the other way, and never sideways (one floor, two rooms).
FLOORS: dict[str, int] = {
    # floor 0-1: pure helpers every room may use
    "errors": 0,
    "yamlio": 0,
    "digest": 0,
    "timestamps": 0,
    "identity": 0,
    "helmvalues": 0,
    "manifest": 1,
    # the platform from files, and the thin wrappers around real tools
    "model": 2,
    "adapters": 2,
    # the durable record; a new application from the template (model, secrets, git); the docs site
    "ledger": 3,
    "scaffold": 5,
    "interop": 3,  # helmfile export/import: the model both ways
    "docsite": 3,
    # secrets and notification delivery (secrets records rotations in the ledger)
    "secrets": 4,
    "notify": 4,
    # reading the world
    "observe": 5,
    # deciding, and checking before deciding
    "plan": 6,
    "validate": 6,
    # acting, and metrics over the record
    "engine": 7,
    "metrics": 7,
    # people: incidents listen to the engine's events
    "incidents": 8,
    # the core's one API
    "service": 9,
    # faces
    "cli": 10,
    "web": 10,
}

# What a face may not import (it calls gripctl.service; types and events for rendering are fine).
FACE_FORBIDDEN = (
    "gripctl.adapters",
    "gripctl.ledger.store",
    "gripctl.ledger.probe",
    "gripctl.model.loader",
    "gripctl.model.settings",
    "gripctl.incidents.setup",
    "gripctl.incidents.service",
)
FACE_ALLOWED_IN_FORBIDDEN_ROOMS = {
    "gripctl.engine": ("gripctl.engine.events", "gripctl.engine.options"),
    "gripctl.observe": ("gripctl.observe.types",),
}
FACES = ("cli", "web")


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_of(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports() -> list[tuple[str, str, int]]:
    """(importing module, imported gripctl module, line) for every import in the package."""
    edges: list[tuple[str, str, int]] = []
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        module = _module_of(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    names = [f"{base}.{node.module}" if node.module else base]
                else:
                    names = [node.module or ""]
            else:
                continue
            edges += [(module, n, node.lineno) for n in names if n == "gripctl" or n.startswith("gripctl.")]
    return edges


def test_every_room_has_a_floor() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in SRC.iterdir() if p.suffix == ".py" or p.is_dir()}
    rooms -= {"__init__", "__pycache__", "__main__"}
    missing = sorted(rooms - set(FLOORS))
    assert not missing, f"new rooms need a floor in FLOORS (tests/unit/test_import_graph.py): {missing}"


def test_no_import_runs_up_or_sideways() -> None:
    wrong = []
    for importer, imported, line in imports():
        a, b = _room(importer), _room(imported)
        if a == b or b == "__init__" or a == "__init__":
            continue
        if FLOORS[a] <= FLOORS[b]:
            wrong.append(
                f"{importer}:{line} imports {imported} ({a} floor {FLOORS[a]} -> {b} floor {FLOORS[b]})"
            )
    assert not wrong, "imports that run up or sideways:\n" + "\n".join(wrong)


def test_faces_only_call_the_service() -> None:
    wrong = []
    for importer, imported, line in imports():
        if _room(importer) not in FACES:
            continue
        if imported.startswith(FACE_FORBIDDEN):
            wrong.append(f"{importer}:{line} imports {imported}")
        for room, allowed in FACE_ALLOWED_IN_FORBIDDEN_ROOMS.items():
            if (imported == room or imported.startswith(room + ".")) and imported not in allowed:
                wrong.append(f"{importer}:{line} imports {imported} (only {', '.join(allowed)} from {room})")
    assert not wrong, "faces reaching around the service API:\n" + "\n".join(wrong)


def test_the_checker_sees_a_wrong_import() -> None:
    """The rule can fail: the real edge observe -> adapters is allowed, its reverse would not be."""
    edges = {(_room(a), _room(b)) for a, b, _ in imports()}
    assert ("observe", "adapters") in edges and FLOORS["adapters"] < FLOORS["observe"]
    assert ("service", "engine") in edges and ("cli", "service") in edges
