"""The generated pages of a platform's documentation, from the platform itself (never hand-written).

- `reference/releases.md`: every release with its chart, version, namespace and needs;
- `reference/graph.md` and `reference/graph.svg`: the dependency graph in waves, with the critical path;
- `reference/environments.md`: each environment's target, approvals, values, and the policies;
- `runbooks/index.md` and `runbooks/<release>.md`: how to check a release, roll it back, who approves;
- `index.md`, only when the platform's docs/ has none.

Pages are Markdown with links between them (and to the hand-written pages' folders only through
these), so the strict build and the link check hold them to the same rules as the hand-written ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gripctl.docsite.svg import graph_svg
from gripctl.model import Graph, Platform, Release
from gripctl.yamlio import YAMLError, safe_load

REFERENCE = "reference"
RUNBOOKS = "runbooks"


@dataclass(frozen=True)
class ChartInfo:
    name: str
    version: str
    app_version: str


def chart_info(release: Release) -> ChartInfo:
    try:
        data: Any = safe_load((release.chart_path / "Chart.yaml").read_text())
    except (OSError, YAMLError):
        data = None
    data = data if isinstance(data, dict) else {}
    return ChartInfo(
        name=str(data.get("name", release.chart_path.name)),
        version=str(data.get("version", "?")),
        app_version=str(data.get("appVersion", "")),
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _needs(release: Release) -> list[str]:
    return list(release.needs)


def _release_link(release_id: str, prefix: str = "") -> str:
    return f"[{release_id}]({prefix}{RUNBOOKS}/{release_id}.md)"


def releases_page(platform: Platform) -> str:
    lines = [
        "# Releases",
        "",
        f"Every release of the platform, from `{platform.config_path.name}` and the charts folder, in "
        "the order they deploy. The [dependency graph](graph.md) shows which run together; each "
        "release's runbook says how to check it and roll it back.",
        "",
        "| id | chart | version | namespace | needs |",
        "|---|---|---|---|---|",
    ]
    for release in platform.releases.values():
        info = chart_info(release)
        version = info.version + (f" (app {info.app_version})" if info.app_version else "")
        needs = ", ".join(_release_link(n, "../") for n in _needs(release)) or "—"
        chart = f"{info.name} (`{_rel(release.chart_path, platform.root)}`)"
        lines.append(
            f"| {_release_link(release.id, '../')} | {_cell(chart)} | {_cell(version)} | "
            f"`{release.namespace}` | {needs} |"
        )
    return "\n".join(lines) + "\n"


def graph_page(platform: Platform, graph: Graph) -> str:
    waves = graph.waves()
    path = graph.critical_path()
    lines = [
        "# Dependency graph",
        "",
        f"{len(graph.nodes)} releases in {len(waves)} waves. A release starts once everything it needs "
        "is deployed and healthy; releases in one wave may run together. Dashed boxes are secrets "
        "releases; the red edges are the critical path, the longest chain of needs.",
        "",
        "![The release dependency graph](graph.svg)",
        "",
        "## Waves",
        "",
    ]
    for number, wave in enumerate(waves, start=1):
        lines.append(f"{number}. " + ", ".join(_release_link(r, "../") for r in wave))
    lines += [
        "",
        "## Critical path",
        "",
        " → ".join(_release_link(r, "../") for r in path) or "(empty)",
        "",
        "`gripctl graph` prints the same; `gripctl graph --format dot` gives it to Graphviz.",
    ]
    return "\n".join(lines) + "\n"


def _policies(platform: Platform) -> list[str]:
    raw = platform.raw.get("policies")
    policies: dict[str, Any] = raw if isinstance(raw, dict) else {}
    lines = ["## Policies", ""]
    lines.append(f"`gripctl validate` fails on findings at or above **{policies.get('fail_on', 'error')}**.")
    checks = policies.get("checks")
    if isinstance(checks, dict) and checks:
        lines += ["", "| check | severity |", "|---|---|"]
        lines += [f"| `{check}` | {severity} |" for check, severity in checks.items()]
    exceptions = policies.get("exceptions")
    if isinstance(exceptions, list) and exceptions:
        lines += ["", "### Exceptions", "", "| check | applies to | reason |", "|---|---|---|"]
        for item in exceptions:
            if not isinstance(item, dict):
                continue
            scope = ", ".join(
                f"{key} `{item[key]}`" for key in ("release", "kind", "name", "path") if item.get(key)
            )
            lines.append(
                f"| `{item.get('check')}` | {_cell(scope or 'everything')} | "
                f"{_cell(str(item.get('reason', '')))} |"
            )
    return lines


def environments_page(platform: Platform) -> str:
    lines = ["# Environments", ""]
    if not platform.environments:
        lines += ["The platform declares no environments: gripctl uses the current kubeconfig context.", ""]
    else:
        lines += [
            "| environment | context | deploy | approval | approvers | monitor | concurrency |",
            "|---|---|---|---|---|---|---|",
        ]
        for env in platform.environments.values():
            lines.append(
                f"| [{env.name}](#{env.name}) | `{env.context or '(current)'}` | {env.deploy} | "
                f"{env.approval.value} | {', '.join(env.approvers) or '—'} | {env.monitor_seconds:g}s | "
                f"{env.concurrency} |"
            )
        for env in platform.environments.values():
            lines += ["", f"## {env.name}", ""]
            who = f"approved by one of {', '.join(env.approvers)}" if env.approvers else "approved"
            approval = (
                f"Every change must be {who} (`gripctl approve PLAN`)."
                if env.approval.value == "required"
                else ("Changes deploy without an approval.")
            )
            mode = "CI deploys it on its own." if env.deploy == "auto" else "A person starts its deploys."
            lines.append(f"{approval} {mode}")
            if env.values_files:
                lines += ["", "Values for every release, lowest first:", ""]
                lines += [f"- `{_rel(path, platform.root)}`" for path in env.values_files]
    lines += ["", *_policies(platform)]
    return "\n".join(lines) + "\n"


def runbook_page(platform: Platform, release: Release, graph: Graph) -> str:
    info = chart_info(release)
    rid = release.id
    lines = [
        f"# {rid}",
        "",
        f"Chart {info.name} {info.version} (`{_rel(release.chart_path, platform.root)}`), Helm release "
        f"`{release.name}` in namespace `{release.namespace}`.",
        "",
    ]
    needs = graph.needs(rid)
    dependents = graph.dependents(rid)
    lines.append("- Needs: " + (", ".join(f"[{n}]({n}.md)" for n in needs) or "nothing"))
    lines.append("- Needed by: " + (", ".join(f"[{n}]({n}.md)" for n in dependents) or "nothing"))
    if release.secrets_for:
        lines.append(f"- Secrets release of [{release.secrets_for}]({release.secrets_for}.md)")
    secrets_id = f"{rid}-secrets"
    if secrets_id in platform.releases:
        lines.append(f"- Its secrets: [{secrets_id}]({secrets_id}.md) (`gripctl secrets edit {rid}`)")
    lines.append(f"- Timeout {release.timeout_seconds}s; on a failed deploy: {release.remediation.value}")
    envs = list(platform.environments) or ["default"]
    env = envs[0]
    lines += [
        "",
        "## Check it",
        "",
        "```bash",
        f"gripctl status -e {env} --only {rid}     # helm status, revision, health, drift",
        f"gripctl verify -e {env} --only {rid}     # rollouts, pods, endpoints, HTTP checks now",
        f"gripctl history {rid} -e {env}           # revisions and the runs that made them",
        f"kubectl -n {release.namespace} get all -l app.kubernetes.io/instance={release.name}",
        "```",
    ]
    if release.http_checks:
        lines += ["", "HTTP checks after every deploy:", ""]
        lines += [f"- `{c.url}` answers {c.expect_status}" for c in release.http_checks]
    lines += [
        "",
        "## Roll it back",
        "",
        f"A failed deploy is remediated on its own ({release.remediation.value}). By hand:",
        "",
        "```bash",
        f"gripctl history {rid} -e {env}           # pick a revision",
        f"gripctl rollback {rid} -e {env}          # the last good revision (or: rollback {rid} REVISION)",
        "```",
        "",
        "The rollback is locked, verified and recorded in the ledger like a deploy.",
        "",
        "## Who approves",
        "",
    ]
    if platform.environments:
        lines += ["| environment | approval | approvers |", "|---|---|---|"]
        for e in platform.environments.values():
            lines.append(
                f"| [{e.name}](../{REFERENCE}/environments.md#{e.name}) | {e.approval.value} | "
                f"{', '.join(e.approvers) or '—'} |"
            )
    else:
        lines.append("No environment requires an approval.")
    return "\n".join(lines) + "\n"


def runbooks_index(platform: Platform) -> str:
    lines = ["# Runbooks", "", "One page per release: how to check it, roll it back, and who approves.", ""]
    lines += [f"- [{rid}]({rid}.md)" for rid in platform.releases]
    return "\n".join(lines) + "\n"


def index_page(platform: Platform) -> str:
    return (
        f"# {platform.root.name}\n\n"
        f"The platform's {len(platform.releases)} releases: the [releases]({REFERENCE}/releases.md), "
        f"the [dependency graph]({REFERENCE}/graph.md), the [environments]({REFERENCE}/environments.md) "
        f"and a [runbook]({RUNBOOKS}/index.md) per release.\n"
    )


def generate(platform: Platform, *, with_index: bool) -> dict[str, str | bytes]:
    """Every generated page, by its path under the docs folder."""
    graph = Graph.from_platform(platform)
    secrets = {r.id for r in platform.releases.values() if r.secrets_for}
    pages: dict[str, str | bytes] = {
        f"{REFERENCE}/releases.md": releases_page(platform),
        f"{REFERENCE}/graph.md": graph_page(platform, graph),
        f"{REFERENCE}/graph.svg": graph_svg(graph, secrets, title=f"{platform.root.name} releases"),
        f"{REFERENCE}/environments.md": environments_page(platform),
        f"{RUNBOOKS}/index.md": runbooks_index(platform),
    }
    for release in platform.releases.values():
        pages[f"{RUNBOOKS}/{release.id}.md"] = runbook_page(platform, release, graph)
    if with_index:
        pages["index.md"] = index_page(platform)
    return pages


def nav_sections(platform: Platform) -> list[dict[str, Any]]:
    """The generated pages as mkdocs nav entries (for a config with an explicit nav)."""
    return [
        {
            "Reference": [
                {"Releases": f"{REFERENCE}/releases.md"},
                {"Dependency graph": f"{REFERENCE}/graph.md"},
                {"Environments": f"{REFERENCE}/environments.md"},
            ]
        },
        {"Runbooks": [f"{RUNBOOKS}/index.md", *(f"{RUNBOOKS}/{rid}.md" for rid in platform.releases)]},
    ]
