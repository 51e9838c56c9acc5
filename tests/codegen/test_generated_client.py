"""The Python client generated from openapi/openapi.yaml, against a live server.

`tox -e codegen` generates the client into codegen/out/python/ltb_client and then
runs this: log in, create an API key, upload a dataset, run a benchmark against a
loopback fake OpenAI-compatible provider and read its results, every call through
the generated client's typed functions and models (no hand-written HTTP).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import TypeVar

import pytest

from tests.codegen.generated import require_generated
from tests.support import log_scan
from tests.support.fake_openai import FakeOpenAI, fake_openai
from tests.support.live_server import LiveServer, live_server

PACKAGE = require_generated("python/ltb_client")
pytest.importorskip("attrs", reason="the generated client needs attrs (tox -e codegen)")

# The generated package is importable only now, hence the late imports.
import httpx  # noqa: E402
from ltb_client import AuthenticatedClient, Client  # noqa: E402
from ltb_client.api.auth import create_api_key, login  # noqa: E402
from ltb_client.api.benchmarks import (  # noqa: E402
    create_benchmark,
    get_benchmark,
    get_benchmark_results,
)
from ltb_client.api.datasets import create_dataset  # noqa: E402
from ltb_client.api.health import get_health  # noqa: E402
from ltb_client.models import (  # noqa: E402
    ApiKeyCreate,
    ApiKeyCreated,
    Benchmark,
    BenchmarkCreate,
    BenchmarkResultsType0,
    CellPage,
    Dataset,
    DatasetUpload,
    Health,
    LoginRequest,
    LoginResponse,
    Target,
    TargetParameters,
)
from ltb_client.types import File  # noqa: E402

ADMIN_PASSWORD = "codegen-admin-pass"
log_scan.PASSWORDS.add(ADMIN_PASSWORD)
MODEL = "fake-model"
PRICE = {"input_per_mtok": 2.0, "output_per_mtok": 8.0}  # USD per million tokens
# Six multiple-choice items; the fake model always answers B, so the four whose
# answer is B are right and the two whose answer is C are wrong.
ITEMS = [
    {
        "id": f"q{i}",
        "input": f"Which letter is number {2 if i % 3 else 3} in the alphabet?",
        "choices": ["A", "B", "C", "D"],
        "expected": "B" if i % 3 else "C",
    }
    for i in range(6)
]
CORRECT = sum(item["expected"] == "B" for item in ITEMS)
T = TypeVar("T")


def expect(value: object, kind: type[T]) -> T:
    """``value`` as ``kind``; the generated functions return the ErrorEnvelope model
    (or None) for other statuses, so a wrong type shows the server's error."""
    assert isinstance(value, kind), f"expected {kind.__name__}, got {value!r}"
    return value


@pytest.fixture
def provider() -> Iterator[FakeOpenAI]:
    """A loopback OpenAI-compatible server whose model always answers B."""
    with fake_openai(lambda prompt: "Answer: B") as fake:
        yield fake


@pytest.fixture
def server(tmp_path: Path, provider: FakeOpenAI) -> Iterator[LiveServer]:
    """`ltb serve` on a free loopback port, with the fake provider configured."""
    providers = tmp_path / "providers.yaml"
    providers.write_text(
        "providers:\n"
        "  - name: fake\n"
        "    kind: openai\n"
        f"    base_url: {provider.base_url}\n"
        "    api_key_env: null\n"
        "    timeout_s: 30\n"
        "    max_retries: 0\n"
        "    models:\n"
        f"      {MODEL}: {{input_per_mtok: {PRICE['input_per_mtok']}, "
        f"output_per_mtok: {PRICE['output_per_mtok']}}}\n",
        encoding="utf-8",
    )
    env = {"LTB_PROVIDERS_FILE": str(providers)}
    with live_server(tmp_path / "data", env, ADMIN_PASSWORD) as running:
        yield running


