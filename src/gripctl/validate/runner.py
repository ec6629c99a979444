"""Runs every validation check over the selected releases and environments, concurrently.

Per environment, helm work runs as subprocesses under one semaphore (about two per core): a lint per
group of charts that share their values (helm's start-up dominates a lint, so one `helm lint a b c`
beats three), and a render per release. Repository checks (yamllint, secret scanning, chart
versions) are independent of helm and run in a worker thread meanwhile. Object checks (schema,
policies) need every render of an environment first, since a CR is validated against the CRD that
another release installs.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import yaml

from gripctl.adapters import helm
from gripctl.adapters.helm import KubeTarget, Values
from gripctl.errors import GripError
from gripctl.model.types import Platform, Release
from gripctl.validate import images, repo, schema, workloads
from gripctl.validate.findings import CHECKS, DEFAULT_KUBE_VERSION, Finding, Report, Severity
from gripctl.validate.policy import Policies, load_policies
from gripctl.validate.render import (
    RenderedObject,
    manifest_from_dry_run,
    parse_lint,
    parse_manifest,
    relative,
    render_failure,
    server_findings,
)

# `decrypt(release, root) -> bytes | None`: the release's secrets decrypted and merged, or None.
Decryptor = Callable[[Release, Path], bytes | None]


def default_concurrency() -> int:
    return max(2, (os.cpu_count() or 1) * 2)


# Charts per `helm lint` process. helm keeps what it has linted: one process for the 300 charts of
# bench/scale.py's largest platform peaked at 431 MB (180 MB for 100), 40 charts stay near 100 MB.
LINT_CHUNK = 40


def lint_chunks(members: list[Release], slots: int, cap: int = LINT_CHUNK) -> list[list[Release]]:
    """Releases that share values, split for `helm lint`: enough chunks to keep every slot busy, few
    enough to amortise helm's start-up, none larger than `cap` (helm's memory grows with each chart)."""
    size = min(cap, max(1, -(-len(members) // max(1, slots))))
    return [members[i : i + size] for i in range(0, len(members), size)]


@dataclass
class Options:
    server: bool = False  # render with `helm install --dry-run=server` against the environment's cluster
    base: str | None = None  # git ref for the chart-version check
    fail_on: Severity | None = None  # overrides policies.fail_on
    kube_version: str = DEFAULT_KUBE_VERSION
    concurrency: int = field(default_factory=default_concurrency)
    decrypt: Decryptor | None = None  # None: gripctl.secrets when an age key is available


def age_key_available() -> bool:
    """Whether sops would find an age identity here (the places sops looks, see gripctl.secrets)."""
    if os.environ.get("SOPS_AGE_KEY") or os.environ.get("SOPS_AGE_KEY_CMD"):
        return True
    if file := os.environ.get("SOPS_AGE_KEY_FILE"):
        return Path(file).expanduser().is_file()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return (Path(base) / "sops" / "age" / "keys.txt").is_file()


def secrets_decryptor() -> Decryptor:
    """The secrets room's decryption as one pluggable call: every SOPS source decrypted and merged."""
    from gripctl.secrets import merged_values

    return lambda release, root: merged_values(release.secrets, root)


_ENC_TYPE = re.compile(r"^ENC\[.*,type:(\w+)\]$")
_PLACEHOLDERS: dict[str, object] = {"str": "placeholder", "int": 0, "float": 0.0, "bool": False, "bytes": ""}


