"""The results page in a real browser: Debian's Chromium driven by Playwright.

A finished benchmark's page and a running one's: the table must hold the API's
figures, the SVG charts their marks, and the running page must turn into the
completed one by itself, over /ws, authenticated by the page's cookie alone.
The fake provider holds every request after a few, so "running" is a state the
test controls rather than a race. Skips without Chromium or Playwright (CI sets
LTB_REQUIRE_BROWSER=1 to fail instead), like test_graphiql_browser.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import fake_provider_server
from tests.e2e.test_graphiql_browser import CHROMIUM, _require_browser
from tests.integration.conftest import FAKE_MODEL, answer_b
from tests.support.fake_openai import fake_openai
from tests.support.live_server import (
    LiveServer,
    all_cells,
    wait_for_benchmark,
)

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "results-page-browser-pass"
SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"
TARGETS = [
    {"provider": "fake", "model": FAKE_MODEL},
    {"provider": "fake", "model": FAKE_MODEL, "parameters": {"max_tokens": 4}},
]
# Every figure of a row the page marks with data-field / data-value.
TABLE_SCRIPT = """() => {
  const rows = {};
  for (const tr of document.querySelectorAll('#targets tbody tr')) {
    const row = {};
    for (const td of tr.querySelectorAll('td[data-field]')) {
      row[td.dataset.field] = td.dataset.value === undefined ? null : td.dataset.value;
    }
    rows[tr.dataset.targetIndex] = row;
  }
  return rows;
}"""


class Gate:
    """Lets the fake provider answer ``allowed`` more requests, then holds the rest."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.allowed: int | None = None  # None: answer everything
        self.open = threading.Event()

    def reply(self, prompt: str) -> str:
        with self.lock:
            hold = self.allowed is not None and self.allowed <= 0
            if self.allowed is not None and not hold:
                self.allowed -= 1
        if hold:
            self.open.wait(timeout=25)  # below the provider's 30 s timeout
        return answer_b(prompt)


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path, gate: Gate
) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("results-page")
    with (
        fake_openai(gate.reply) as provider,
        fake_provider_server(
            tmp, provider.base_url, datasets_dir, ADMIN_PASSWORD
        ) as running,
    ):
        yield running
        gate.open.set()  # whatever a test left held goes before the server stops


@pytest.fixture
def browser(server: LiveServer) -> Iterator[Any]:
    sync_playwright = _require_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def start(server: LiveServer, **body: Any) -> str:
    request = {
        "name": "page in a browser",
        "providers": TARGETS,
        "dataset": "mmlu",
        "metrics": ["accuracy", "latency", "cost"],
        "iterations": 6,
        "concurrency": 2,
        "seed": 5,
    } | body
    created = server.client.post("/v1/benchmarks", json=request)
    assert created.status_code == 201, created.text
    return str(created.json()["benchmark_id"])


def open_page(browser: Any, server: LiveServer, benchmark_id: str) -> tuple[Any, dict]:
    """Sign in through the page's own form; the page and what the browser saw."""
    seen: dict[str, list[str]] = {"hosts": [], "sockets": [], "console": []}
    page = browser.new_page()
    page.on("request", lambda request: seen["hosts"].append(request.url.split("/")[2]))
    page.on("websocket", lambda socket: seen["sockets"].append(socket.url))
    page.on("console", lambda message: seen["console"].append(message.text))
    page.goto(f"{server.base_url}/benchmarks/{benchmark_id}")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#results", timeout=30_000)
    return page, seen


def assert_table_is(page: Any, targets: list[dict[str, Any]]) -> None:
    rows = page.evaluate(TABLE_SCRIPT)
    assert sorted(rows) == [str(t["target_index"]) for t in targets]
    for t in targets:
        row = rows[str(t["target_index"])]
        assert int(row["items"]) == t["items"]
        assert int(row["correct"]) == t["correct"]
        assert int(row["errors"]) == t["errors"]
        assert float(row["accuracy"]) == pytest.approx(t["accuracy"])
        assert float(row["latency_p50"]) == pytest.approx(t["latency_ms"]["p50"])
        assert float(row["cost_usd"]) == pytest.approx(t["cost_usd"])
        interval = t.get("accuracy_interval")
        if interval:
            cell = page.locator(
                f'tr[data-target-index="{t["target_index"]}"] '
                'td[data-field="accuracy_interval"]'
            )
            assert float(cell.get_attribute("data-low")) == pytest.approx(
                interval["low"]
            )
            assert float(cell.get_attribute("data-high")) == pytest.approx(
                interval["high"]
            )


