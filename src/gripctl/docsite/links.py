"""The link check of a built site: every internal link and anchor resolves; external URLs listed.

It reads the HTML MkDocs wrote, so it sees what a reader clicks (the theme's navigation and the
generated pages included), not only what the Markdown said. Internal links are resolved like a browser
resolves them against the page's URL, then looked up in the site folder (a folder means its
index.html); an `#anchor` must be an `id` (or `<a name>`) on the target page. External URLs are
collected with the pages that use them and are not fetched unless asked (`check_external`), so the
check runs offline.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

# Pages whose links are relative to wherever the server shows them (404.html has no place of its own),
# and MkDocs' search and sitemap machinery: not a reader's links.
SKIP_PAGES = ("404.html",)
LINK_ATTRS = {"a": "href", "link": "href", "img": "src", "script": "src", "source": "src", "iframe": "src"}


@dataclass(frozen=True)
class BrokenLink:
    page: str  # the page's path in the site
    target: str  # the link as written
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"page": self.page, "target": self.target, "reason": self.reason}


@dataclass
class LinkReport:
    pages: int = 0
    internal: int = 0  # internal links checked
    broken: list[BrokenLink] = field(default_factory=list)
    external: dict[str, list[str]] = field(default_factory=dict)  # url -> pages using it
    external_failed: list[BrokenLink] = field(default_factory=list)  # only when fetched

    @property
    def ok(self) -> bool:
        return not self.broken and not self.external_failed

    def to_dict(self) -> dict[str, object]:
        return {
            "pages": self.pages,
            "internal_links": self.internal,
            "broken": [b.to_dict() for b in self.broken],
            "external": {url: pages for url, pages in sorted(self.external.items())},
            "external_failed": [b.to_dict() for b in self.external_failed],
        }


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "a" and values.get("name"):
            self.ids.add(str(values["name"]))
        if tag == "base" and values.get("href"):
            self.base = values["href"]
        attr = LINK_ATTRS.get(tag)
        if attr and values.get(attr):
            self.links.append(str(values[attr]))


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    page.close()
    return page


def _is_external(link: str) -> bool:
    parts = urlsplit(link)
    return bool(parts.scheme) or link.startswith("//")


def _target_file(site: Path, page_rel: str, link_path: str) -> Path | None:
    """The file a relative (or site-absolute) link points at, or None when it leaves the site."""
    base = posixpath.dirname(page_rel)
    joined = link_path.lstrip("/") if link_path.startswith("/") else posixpath.join(base, link_path)
    normal = posixpath.normpath(joined) if joined else base
    if normal.startswith(".."):
        return None
    target = site / normal if normal != "." else site
    if target.is_dir() or link_path.endswith("/"):
        target = target / "index.html"
    return target


def check_site(
    site: Path, *, check_external: bool = False, fetch: Callable[[str], str | None] | None = None
) -> LinkReport:
    """Check every HTML page under `site`. With `check_external`, `fetch(url)` is called once per URL
    and returns None when it is fine or a reason when it is not."""
    site = site.resolve()
    report = LinkReport()
    parsed: dict[Path, _Page] = {}

    def page_of(path: Path) -> _Page:
        if path not in parsed:
            parsed[path] = _parse(path)
        return parsed[path]

    external: dict[str, list[str]] = defaultdict(list)
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site).as_posix()
        if rel in SKIP_PAGES:
            continue
        report.pages += 1
        page = page_of(path)
        for link in page.links:
            if link.startswith(("mailto:", "tel:", "javascript:", "data:")):
                continue
            if _is_external(link):
                if rel not in external[link]:
                    external[link].append(rel)
                continue
            report.internal += 1
            url, fragment = urldefrag(link)
            target = path if not url else _target_file(site, rel, unquote(urlsplit(url).path))
            if target is None:
                report.broken.append(BrokenLink(rel, link, "points outside the site"))
                continue
            if not target.is_file():
                shown = target.relative_to(site).as_posix() if target.is_relative_to(site) else str(target)
                report.broken.append(BrokenLink(rel, link, f"no such file: {shown}"))
                continue
            if fragment and target.suffix == ".html" and unquote(fragment) not in page_of(target).ids:
                report.broken.append(
                    BrokenLink(rel, link, f"no anchor #{fragment} in {target.relative_to(site).as_posix()}")
                )
    report.external = dict(external)
    if check_external and fetch is not None:
        for url, used_by in sorted(external.items()):
            reason = fetch(url)
            if reason is not None:
                report.external_failed.append(BrokenLink(used_by[0], url, reason))
    return report


def http_fetch(timeout: float = 10.0) -> Callable[[str], str | None]:
    """A fetcher for `check_site(check_external=True)`: HEAD, then GET when HEAD is refused."""
    import httpx

    client = httpx.Client(follow_redirects=True, timeout=timeout)

    def fetch(url: str) -> str | None:
        try:
            response = client.head(url)
            if response.status_code in (405, 501) or response.status_code >= 400:
                response = client.get(url)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if response.status_code < 400 else f"HTTP {response.status_code}"

    return fetch
