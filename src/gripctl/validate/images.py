"""Image vulnerability scanning with `trivy`, when it is on PATH. Without it, say so: never a silent pass."""

from __future__ import annotations

import asyncio
import json
import shutil

from gripctl.adapters.process import run_async
from gripctl.validate.findings import Finding, Severity


def trivy_path() -> str | None:
    return shutil.which("trivy")


async def scan_images(
    images: dict[str, tuple[str, str | None]], *, concurrency: int, timeout: float = 300.0
) -> list[Finding]:
    """Scan each image once; `images` maps image -> (first release id using it, environment)."""
    if not images:
        return []
    if trivy_path() is None:
        return [
            Finding(
                check="image-scan",
                severity=Severity.info,
                message=f"skipped: no scanner (trivy not on PATH); {len(images)} image(s) not scanned",
                hint="install trivy (https://trivy.dev) to scan images for HIGH/CRITICAL vulnerabilities",
            )
        ]
    limit = asyncio.Semaphore(concurrency)

    async def one(image: str, release: str, environment: str | None) -> list[Finding]:
        async with limit:
            try:
                result = await run_async(
                    "trivy",
                    ["image", "--quiet", "--format", "json", "--scanners", "vuln",
                     "--severity", "HIGH,CRITICAL",
                     image],
                    check=False,
                    timeout=timeout,
                )  # fmt: skip
            except TimeoutError:
                result = None
        if result is None or not result.ok:
            detail = "timed out" if result is None else (result.stderr.strip().splitlines() or ["failed"])[-1]
            return [
                Finding(
                    check="image-scan",
                    severity=Severity.warning,
                    message=f"could not scan {image}: {detail}",
                    release=release,
                    environment=environment,
                    hint="check that the image exists and the registry is reachable from here",
                )
            ]
        data = json.loads(result.stdout or "{}")
        vulns = [v for r in data.get("Results") or [] for v in r.get("Vulnerabilities") or []]
        if not vulns:
            return []
        critical = sum(1 for v in vulns if v.get("Severity") == "CRITICAL")
        ids = ", ".join(sorted({str(v.get("VulnerabilityID")) for v in vulns})[:5])
        return [
            Finding(
                check="image-scan",
                severity=Severity.error,
                message=f"{image}: {len(vulns)} HIGH/CRITICAL vulnerabilities ({critical} critical): {ids}",
                release=release,
                environment=environment,
                hint="move to a patched image tag",
            )
        ]

    results = await asyncio.gather(*(one(img, rel, env) for img, (rel, env) in sorted(images.items())))
    return [f for group in results for f in group]