def _blank(node: object) -> object:
    if isinstance(node, dict):
        return {k: _blank(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_blank(v) for v in node]
    if isinstance(node, str) and (match := _ENC_TYPE.match(node)):
        return _PLACEHOLDERS.get(match.group(1), "placeholder")
    return node


def placeholder_values(release: Release) -> bytes | None:
    """The release's SOPS files with every ENC[...] value replaced by a placeholder of its type.

    Without a key the real values cannot be had, but their shape can: the keys are in clear text.
    Rendering with placeholders still catches template errors and runs every object check, where
    rendering without them would fail on every `required` secret. None when a file is not SOPS YAML.
    """
    merged: dict[str, object] = {}
    for source in release.secrets:
        try:
            data = yaml.safe_load(source.path.read_text())
        except (OSError, yaml.YAMLError):
            return None
        if not isinstance(data, dict) or "sops" not in data:
            return None
        data.pop("sops")
        merged.update(cast(dict[str, object], _blank(data)))
    return yaml.safe_dump(merged).encode()


@dataclass
class _EnvRun:
    platform: Platform
    releases: list[Release]
    options: Options
    limit: asyncio.Semaphore
    policies: Policies
    findings: list[Finding] = field(default_factory=list)
    objects: list[RenderedObject] = field(default_factory=list)
    skipped_secrets: bool = False

    @property
    def env(self) -> str:
        return self.platform.environment.name

    @property
    def root(self) -> Path:
        return self.platform.root

    async def run(self) -> None:
        secrets = await self.secrets()
        jobs: list[Awaitable[None]] = [self.render(r, secrets.get(r.id)) for r in self.releases]
        if self.policies.enabled("helm-lint"):
            jobs += self.lint_jobs(secrets)
        await asyncio.gather(*jobs)
        self.check_objects()

    async def secrets(self) -> dict[str, bytes | None]:
        """Decrypted secrets per release that has any; skips (with an info finding) when impossible."""
        wanted = [r for r in self.releases if r.secrets]
        out: dict[str, bytes | None] = {}
        if not wanted:
            return out
        decrypt = self.options.decrypt
        if decrypt is None:
            decrypt = secrets_decryptor() if age_key_available() else None  # no key: skip, and say so
            if decrypt is None:
                self.skipped_secrets = True
                for r in wanted:
                    out[r.id] = placeholder_values(r)
                    how = "with placeholders for the encrypted values" if out[r.id] else "without them"
                    self.findings.append(
                        Finding(
                            check="secrets-decrypt",
                            severity=Severity.info,
                            message=f"secrets not decrypted (no age key available here): rendered and "
                            f"linted {how}",
                            release=r.id,
                            environment=self.env,
                            file=relative(r.secrets[0].path, self.root),
                            hint="set SOPS_AGE_KEY_FILE to validate with the real secrets",
                        )
                    )
                return out
        for r in wanted:
            try:
                out[r.id] = await asyncio.to_thread(decrypt, r, self.root)
            except GripError as exc:
                self.findings.append(
                    Finding(
                        check="secrets-decrypt",
                        severity=Severity.error,
                        message=f"secrets do not decrypt: {exc.message}",
                        release=r.id,
                        environment=self.env,
                        file=relative(r.secrets[0].path, self.root),
                        hint=exc.hint,
                    )
                )
        return out

    def values(self, release: Release, secrets: bytes | None) -> Values:
        return Values(files=release.values_files, stdin_yaml=secrets, set_values=release.set_values)

    def lint_jobs(self, secrets: dict[str, bytes | None]) -> list[asyncio.Future[None]]:
        """One `helm lint` per chunk of releases with identical values; releases with secrets alone."""
        groups: dict[tuple[object, ...], list[Release]] = {}
        for r in self.releases:
            if secrets.get(r.id) is not None:
                groups[("secrets", r.id)] = [r]
            else:
                groups.setdefault((r.values_files, tuple(sorted(r.set_values.items()))), []).append(r)
        jobs: list[asyncio.Future[None]] = []
        for members in groups.values():
            for chunk in lint_chunks(members, self.options.concurrency):
                values = self.values(chunk[0], secrets.get(chunk[0].id))
                jobs.append(asyncio.ensure_future(self.lint(chunk, values)))
        return jobs

    async def lint(self, chunk: list[Release], values: Values) -> None:
        async with self.limit:
            result = await helm.lint_many_async(
                [r.chart_path for r in chunk], values, kube_version=self.options.kube_version
            )
        by_path = {str(r.chart_path): r for r in chunk}
        parsed = parse_lint(result.stdout, by_path, self.env, self.root)
        self.findings += parsed
        if not result.ok and not any(f.severity is Severity.error for f in parsed):
            # helm failed without saying which chart: report it on all of them rather than pass silently
            for r in chunk:
                self.findings.append(
                    Finding(
                        check="helm-lint",
                        severity=Severity.error,
                        message=f"helm lint failed: {result.stderr.strip()[:500]}",
                        release=r.id,
                        environment=self.env,
                        file=relative(r.chart_path, self.root),
                    )
                )

    async def render(self, release: Release, secrets: bytes | None) -> None:
        values = self.values(release, secrets)
        async with self.limit:
            if self.options.server:
                result = await helm.install_dry_run_server_async(
                    release.name, release.chart_path, release.namespace, values, self.target
                )
            else:
                result = await helm.template_check_async(
                    release.name,
                    release.chart_path,
                    release.namespace,
                    values,
                    kube_version=self.options.kube_version,
                )
        if not result.ok:
            note = "secrets were not decrypted (placeholders)" if self.skipped_secrets else None
            self.findings.append(
                render_failure(result.stderr, release, self.env, self.root, secrets_note=note)
            )
            return
        manifest = manifest_from_dry_run(result.stdout) if self.options.server else result.stdout
        try:
            objects = parse_manifest(manifest, release, self.env)
            self.objects += objects
        except Exception as exc:  # yaml errors in rendered output: the chart emits invalid YAML
            self.findings.append(
                render_failure(
                    f"rendered output is not valid YAML: {exc}",
                    release,
                    self.env,
                    self.root,
                    secrets_note=None,
                )
            )

        if self.options.server and objects and self.policies.enabled("server-validate"):
            from gripctl.adapters import kube  # slow to import (Kubernetes client): only --server needs it

            async with self.limit:
                applied = await kube.server_dry_run_apply(manifest, release.namespace, self.target)
            if not applied.ok:
                self.findings += server_findings(applied.stderr, release, self.env, objects, self.root)

    @property
    def target(self) -> KubeTarget:
        return KubeTarget(self.platform.environment.context, self.platform.environment.kubeconfig)

    def check_objects(self) -> None:
        objects = sorted(self.objects, key=lambda o: o.release.order)
        if self.policies.enabled("schema"):
            crds = schema.CrdIndex.from_objects(objects)
            self.findings += schema.validate_objects(objects, self.options.kube_version, crds, self.root)
        for obj in objects:
            self.findings += workloads.check_workload(obj, self.root)
        if self.policies.enabled("network-policy"):
            self.findings += workloads.network_policy_findings(objects, self.env, self.root)


def _repo_checks(root: Path, releases: list[Release], policies: Policies, base: str | None) -> list[Finding]:
    findings: list[Finding] = []
    wanted = [c for c in ("yamllint", "secret-scan", "plaintext-secrets") if policies.enabled(c)]
    if wanted:
        files = repo.RepoFiles.scan(root)
        if policies.enabled("yamllint"):
            findings += repo.yamllint_findings(files)
        if policies.enabled("secret-scan") or policies.enabled("plaintext-secrets"):
            findings += repo.secret_findings(files)
    findings += _secrets_room_checks(root, policies)
    if base is not None and policies.enabled("chart-version"):
        findings += repo.chart_version_findings(root, releases, base)
    return findings


def _secrets_room_checks(root: Path, policies: Policies) -> list[Finding]:
    """gripctl.secrets' own checks (encryption, rules, recipients, MACs), as validate findings.

    Its `secrets-tracked` check is left out: `plaintext-secrets` covers the same files here, and takes
    exceptions only with a reason in gripctl.yaml rather than trusting a file that calls itself TEST ONLY.
    """
    from gripctl.secrets import check_secrets

    out: list[Finding] = []
    for s in check_secrets(root):
        if s.check not in CHECKS or s.check == "secrets-tracked" or not policies.enabled(s.check):
            continue
        out.append(
            Finding(check=s.check, severity=Severity(s.severity), message=s.message, file=s.path, hint=s.hint)
        )
    return out


def _repo_pool() -> ProcessPoolExecutor | None:
    try:
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    except ValueError:  # no fork on this platform
        return None


def _images(objects: list[RenderedObject]) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    for obj in objects:
        pod = workloads.pod_spec(obj) if obj.kind in workloads.WORKLOAD_KINDS else None
        for key in ("containers", "initContainers"):
            for c in (pod or {}).get(key) or []:
                image = c.get("image") if isinstance(c, dict) else None
                if image and workloads.image_pinned(str(image)):
                    out.setdefault(str(image), (obj.release.id, obj.environment))
    return out


def _sort_key(f: Finding, order: dict[str, int]) -> tuple[int, str, str, str, int, str]:
    return (
        order.get(f.release, 10**9) if f.release else 10**9 + 1,
        f.release or "",
        f.environment or "",
        f.file or "",
        f.line or 0,
        f.check,
    )


async def validate(platforms: Sequence[Platform], selected: Sequence[str] | None, options: Options) -> Report:
    """Validate `platforms` (one per environment, same repository), restricted to `selected` ids."""
    if not platforms:
        raise ValueError("validate needs at least one loaded platform")
    first = platforms[0]
    policies = load_policies(first)
    limit = asyncio.Semaphore(options.concurrency)

    def chosen(p: Platform) -> list[Release]:
        return [r for rid, r in p.releases.items() if selected is None or rid in selected]

    _, version_note = schema.schema_version(options.kube_version)
    # Repository checks are CPU-bound Python (yamllint, detect-secrets): in a forked worker process
    # they neither hold the GIL against the event loop that keeps the helm slots busy, nor wait for it.
    # Forked before this run starts any thread; in-thread where fork is unavailable.
    workers = _repo_pool()
    repo_task = asyncio.get_running_loop().run_in_executor(
        workers, _repo_checks, first.root, chosen(first), policies, options.base
    )
    runs = [_EnvRun(p, chosen(p), options, limit, policies) for p in platforms]
    queries = None
    if policies.enabled("prometheus-query") and any(p.environment.prometheus for p in platforms):
        from gripctl.validate.live_rules import prometheus_findings

        queries = asyncio.ensure_future(prometheus_findings(platforms, selected))
    await asyncio.gather(*(r.run() for r in runs))

    findings = [f for r in runs for f in r.findings]
    objects = [o for r in runs for o in r.objects]
    if policies.enabled("drift-ignore"):
        from gripctl.validate.live_rules import drift_rule_findings

        findings += drift_rule_findings(first, objects, selected)
    if queries is not None:
        findings += await queries
    if policies.enabled("image-scan"):
        findings += await images.scan_images(_images(objects), concurrency=options.concurrency)
    try:
        findings += await repo_task
    finally:
        if workers is not None:
            workers.shutdown()
    if version_note and policies.enabled("schema"):
        findings.append(Finding(check="schema", severity=Severity.info, message=version_note))

    order = {rid: r.order for p in platforms for rid, r in p.releases.items()}
    findings = policies.apply(sorted(findings, key=lambda f: _sort_key(f, order)))
    return Report(
        findings=findings,
        fail_on=options.fail_on or policies.fail_on,
        environments=[p.environment.name for p in platforms],
        releases=[r.id for r in chosen(first)],
    )
