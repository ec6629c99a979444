"""Fixtures for the server's tests and for tests that drive a real browser.

- `platform` / `server`: a platform repository, and the real server on it (uvicorn on a loopback port,
  in a thread of the test process); `Server.token()` makes API tokens.
- `browser` (module): a headless chromium (Debian's, through Playwright), skipped with a hint when
  scripts/browser.sh has not installed it (`make test` does). GRIPCTL_CHROMIUM points at another
  executable.
- `page` (function): a fresh page in its own browser context (no cookies or storage shared between
  tests), closed after the test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from web_helpers import ENVIRONMENTS, Server, running_server, write_platform

from receivers import http_receiver  # a fixture for the approval notification test

__all__ = ["http_receiver"]


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    return write_platform(tmp_path / "repo", ENVIRONMENTS)


@pytest.fixture
def server(platform: Path) -> Iterator[Server]:
    with running_server(platform, status_every=3600, worker=False) as s:
        yield s


# -- the browser ---------------------------------------------------------------------------------------

CHROMIUM = os.environ.get("GRIPCTL_CHROMIUM", "/usr/bin/chromium")
# Playwright's own browser download cannot work here, so it launches Debian's chromium. These machines
# refuse chromium's background connections (component updates, sync, field trials): switched off, they
# cost neither start-up time nor log noise. There is no sandbox-capable kernel setup and no GPU either.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread while it
# lives, and pytest-asyncio cannot run an async test then ("cannot be called from a running event
# loop"); stopping it after each browser module lets async tests of any other module follow.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no browser at {CHROMIUM}: run scripts/browser.sh (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 800, "height": 600})
    try:
        yield context.new_page()
    finally:
        context.close()