def test_generated_client_runs_a_benchmark_end_to_end(
    server: LiveServer, provider: FakeOpenAI
) -> None:
    """Login, API key, dataset upload, benchmark, results: all typed, all live."""
    timeout = httpx.Timeout(30)
    with Client(base_url=server.base_url, timeout=timeout) as anonymous:
        health = expect(get_health.sync(client=anonymous), Health)
        assert health.status == "healthy"
        session = expect(
            login.sync(
                client=anonymous,
                body=LoginRequest(username="admin", password=ADMIN_PASSWORD),
            ),
            LoginResponse,
        )
    with AuthenticatedClient(
        server.base_url, token=session.token, timeout=timeout
    ) as as_admin:
        created_key = create_api_key.sync_detailed(
            client=as_admin, body=ApiKeyCreate(name="codegen client", role="user")
        )
    assert created_key.status_code == HTTPStatus.CREATED
    key = expect(created_key.parsed, ApiKeyCreated)
    assert key.key.startswith("ltb_") and key.role == "user"

    # From here on the API key authenticates, as a script or a service would.
    with AuthenticatedClient(
        server.base_url,
        token=key.key,
        prefix="",
        auth_header_name="X-API-Key",
        timeout=timeout,
    ) as client:
        run_a_benchmark(client, provider)


def run_a_benchmark(client: AuthenticatedClient, provider: FakeOpenAI) -> None:
    """Upload the items, benchmark the fake model on them, check every figure."""
    jsonl = "".join(json.dumps(item) + "\n" for item in ITEMS).encode()
    upload = DatasetUpload(
        name="codegen-letters",
        format_="jsonl",
        file=[File(payload=BytesIO(jsonl), file_name="letters.jsonl")],
    )
    dataset = expect(create_dataset.sync(client=client, body=upload), Dataset)
    assert (dataset.name, dataset.item_count, dataset.version) == (
        "codegen-letters",
        len(ITEMS),
        1,
    )

    request = BenchmarkCreate(
        name="generated client",
        providers=[
            Target(
                provider="fake",
                model=MODEL,
                parameters=TargetParameters(temperature=0.0, max_tokens=16),
            )
        ],
        dataset=dataset.id,
        metrics=["accuracy", "latency", "cost"],
        iterations=len(ITEMS),
        concurrency=2,
    )
    started = expect(create_benchmark.sync(client=client, body=request), Benchmark)
    assert started.status in {"pending", "running"}
    assert started.results is None  # null until completed, and typed so

    finished = wait_until_done(client, started.benchmark_id, timeout=60)

    assert finished.status == "completed", finished.error
    assert (finished.progress, finished.completed_cells) == (1.0, len(ITEMS))
    assert finished.dataset.content_hash == dataset.content_hash
    results = expect(finished.results, BenchmarkResultsType0)
    [target] = results.targets
    assert (target.provider, target.model, target.items) == ("fake", MODEL, len(ITEMS))
    assert (target.correct, target.errors) == (CORRECT, 0)
    assert target.accuracy == pytest.approx(CORRECT / len(ITEMS))
    assert target.latency_ms.p50 is not None and target.latency_ms.p50 >= 0
    expected_cost = (
        target.prompt_tokens * PRICE["input_per_mtok"]
        + target.completion_tokens * PRICE["output_per_mtok"]
    ) / 1e6
    assert target.cost_usd == pytest.approx(expected_cost)
    assert provider.requests == len(ITEMS)

    page = expect(
        get_benchmark_results.sync(
            started.benchmark_id, client=client, page=1, page_size=100
        ),
        CellPage,
    )
    assert page.total == len(page.items) == len(ITEMS)
    assert sum(cell.correct for cell in page.items) == CORRECT
    assert {cell.extracted for cell in page.items} == {"B"}
    assert {cell.expected for cell in page.items} == {"B", "C"}


def wait_until_done(
    client: AuthenticatedClient, benchmark_id: str, timeout: float
) -> Benchmark:
    """Poll GET /v1/benchmarks/{id} through the client until the run ends."""
    deadline = time.monotonic() + timeout
    while True:
        benchmark = expect(get_benchmark.sync(benchmark_id, client=client), Benchmark)
        if benchmark.status in {"completed", "failed", "cancelled"}:
            return benchmark
        assert time.monotonic() < deadline, (
            f"still {benchmark.status} after {timeout} s"
        )
        time.sleep(0.3)
