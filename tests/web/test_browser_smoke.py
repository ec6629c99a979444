"""The browser fixtures drive a real chromium: a page served on loopback reacts to a click, and the
screenshot shows it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>gripctl smoke</title></head>
<body style="font: 24px sans-serif; margin: 40px">
  <h1 id="state">waiting</h1>
  <button id="go" onclick="
    document.getElementById('state').textContent = 'clicked ' + (++window.clicks) + ' time(s)';
    document.body.style.background = '#c8f7c5';">Deploy</button>
  <script>window.clicks = 0;</script>
</body></html>
"""


@pytest.fixture
def site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_click_changes_the_page_and_the_screenshot_shows_it(page: Page, site: str, tmp_path: Path) -> None:
    page.goto(site)
    assert page.title() == "gripctl smoke"
    assert page.locator("#state").text_content() == "waiting"
    before = page.screenshot(path=tmp_path / "before.png")

    page.get_by_role("button", name="Deploy").click()
    page.get_by_role("button", name="Deploy").click()

    assert page.locator("#state").text_content() == "clicked 2 time(s)"
    after = tmp_path / "after.png"
    shot = page.screenshot(path=after)
    assert after.read_bytes() == shot
    assert shot.startswith(b"\x89PNG\r\n\x1a\n")
    # The click turned the background green and rewrote the heading: the pixels differ.
    assert shot != before
