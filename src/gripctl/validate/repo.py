"""Repository checks: yamllint, secret scanning, plaintext secrets tracked by git, chart version bumps.

These look at files, not at rendered objects, so they run once per validate, not per environment.
Which files count comes from git (tracked, plus untracked files that are not ignored) when the root
is a git work tree; otherwise every file under the root except tool caches.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from gripctl.adapters.process import run
from gripctl.errors import ConfigError, UsageError
from gripctl.model.types import Release
from gripctl.validate.findings import Finding, Severity

YAML_SUFFIXES = (".yaml", ".yml")
DECRYPTED_SUFFIXES = (".dec.yaml", ".dec.yml")
AGE_SECRET = re.compile(rb"AGE-SECRET-KEY-1[0-9A-Z]{20,}")
_SOPS_META = re.compile(r"^sops:\s*$", re.MULTILINE)
_SKIP_DIRS = {".git", ".gripctl", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}

# Used when the repository has no .yamllint of its own. Relaxed where Helm/Kubernetes YAML
# conventionally differs from yamllint's defaults (no `---` at the top, `on:` keys, long URLs).
DEFAULT_YAMLLINT = """
extends: default
rules:
  document-start: disable
  line-length: {max: 160, level: warning}
  truthy: {check-keys: false}
  comments: {min-spaces-from-content: 1}
  comments-indentation: disable
  indentation: {spaces: consistent, indent-sequences: whatever}
"""


@dataclass(frozen=True)
class RepoFiles:
    """The repository's files, relative to the root, and which of them git tracks."""

    root: Path
    files: tuple[str, ...]  # tracked + untracked-not-ignored (or every file without git)
    tracked: frozenset[str]
    is_git: bool

    @classmethod
    def scan(cls, root: Path) -> RepoFiles:
        if is_git_repo(root):
            tracked = _git_files(root, "--cached")
            others = _git_files(root, "--others", "--exclude-standard")
            files = tuple(sorted(set(tracked) | set(others)))
            return cls(root, files, frozenset(tracked), True)
        walked: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for f in filenames:
                walked.append(str((Path(dirpath) / f).relative_to(root)))
        return cls(root, tuple(sorted(walked)), frozenset(walked), False)


def is_git_repo(root: Path) -> bool:
    # True inside any work tree: a platform may be a folder of a bigger repository (paths stay relative)
    return run("git", ["rev-parse", "--show-prefix"], cwd=str(root), check=False).ok


def _git_files(root: Path, *args: str) -> list[str]:
    out = run("git", ["ls-files", "-z", *args, "--", "."], cwd=str(root)).stdout
    return [p for p in out.split("\0") if p and (root / p).is_file()]


def is_sops_file(text: str) -> bool:
    """SOPS-encrypted YAML: top-level `sops:` metadata and ENC[...] values."""
    return bool(_SOPS_META.search(text)) and "ENC[" in text


def _in_chart_templates(rel: str, root: Path) -> bool:
    """Go templates of a chart (`<chart>/templates/...`) are not YAML until rendered."""
    parts = Path(rel).parts
    for i, part in enumerate(parts[:-1]):
        if part == "templates" and (root.joinpath(*parts[:i]) / "Chart.yaml").is_file():
            return True
    return False


def _read(root: Path, rel: str) -> bytes | None:
    try:
        return (root / rel).read_bytes()
    except OSError:
        return None


def yamllint_findings(repo: RepoFiles) -> list[Finding]:
    root = repo.root
    config_text = DEFAULT_YAMLLINT
    for name in (".yamllint", ".yamllint.yaml", ".yamllint.yml"):
        if (root / name).is_file():
            config_text = (root / name).read_text()
            break
    try:
        conf = YamlLintConfig(content=config_text)
    except Exception as exc:  # yamllint raises YamlLintConfigError (and yaml errors) on bad config
        raise ConfigError(
            f"yamllint configuration is invalid: {exc}", hint="fix .yamllint at the root"
        ) from exc
    # SOPS files carry long ciphertext lines by design; everything else about them is still linted.
    sops_conf = YamlLintConfig(content=config_text + "\n")
    sops_conf.rules["line-length"] = False
    sops_conf.validate()

    findings: list[Finding] = []
    for rel in repo.files:
        if not rel.endswith(YAML_SUFFIXES) or _in_chart_templates(rel, root):
            continue
        if conf.is_file_ignored(rel):
            continue
        data = _read(root, rel)
        if data is None:
            continue
        text = data.decode(errors="replace")
        for problem in linter.run(text, sops_conf if is_sops_file(text) else conf, rel):
            findings.append(
                Finding(
                    check="yamllint",
                    severity=Severity.error if problem.level == "error" else Severity.warning,
                    message=f"{problem.desc} ({problem.rule})" if problem.rule else problem.desc,
                    file=rel,
                    line=problem.line,
                    hint="fix the YAML, or tune the rule in .yamllint",
                )
            )
    return findings