def assert_comparison_is_the_apis(
    page: Any, server: LiveServer, benchmark_id: str
) -> None:
    """The pairs' accuracy differences, or the note of a server without them."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    if "/v1/benchmarks/{id}/comparison" not in spec["paths"]:
        assert "no pairwise comparison" in page.locator("#comparison-note").inner_text()
        return
    comparison = server.client.get(f"/v1/benchmarks/{benchmark_id}/comparison").json()
    shown = page.eval_on_selector_all(
        "#comparison tbody tr",
        """rows => rows.map(r => [Number(r.dataset.a), Number(r.dataset.b),
            r.querySelector('td[data-field=difference]').dataset.value])""",
    )
    assert [(a, b, float(d)) for a, b, d in shown] == [
        (p["a"], p["b"], pytest.approx(p["accuracy"]["difference"]))
        for p in comparison["pairs"]
    ]


def drawn(page: Any, selector: str) -> list[dict[str, float]]:
    """The on-screen boxes of a chart's marks (a mark not drawn has none)."""
    return [
        box for box in (m.bounding_box() for m in page.locator(selector).all()) if box
    ]


def test_a_finished_benchmarks_page_shows_the_apis_figures_and_its_charts(
    browser: Any, server: LiveServer
) -> None:
    benchmark_id = start(server)
    final = wait_for_benchmark(server, benchmark_id, timeout=60)[-1]
    targets = final["results"]["targets"]
    cells = all_cells(server, benchmark_id)

    page, seen = open_page(browser, server, benchmark_id)

    assert page.locator("#status").inner_text().lower() == "completed"
    assert_table_is(page, targets)
    bars = drawn(page, "#accuracy-chart rect.bar")
    assert len(bars) == len(targets) and all(b["width"] > 0 for b in bars)
    counts = page.eval_on_selector_all(
        "#latency-chart rect.bin", "bins => bins.map(b => Number(b.dataset.count))"
    )
    assert sum(counts) == sum(1 for c in cells if not c["error"])
    assert len(drawn(page, "#latency-chart rect.bin")) == len(counts)
    assert len(drawn(page, "#cost-chart circle.point")) == len(targets)
    assert_comparison_is_the_apis(page, server, benchmark_id)
    # A finished page opens no socket; everything came from this server, and the
    # Content-Security-Policy refused nothing the page needed.
    assert seen["sockets"] == []
    assert set(seen["hosts"]) == {server.base_url.split("/")[2]}
    assert not [m for m in seen["console"] if "Content Security Policy" in m]


def test_a_running_benchmarks_page_shows_its_cells_and_follows_it_to_the_end(
    browser: Any, server: LiveServer, gate: Gate
) -> None:
    gate.open.clear()
    gate.allowed = 3
    benchmark_id = start(server, providers=TARGETS[:1], iterations=8, concurrency=1)
    held = _wait_for_cells(server, benchmark_id, 3)
    cells = all_cells(server, benchmark_id)

    page, seen = open_page(browser, server, benchmark_id)

    assert held["status"] == "running"
    assert page.locator("#status").inner_text().lower() == "running"
    assert page.locator("#cells").inner_text() == f"3 of {held['total_cells']} cells"
    rows = page.evaluate(TABLE_SCRIPT)
    assert int(rows["0"]["items"]) == len(cells) == 3
    assert int(rows["0"]["correct"]) == sum(c["correct"] for c in cells)
    wait_until(page, "document.getElementById('page').dataset.socket === 'open'", 30)

    page.evaluate("window.notReloaded = true")
    gate.allowed = None
    gate.open.set()
    wait_until(
        page, "document.getElementById('results').dataset.status === 'completed'", 60
    )
    final = wait_for_benchmark(server, benchmark_id, timeout=60)[-1]

    assert_table_is(page, final["results"]["targets"])
    assert page.evaluate("window.notReloaded") is True  # swapped in, not reloaded
    # Updated over the socket: it never closed (and fell back to polling) before.
    assert page.evaluate("document.getElementById('page').dataset.socket") == "open"
    assert int(page.evaluate("document.getElementById('page').dataset.updates")) >= 1
    assert seen["sockets"] == [server.base_url.replace("http://", "ws://") + "/ws"]
    assert len(drawn(page, "#latency-chart rect.bin")) >= 1


def wait_until(page: Any, expression: str, timeout: float) -> None:
    # Not page.wait_for_function: it evaluates a string inside the page, which
    # the page's Content-Security-Policy (no 'unsafe-eval') rightly refuses.
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still not {expression} after {timeout} s"
        time.sleep(0.1)


def _wait_for_cells(server: LiveServer, benchmark_id: str, cells: int) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = server.client.get(f"/v1/benchmarks/{benchmark_id}").json()
        if state["completed_cells"] >= cells:
            return dict(state)
        time.sleep(0.1)
    raise AssertionError(f"fewer than {cells} cells stored after 30 s")
