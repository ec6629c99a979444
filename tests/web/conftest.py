"""Fixtures for tests that drive a real browser: Debian's chromium, through Playwright.

- `browser` (session): a headless chromium, skipped with a hint when scripts/browser.sh has not installed
  it (`make test` does). GRIPCTL_CHROMIUM points at another executable.
- `page` (function): a fresh page in its own browser context (no cookies or storage shared between
  tests), closed after the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

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


@pytest.fixture(scope="session")
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