def secret_findings(repo: RepoFiles) -> list[Finding]:
    """detect-secrets over the repository's files, and plaintext secrets git tracks (or would)."""
    from detect_secrets.core.scan import scan_file  # imported late: it loads every plugin
    from detect_secrets.settings import default_settings

    root = repo.root
    findings: list[Finding] = []
    candidate = _candidate_pattern()
    scanned: dict[tuple[str, bytes], list[tuple[int, str, str]]] = {}
    with default_settings():
        for rel in repo.files:
            data = _read(root, rel)
            if data is None or b"\0" in data[:8192]:
                continue  # unreadable or binary
            text = data.decode(errors="replace")
            encrypted = is_sops_file(text)
            findings += _plaintext(repo, rel, data, text, encrypted)
            if encrypted or not candidate.search(text):
                continue  # ciphertext by design (SOPS values are ENC[...]), or nothing any plugin could match
            # Same content and extension, same result: charts share helpers, .helmignore, NOTES.txt.
            key = (Path(rel).suffix, hashlib.sha256(data).digest())
            if key not in scanned:
                scanned[key] = [
                    (s.line_number, s.type, s.secret_value or "") for s in scan_file(str(root / rel))
                ]
            lines = text.splitlines()
            for line_number, secret_type, value in scanned[key]:
                line_text = lines[line_number - 1] if 0 < line_number <= len(lines) else ""
                if _reference_not_secret(line_text, value):
                    continue
                findings.append(
                    Finding(
                        check="secret-scan",
                        severity=Severity.error,
                        message=f"possible secret in plaintext: {secret_type}",
                        file=rel,
                        line=line_number,
                        hint="move it into an encrypted secrets file (gripctl secrets edit); "
                        "if it is not a secret, add `# pragma: allowlist secret` on that line",
                    )
                )
    return findings


@cache
def _candidate_pattern() -> re.Pattern[str]:
    """A cheap test that a file has at least one line some detect-secrets plugin could report.

    detect-secrets costs about 6 ms per file (every plugin on every line); most chart files cannot
    hold anything it reports. Its plugins need one of: a keyword of its denylist (password, secret,
    api_key, ...), a PEM `BEGIN` line, `scheme://user:pass@`, an IPv4 address, an npm `_authToken`,
    or a token: the entropy plugins need >= 8 distinct hex or >= 23 distinct base64 characters, and
    the vendor token formats (AKIA..., ghp_..., xox..., sk_live_...) are long runs that in practice
    contain digits. A file with none of these is skipped; others get the full scan.
    """
    from detect_secrets.plugins.keyword import DENYLIST

    token = r"(?=[A-Za-z0-9+/=_-]*[0-9])[A-Za-z0-9+/=_-]{8,}"
    parts = [
        *DENYLIST,
        "BEGIN",
        r"://[^\s/:@]+:[^\s/@]+@",
        r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}",
        "_authToken",
        token,
    ]
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)


_KEY = re.compile(r"^\s*(?:-\s*)?[\"']?([\w.-]+)[\"']?\s*:")
# Keys that *name* a secret rather than hold one: secretName, existingSecret, secretKeyRef, ...
_REFERENCE_KEY = re.compile(r"(Name|Ref|Key|Namespace|File|Path|Secret|secrets)$")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9._/-]{0,62}$")


def _reference_not_secret(line: str, value: str) -> bool:
    """detect-secrets' keyword rule fires on every `secretName: tls-cert` of a Kubernetes repository.

    A lowercase identifier under a key that names a secret (a Secret's name, a key within it, a
    folder) is a reference, not a credential; age public keys (`age1...`) are public by design.
    """
    if value.startswith("age1"):
        return True
    match = _KEY.match(line)
    return bool(match and _REFERENCE_KEY.search(match.group(1)) and _IDENTIFIER.match(value))


