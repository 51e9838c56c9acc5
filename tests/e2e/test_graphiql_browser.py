"""GraphiQL in a real browser: Debian's Chromium driven by Playwright.

Runs where both are installed (`apt-get install chromium`, `pip install -e
'.[browser]'`); Playwright's own browser download is not used, since its CDN is
not reachable from our machines. Elsewhere it skips, and CI fails instead when
LTB_REQUIRE_BROWSER=1 says the browser must be there.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_server import LiveServer, live_server

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "graphiql-browser-admin-pass"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _require_browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = [
        what
        for what, found in (("chromium", CHROMIUM), ("playwright", sync_playwright))
        if not found
    ]
    if missing:
        message = f"not installed: {', '.join(missing)}"
        if os.environ.get("LTB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return sync_playwright


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path / "data", {}, ADMIN_PASSWORD) as running:
        yield running


def test_graphiql_runs_a_query_and_a_subscription_with_files_from_this_server(
    server: LiveServer,
) -> None:
    sync_playwright = _require_browser()
    token = server.client.headers["Authorization"]
    hosts: set[str] = set()
    sockets: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page()
        page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
        page.on("websocket", lambda socket: sockets.append(socket.url))
        page.goto(server.base_url + "/graphql")
        page.wait_for_selector(".graphiql-container", timeout=30_000)
        page.get_by_text("Headers", exact=True).click()
        _type_into(page, ".graphiql-editor-tool .CodeMirror", {"Authorization": token})

        query_result = _run(page, "{ me { username role } }", "ADMIN")
        subscription_result = _run(
            page,
            'subscription { benchmarkProgress(id: "none") { status } }',
            "NOT_FOUND",
        )
        browser.close()

    # The result pane is rendered text (folding markers included), not JSON.
    assert '"username": "admin"' in query_result
    assert '"role": "ADMIN"' in query_result
    assert "not found" in subscription_result
    assert sockets == [server.base_url.replace("http", "ws") + "/graphql"]
    assert hosts == {server.base_url.split("/")[2]}


def _type_into(page: Any, selector: str, content: Any) -> None:
    page.locator(selector).last.click()
    page.keyboard.press("Control+A")
    text = content if isinstance(content, str) else json.dumps(content)
    page.keyboard.insert_text(text)


def _run(page: Any, query: str, expected: str) -> str:
    _type_into(page, ".graphiql-query-editor .CodeMirror", query)
    page.locator(".graphiql-execute-button").click()
    page.wait_for_function(
        "text => document.querySelector('.result-window').innerText.includes(text)",
        arg=expected,
        timeout=30_000,
    )
    result: str = page.locator(".result-window").inner_text()
    return result
