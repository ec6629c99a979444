"""gripctl docs: the example platform's site builds, passes the link check and publishes to a bare remote;
generated pages match the platform; broken links, clashes and bad remotes fail with nothing written.

Everything is real: MkDocs with Material and techdocs-core builds in process, git publishes to a local
bare repository, `serve` runs as the real CLI on a loopback port, and external links are fetched only
from a loopback HTTP server.
"""

from __future__ import annotations

import html
import http.server
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from gripctl.docsite import links, site
from gripctl.errors import DocsError, UsageError
from gripctl.model import Graph, load_platform
from gripctl.service import docs as docs_service

REPO = Path(__file__).resolve().parents[2]
WEBGRIP = REPO / "examples" / "webgrip"
SVG = "{http://www.w3.org/2000/svg}"


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "webgrip"
    shutil.copytree(WEBGRIP, root, ignore=shutil.ignore_patterns(".gripctl", "site"))
    return root


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=True)
    return done.stdout


def _gripctl(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gripctl.cli.app", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _text(page: str) -> str:
    """A page's text without its tags (code blocks are split into highlighted spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture
def webgrip(tmp_path: Path) -> Path:
    return _copy(tmp_path)


# --- the example platform ---------------------------------------------------------------------------


def test_example_builds_passes_link_check_and_publishes_to_a_bare_remote(
    webgrip: Path, tmp_path: Path
) -> None:
    _git(webgrip, "init", "--quiet")
    _git(webgrip, "add", "-A")
    _git(webgrip, "commit", "--quiet", "-m", "platform")
    source = _git(webgrip, "rev-parse", "HEAD").strip()
    remote = tmp_path / "pages.git"
    _git(tmp_path, "init", "--quiet", "--bare", str(remote))

    checked = _gripctl(webgrip, "-o", "json", "docs", "check")
    assert checked.returncode == 0, checked.stderr
    report = yaml.safe_load(checked.stdout)
    assert report["ok"] is True and report["broken"] == []
    assert report["internal_links"] > 100  # the theme's navigation on every page, plus the pages' own
    assert report["external_checked"] is False  # listed, not fetched
    assert report["build"]["warnings"] == []

    published = _gripctl(webgrip, "-o", "json", "docs", "publish", "--remote", str(remote))
    assert published.returncode == 0, published.stderr
    result = yaml.safe_load(published.stdout)
    assert result["branch"] == "gh-pages" and result["source_commit"] == source
    files = _git(remote, "ls-tree", "-r", "--name-only", "gh-pages").split()
    for expected in (
        "index.html",
        ".nojekyll",
        "techdocs_metadata.json",
        "reference/graph.svg",
        "reference/releases/index.html",
        "reference/environments/index.html",
        "runbooks/950-example-services/index.html",
        "guides/deploying/index.html",
    ):
        assert expected in files
    assert len(files) == result["files"]
    log = _git(remote, "log", "--format=%s", "gh-pages").splitlines()
    assert log == [f"docs: publish site ({source})"]

    # A second publish replaces the branch with a new snapshot; it does not pile up history.
    (webgrip / "docs" / "index.md").write_text((webgrip / "docs" / "index.md").read_text() + "\nNew line.\n")
    again = _gripctl(webgrip, "-o", "json", "docs", "publish", "--remote", str(remote))
    assert again.returncode == 0, again.stderr
    assert len(_git(remote, "log", "--format=%H", "gh-pages").split()) == 1
    page = _git(remote, "show", "gh-pages:index.html")
    assert "New line." in page
    metadata = yaml.safe_load(_git(remote, "show", "gh-pages:techdocs_metadata.json"))
    assert metadata["site_name"] == "webgrip platform"


def test_generated_pages_follow_the_platform(webgrip: Path, tmp_path: Path) -> None:
    built = site.build(webgrip, tmp_path / "site")
    platform = load_platform(webgrip)
    graph = Graph.from_platform(platform)

    releases = (tmp_path / "site" / "reference" / "releases" / "index.html").read_text()
    for release in platform.releases.values():
        assert f">{release.id}<" in releases
        assert f"<code>{release.namespace}</code>" in releases
    chart = yaml.safe_load((webgrip / "ops/helm/060-grafana-stack/Chart.yaml").read_text())
    assert f"{chart['version']} (app {chart['appVersion']})" in releases

    svg = ET.parse(tmp_path / "site" / "reference" / "graph.svg").getroot()
    boxes = [g.get("id") for g in svg.iter(f"{SVG}g") if g.get("class") == "release"]
    assert sorted(boxes) == sorted(f"release-{n}" for n in graph.nodes)
    edges = {
        (p.get("data-from"), p.get("data-to")) for p in svg.iter(f"{SVG}path") if p.get("class") == "edge"
    }
    assert edges == set(graph.edges())
    red = {
        (p.get("data-from"), p.get("data-to"))
        for p in svg.iter(f"{SVG}path")
        if "c62828" in (p.get("stroke") or "")
    }
    path = graph.critical_path()
    assert red == set(itertools.pairwise(path))

    environments = (tmp_path / "site" / "reference" / "environments" / "index.html").read_text()
    assert "alice, bob" in environments and 'id="production"' in environments
    assert "plaintext-secrets" in environments  # the policies' exception, with its reason
    assert "TEST ONLY" in environments

    for release_id in platform.releases:
        runbook = (tmp_path / "site" / "runbooks" / release_id / "index.html").read_text()
        assert f"gripctl rollback {release_id}" in _text(runbook)
        assert 'id="who-approves"' in runbook
    assert built.pages == sum(1 for _ in (tmp_path / "site").rglob("*.html"))
    assert "runbooks/950-example-services.md" in built.sources.generated


def test_platform_without_mkdocs_yml_gets_techdocs_defaults_and_an_index(
    webgrip: Path, tmp_path: Path
) -> None:
    (webgrip / "mkdocs.yml").unlink()
    (webgrip / "docs" / "index.md").unlink()
    (webgrip / "docs" / "guides" / "deploying.md").write_text(
        "# Deploying\n\nSee [the index](../index.md).\n"
    )
    built = site.build(webgrip, tmp_path / "site")
    assert "index.md" in built.sources.generated
    index = (tmp_path / "site" / "index.html").read_text()
    assert "webgrip platform" in index  # the default site name
    assert "fonts.googleapis.com" not in index  # web fonts off: the site works offline
    assert (tmp_path / "site" / "techdocs_metadata.json").is_file()  # techdocs-core was used
    assert links.check_site(tmp_path / "site").ok


# --- what check catches -----------------------------------------------------------------------------


def test_strict_build_fails_on_a_broken_markdown_link_and_writes_no_site(
    webgrip: Path, tmp_path: Path
) -> None:
    (webgrip / "docs" / "guides" / "deploying.md").write_text(
        "# Deploying\n\nSee [a runbook](../runbooks/999-nothing.md) and [an anchor](../index.md#nowhere).\n"
    )
    result = _gripctl(webgrip, "docs", "check")
    assert result.returncode == 1
    assert "999-nothing.md" in result.stderr and "#nowhere" in result.stderr
    assert "strict" in result.stderr
    assert not (webgrip / "site").exists()


def test_link_check_finds_broken_html_links_and_anchors_mkdocs_does_not(
    webgrip: Path, tmp_path: Path
) -> None:
    # Raw HTML links pass MkDocs' own validation; the check of the built site still finds them.
    (webgrip / "docs" / "guides" / "deploying.md").write_text(
        "# Deploying\n\n"
        '<a href="../../reference/releases/#no-such-anchor">releases</a>\n'
        '<a href="../../runbooks/999-nothing/">a runbook</a>\n'
        '<a href="../../reference/graph/#critical-path">fine</a>\n'
    )
    result = docs_service.check(docs_service.DocsCheckRequest(webgrip, tmp_path / "site"))
    assert not result.ok
    reasons = sorted((b["target"], b["reason"]) for b in result.broken)
    assert reasons == [
        (
            "../../reference/releases/#no-such-anchor",
            "no anchor #no-such-anchor in reference/releases/index.html",
        ),
        ("../../runbooks/999-nothing/", "no such file: runbooks/999-nothing/index.html"),
    ]
    assert {b["page"] for b in result.broken} == {"guides/deploying/index.html"}
    cli = _gripctl(webgrip, "docs", "check")
    assert cli.returncode == 1
    assert "no anchor #no-such-anchor" in cli.stdout


@pytest.fixture
def loopback_http() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(200 if self.path == "/ok" else 404)
            self.end_headers()

        def do_GET(self) -> None:
            self.do_HEAD()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_external_urls_are_listed_offline_and_fetched_only_when_asked(
    webgrip: Path, tmp_path: Path, loopback_http: str
) -> None:
    (webgrip / "docs" / "guides" / "deploying.md").write_text(
        f"# Deploying\n\n[up]({loopback_http}/ok) and [gone]({loopback_http}/gone)\n"
    )
    offline = docs_service.check(docs_service.DocsCheckRequest(webgrip, tmp_path / "a"))
    assert offline.ok and not offline.external_checked
    assert offline.external[f"{loopback_http}/gone"] == ["guides/deploying/index.html"]
    assert f"{loopback_http}/ok" in offline.external
    # Only loopback URLs: the fetch below must send nothing off this machine.
    assert all(url.startswith(loopback_http) for url in offline.external)

    fetched = docs_service.check(docs_service.DocsCheckRequest(webgrip, tmp_path / "b", external=True))
    assert not fetched.ok
    assert [(f["target"], f["reason"]) for f in fetched.external_failed] == [
        (f"{loopback_http}/gone", "HTTP 404")
    ]


# --- bad input: clear error, nothing written ----------------------------------------------------------


def test_a_hand_written_page_where_a_generated_one_goes_is_refused(webgrip: Path, tmp_path: Path) -> None:
    (webgrip / "docs" / "runbooks").mkdir()
    (webgrip / "docs" / "runbooks" / "005-tainters.md").write_text("# mine\n")
    before = _tree(webgrip)
    with pytest.raises(DocsError) as caught:
        site.build(webgrip, tmp_path / "site")
    assert "docs/runbooks/005-tainters.md is hand-written, but gripctl generates that page" in str(
        caught.value
    )
    assert not (tmp_path / "site").exists()
    assert _tree(webgrip) == before


def test_no_docs_folder_is_a_clear_error(webgrip: Path, tmp_path: Path) -> None:
    shutil.rmtree(webgrip / "docs")
    result = _gripctl(webgrip, "docs", "build", "--site-dir", str(tmp_path / "site"))
    assert result.returncode == 1
    assert "no documentation folder docs" in result.stderr and "create docs/" in result.stderr
    assert not (tmp_path / "site").exists()


def test_publish_refuses_a_missing_remote_and_a_broken_site(webgrip: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        docs_service.publish(docs_service.DocsPublishRequest(webgrip, remote=str(tmp_path / "absent.git")))
    assert "does not exist" in str(caught.value)
    with pytest.raises(UsageError) as caught:
        docs_service.publish(docs_service.DocsPublishRequest(webgrip, remote="origin"))
    assert "not a git repository" in str(caught.value)

    remote = tmp_path / "pages.git"
    _git(tmp_path, "init", "--quiet", "--bare", str(remote))
    (webgrip / "docs" / "guides" / "secrets.md").write_text('# Secrets\n\n<a href="../../nowhere/">x</a>\n')
    with pytest.raises(DocsError) as caught:
        docs_service.publish(docs_service.DocsPublishRequest(webgrip, remote=str(remote)))
    assert "broken link" in str(caught.value) and "nothing was published" in str(caught.value)
    assert _git(remote, "branch", "--list").strip() == ""  # no gh-pages branch was pushed


# --- serve ------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_shows_the_site_with_generated_pages(webgrip: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gripctl.cli.app",
            "-C",
            str(webgrip),
            "docs",
            "serve",
            "-a",
            f"127.0.0.1:{port}",
            "--no-livereload",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/runbooks/950-example-services/", timeout=2)
                if response.status_code == 200:
                    body = response.text
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.3)
        assert "gripctl rollback 950-example-services" in _text(body)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_app_pages_join_an_explicit_nav(webgrip: Path, tmp_path: Path) -> None:
    (webgrip / "docs" / "apps").mkdir()
    (webgrip / "docs" / "apps" / "955-billing.md").write_text(
        "# 955-billing\n\nIts [runbook](../runbooks/950-example-services.md).\n"
    )
    site.build(webgrip, tmp_path / "site")
    index = (tmp_path / "site" / "index.html").read_text()
    assert "Applications" in index and 'href="apps/955-billing/"' in index
    assert "Runbooks" in index and "Reference" in index