def _plaintext(repo: RepoFiles, rel: str, data: bytes, text: str, encrypted: bool) -> list[Finding]:
    out: list[Finding] = []
    tracked = rel in repo.tracked
    where = "tracked by git" if repo.is_git else "in the repository (not a git work tree: every file counts)"
    if rel.endswith(DECRYPTED_SUFFIXES):
        if tracked:
            out.append(
                Finding(
                    check="plaintext-secrets",
                    severity=Severity.error,
                    message=f"decrypted secrets file {where}",
                    file=rel,
                    hint=f"`git rm --cached {rel}`, add *.dec.yaml to .gitignore, and rotate what it held",
                )
            )
        else:
            out.append(
                Finding(
                    check="plaintext-secrets",
                    severity=Severity.warning,
                    message="decrypted secrets file is not ignored by git: "
                    "one `git add .` away from being committed",
                    file=rel,
                    hint="add *.dec.yaml and *.dec.yml to .gitignore",
                )
            )
    if tracked and (match := AGE_SECRET.search(data)):
        line = data.count(b"\n", 0, match.start()) + 1
        out.append(
            Finding(
                check="plaintext-secrets",
                severity=Severity.error,
                message=f"age private key (AGE-SECRET-KEY-1...) {where}",
                file=rel,
                line=line,
                hint="remove it from git, make a new key (gripctl secrets init) kept outside the repository, "
                "run `gripctl secrets updatekeys`, and rotate the values the old key protected",
            )
        )
    name = Path(rel).name
    named_sops = name.endswith((".sops.yaml", ".sops.yml")) and name not in (".sops.yaml", ".sops.yml")
    if tracked and named_sops and not encrypted:  # (.sops.yaml itself is sops' configuration)
        out.append(
            Finding(
                check="plaintext-secrets",
                severity=Severity.error,
                message="file is named as SOPS-encrypted but holds no SOPS metadata: plaintext where "
                "ciphertext belongs",
                file=rel,
                hint=f"encrypt it in place: `sops --encrypt --in-place {rel}`, then rotate what it held",
            )
        )
    return out


def _chart_version(text: str) -> tuple[str | None, int | None]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None, None
    version = data.get("version") if isinstance(data, dict) else None
    line = next((i for i, t in enumerate(text.splitlines(), 1) if t.startswith("version:")), None)
    return (str(version) if version is not None else None), line


def _helmignore(chart: Path) -> Callable[[str], bool]:
    """A matcher for the chart's .helmignore (glob lines; `dir/` for folders): such files never ship."""
    try:
        lines = (chart / ".helmignore").read_text().splitlines()
    except OSError:
        lines = []
    patterns = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        for pattern in patterns:
            if pattern.startswith("!"):
                continue  # negation is rare in charts; treating it as "not ignored" only reports more
            if pattern.endswith("/"):
                if any(fnmatch.fnmatch(part, pattern.rstrip("/")) for part in parts[:-1]):
                    return True
            elif fnmatch.fnmatch(path, pattern.lstrip("/")) or fnmatch.fnmatch(parts[-1], pattern):
                return True
        return False

    return ignored


def chart_version_findings(root: Path, releases: list[Release], base: str) -> list[Finding]:
    """A chart whose files differ from `base` must carry a different Chart.yaml version than at `base`."""
    if not is_git_repo(root):
        raise UsageError(
            f"--base {base}: {root} is not a git work tree", hint="run inside the platform's git clone"
        )
    if not run(
        "git", ["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], cwd=str(root), check=False
    ).ok:
        raise UsageError(
            f"--base {base}: no such commit, branch or tag in {root}",
            hint=f"fetch it first (git fetch origin {base}) or name an existing ref",
        )
    changed = [
        p
        for p in run(
            "git", ["diff", "--name-only", "--relative", base, "--", "."], cwd=str(root)
        ).stdout.splitlines()
        if p
    ]
    findings: list[Finding] = []
    seen: set[Path] = set()
    for release in releases:
        chart = release.chart_path
        if chart in seen or not chart.is_relative_to(root):
            continue
        seen.add(chart)
        rel = str(chart.relative_to(root))
        ignored = _helmignore(chart)
        files = [p for p in changed if p.startswith(rel + "/") and not ignored(p.removeprefix(rel + "/"))]
        if not files:
            continue
        at_base = run("git", ["show", f"{base}:./{rel}/Chart.yaml"], cwd=str(root), check=False)
        if not at_base.ok:
            continue  # a new chart: any version is a new one
        old, _ = _chart_version(at_base.stdout)
        new, line = _chart_version((chart / "Chart.yaml").read_text())
        if old is not None and old == new:
            shown = ", ".join(f.removeprefix(rel + "/") for f in files[:5])
            shown += " ..." if len(files) > 5 else ""
            findings.append(
                Finding(
                    check="chart-version",
                    severity=Severity.error,
                    message=f"chart files changed since {base} ({shown}) "
                    f"but Chart.yaml version is still {new}",
                    release=release.id,
                    file=f"{rel}/Chart.yaml",
                    line=line,
                    hint="bump `version:` in Chart.yaml (semver: patch for fixes, minor for features)",
                )
            )
    return findings
