"""Several workers on the real stack: `ltb serve --workers 2` with `ltb worker`
processes (LTB_EXECUTOR=celery) or without (embedded), on PostgreSQL, Redis (bus,
provider slots, broker) and RabbitMQ.

Every benchmark here runs on a loopback fake provider whose answers are a fixed
function of the prompt, so a run in the embedded mode tells exactly what every
cell and every aggregate of a Celery run must be, however it was interrupted.
"""

from __future__ import annotations

import os
import re
import signal
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import psutil
import pytest

from tests.e2e.test_websocket_live import run_across_workers
from tests.integration.test_datasets import mmlu_dev_files
from tests.support.celery_workers import (
    CeleryWorker,
    celery_workers,
    rabbitmq_vhost,
    start_worker,
    wait_ready,
)
from tests.support.fake_openai import FakeOpenAI, fake_openai
from tests.support.live_server import (
    LiveServer,
    all_cells,
    live_server,
    wait_for_benchmark,
)
from tests.support.postgres import temporary_database
from tests.support.redis import REDIS_URL, redis_prefix

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ADMIN_PASSWORD = "e2e-celery-admin-pw"
LATENCY_S = 0.05
MAX_CONCURRENCY = 3
BENCHMARK = {
    "name": "celery",
    "providers": [
        {"provider": "fake", "model": "fake-a"},
        {"provider": "fake", "model": "fake-b", "parameters": {"max_tokens": 8}},
    ],
    "dataset": "mmlu",
    "metrics": ["accuracy", "latency", "cost"],
    "iterations": 60,
    "concurrency": 4,
    "seed": 5,
}
TOTAL_CELLS = 120
TIMED = {"latency_ms", "latency", "tokens_per_second"}
# Fields of a cell that do not depend on timing (latency does).
CELL_FIELDS = (
    "target_index",
    "item_position",
    "repeat",
    "output",
    "extracted",
    "correct",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "finish_reason",
    "error",
)


def answer(prompt: str) -> str:
    """Right on some items, wrong on others, always the same for one prompt."""
    return f"The answer is {'ABCD'[zlib.crc32(prompt.encode()) % 4]}"


def providers_file(directory: Path, provider: FakeOpenAI) -> Path:
    path = directory / "providers.yaml"
    path.write_text(
        "providers:\n  - name: fake\n    kind: openai\n"
        f"    base_url: {provider.base_url}\n    api_key_env: null\n"
        f"    max_concurrency: {MAX_CONCURRENCY}\n    max_retries: 0\n"
        "    models:\n"
        "      fake-a: {input_per_mtok: 1, output_per_mtok: 2}\n"
        "      fake-b: {input_per_mtok: 3, output_per_mtok: 4}\n"
        "      fake-model: {input_per_mtok: 1, output_per_mtok: 2}\n",
        encoding="utf-8",
    )
    return path


def per_item(cells: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What each cell says, less its timing, in key order."""
    rows = [
        (
            *(cell[name] for name in CELL_FIELDS),
            {k: v for k, v in (cell["metrics"] or {}).items() if k != "latency"},
        )
        for cell in cells
    ]
    return sorted(rows, key=lambda row: row[:3])


def aggregates(results: dict[str, Any]) -> Any:
    """Every per-target aggregate but those of wall time (latency differs)."""
    return _untimed(results["targets"])


def _untimed(value: Any) -> Any:
    # Latency, its intervals and tokens per second depend on timing; sums of the
    # same floats in another order differ in the last bits.
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMED}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    if isinstance(value, float):
        return round(value, 9)
    return value


@dataclass
class Reference:
    cells: list[tuple[Any, ...]]
    aggregates: list[dict[str, Any]]


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path
) -> Reference:
    """The benchmark in the embedded mode: one worker, SQLite, in-process jobs."""
    directory = tmp_path_factory.mktemp("embedded")
    with fake_openai(answer, delay_s=LATENCY_S) as provider:
        env = {"LTB_PROVIDERS_FILE": str(providers_file(directory, provider))}
        with live_server(directory / "data", env, ADMIN_PASSWORD) as server:
            benchmark_id = create(server, datasets_dir)
            final = wait_for_benchmark(server, benchmark_id, 120)[-1]
            cells = all_cells(server, benchmark_id)
    assert final["status"] == "completed"
    assert len(cells) == TOTAL_CELLS
    return Reference(per_item(cells), aggregates(final["results"]))


def create(server: LiveServer, datasets_dir: Path, **changes: Any) -> str:
    if server.client.get("/v1/datasets/mmlu").status_code == 404:
        response = server.client.post(
            "/v1/datasets",
            data={"name": "mmlu", "format": "mmlu-csv"},
            files=[("file", file) for file in mmlu_dev_files(datasets_dir)],
        )
        assert response.status_code == 201, response.text
    created = server.client.post("/v1/benchmarks", json=BENCHMARK | changes)
    assert created.status_code == 201, created.text
    benchmark_id: str = created.json()["benchmark_id"]
    return benchmark_id


@dataclass
class Stack:
    """The API server, its Celery workers, and what it takes to start them again."""

    server: LiveServer
    workers: list[CeleryWorker]
    provider: FakeOpenAI
    env: dict[str, str]
    directory: Path


@contextmanager
def celery_stack(
    directory: Path, broker_url: str | None = None, api_workers: int = 2
) -> Iterator[Stack]:
    """API workers and two Celery workers on a database and prefix of their own."""
    with ExitStack() as stack:
        database_url = stack.enter_context(temporary_database())
        prefix = stack.enter_context(redis_prefix())
        provider = stack.enter_context(fake_openai(answer, delay_s=LATENCY_S))
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "LTB_REDIS_PREFIX": prefix,
            "LTB_EXECUTOR": "celery",
            "LTB_PROVIDERS_FILE": str(providers_file(directory, provider)),
            "LTB_CELERY_CHUNK_SIZE": "10",
            # A killed worker's chunk comes back after this long (Redis broker).
            "LTB_CELERY_VISIBILITY_TIMEOUT": "3",
            "RATE_LIMIT": "100000",
            "RATE_LIMIT_BURST": "100000",
        }
        if broker_url:
            env["CELERY_BROKER_URL"] = broker_url
        server = stack.enter_context(
            live_server(
                directory / "data", env, ADMIN_PASSWORD, ["--workers", str(api_workers)]
            )
        )
        workers = stack.enter_context(celery_workers(directory / "data", env, 2))
        yield Stack(server, workers, provider, env, directory)


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the tests that leave it whole (or mend what they break)."""
    with celery_stack(tmp_path_factory.mktemp("celery")) as stack:
        yield stack


def wait_for_cells(server: LiveServer, benchmark_id: str, count: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done: int = server.client.get(f"/v1/benchmarks/{benchmark_id}").json()[
            "completed_cells"
        ]
        if done >= count:
            return done
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} cells after 60 s")


def assert_same_as_embedded(
    server: LiveServer, benchmark_id: str, reference: Reference
) -> None:
    final = wait_for_benchmark(server, benchmark_id, 120)[-1]
    cells = all_cells(server, benchmark_id)
    assert final["status"] == "completed", final
    assert final["completed_cells"] == TOTAL_CELLS
    keys = [(c["target_index"], c["item_position"], c["repeat"]) for c in cells]
    assert len(keys) == len(set(keys)) == TOTAL_CELLS  # every cell exactly once
    assert per_item(cells) == reference.cells
    assert aggregates(final["results"]) == reference.aggregates


def test_two_api_and_two_celery_workers_store_what_the_embedded_mode_stores(
    shared_stack: Stack, datasets_dir: Path, reference: Reference
) -> None:
    stack = shared_stack
    stack.provider.peak_in_flight = 0
    benchmark_id = create(stack.server, datasets_dir)
    assert_same_as_embedded(stack.server, benchmark_id, reference)
    logs = [worker.log() for worker in stack.workers]

    # Both Celery workers ran chunks.
    assert all("ltb.run_chunk" in log and "succeeded" in log for log in logs)
    # 2 workers x 2 chunks x 4 cells could send 16 requests at once: the
    # provider's limit of 3 held across all processes, and was reached.
    assert stack.provider.peak_in_flight == MAX_CONCURRENCY


def test_websocket_clients_of_either_api_worker_see_the_celery_workers_events(
    shared_stack: Stack, datasets_dir: Path
) -> None:
    run_across_workers(shared_stack.server, mmlu_dev_files(datasets_dir))


def kill_api_worker(server: LiveServer, pid: int) -> None:
    """SIGKILL one gunicorn worker; gunicorn starts another in its place."""
    os.kill(pid, signal.SIGKILL)
    # The client's kept-alive connection may have been to the dead worker.
    client = httpx2.Client(
        base_url=server.base_url, timeout=30, headers=server.client.headers
    )
    server.client.close()
    server.client = client


def replace_one_celery_worker(stack: Stack, graceful: bool) -> None:
    if graceful:
        stack.workers[0].stop()  # SIGTERM: finishes its chunks, then exits
    else:
        stack.workers[0].kill()
    stack.workers[0] = start_worker(stack.directory / "data", stack.env, 2)
    wait_ready(stack.workers[0])


@pytest.mark.parametrize(
    "victim", ["api-worker", "celery-worker", "celery-worker-sigterm"]
)
def test_a_benchmark_survives_kill_9_of_a_worker_with_every_cell_stored_once(
    shared_stack: Stack, datasets_dir: Path, reference: Reference, victim: str
) -> None:
    benchmark_id = create(shared_stack.server, datasets_dir)
    done = wait_for_cells(shared_stack.server, benchmark_id, 20)
    if victim == "api-worker":
        workers = psutil.Process(shared_stack.server.process.pid).children()
        kill_api_worker(shared_stack.server, workers[0].pid)
    else:
        replace_one_celery_worker(shared_stack, graceful=victim.endswith("sigterm"))

    assert done < TOTAL_CELLS
    assert_same_as_embedded(shared_stack.server, benchmark_id, reference)


def test_a_benchmark_survives_kill_9_of_the_whole_server(
    tmp_path: Path, datasets_dir: Path, reference: Reference
) -> None:
    with celery_stack(tmp_path) as stack:
        benchmark_id = create(stack.server, datasets_dir)
        done = wait_for_cells(stack.server, benchmark_id, 20)
        for worker in stack.workers:
            worker.kill()
        stack.server.kill()
        assert done < TOTAL_CELLS

        with (
            live_server(
                tmp_path / "data", stack.env, ADMIN_PASSWORD, ["--workers", "2"]
            ) as server,
            celery_workers(tmp_path / "data", stack.env, 2),
        ):
            assert_same_as_embedded(server, benchmark_id, reference)
            assert "resuming benchmark" in server.log()


def test_embedded_api_workers_resume_a_killed_workers_benchmark(
    tmp_path: Path, datasets_dir: Path, reference: Reference
) -> None:
    # LTB_EXECUTOR=embedded with two API workers: the benchmark runs on the worker
    # that created it; killed, it is resumed by the worker gunicorn starts in its
    # place, and only by that one (the claim of the dead one went with it).
    with (
        temporary_database() as database_url,
        redis_prefix() as prefix,
        fake_openai(answer, delay_s=LATENCY_S) as provider,
    ):
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "LTB_REDIS_PREFIX": prefix,
            "LTB_PROVIDERS_FILE": str(providers_file(tmp_path, provider)),
        }
        with live_server(
            tmp_path / "data", env, ADMIN_PASSWORD, ["--workers", "2"]
        ) as server:
            benchmark_id = create(server, datasets_dir)
            done = wait_for_cells(server, benchmark_id, 20)
            (runner,) = {
                int(pid)
                for pid in re.findall(
                    r'^\[(\d+)\] \S+ - "POST /v1/benchmarks ', server.log(), re.M
                )
            }
            kill_api_worker(server, runner)
            assert done < TOTAL_CELLS
            assert_same_as_embedded(server, benchmark_id, reference)
            log = server.log()

    # Every worker that boots after the kill tries to resume it; any but the one
    # that claims it must find it claimed ("is run by another worker"), so exactly
    # one process ran it. (gunicorn may boot more than one worker meanwhile.)
    resumed = log.count(f"resuming benchmark {benchmark_id}")
    refused = log.count(f"benchmark {benchmark_id} is run by another worker")
    boots = log.count("Booting worker with pid")
    assert resumed - refused == 1, f"{resumed=} {refused=} {boots=}\n{log[-6000:]}"


def test_cancelling_stops_queued_chunks_and_running_cells_promptly(
    shared_stack: Stack, datasets_dir: Path
) -> None:
    stack = shared_stack
    benchmark_id = create(stack.server, datasets_dir, iterations=285)
    wait_for_cells(stack.server, benchmark_id, 20)
    response = stack.server.client.post(f"/v1/benchmarks/{benchmark_id}/cancel")
    cancelled_at = time.monotonic()
    assert response.status_code == 200, response.text
    time.sleep(2)  # anything still to come would have come by now
    arrivals = list(stack.provider.arrivals)
    final = stack.server.client.get(f"/v1/benchmarks/{benchmark_id}").json()
    stored = len(all_cells(stack.server, benchmark_id))

    after = [t - cancelled_at for t in arrivals if t > cancelled_at]
    print(
        f"\n{len(after)} provider call(s) after cancel, the last "
        f"{max(after, default=0):.2f} s after it; {stored} of 570 cells stored"
    )
    assert final["status"] == "cancelled"
    assert stored < 570 // 2
    # Calls that had already taken a provider slot may still arrive; none later.
    assert max(after, default=0) < 1.0


def test_rabbitmq_gives_a_killed_workers_chunks_to_the_others(
    tmp_path: Path, datasets_dir: Path, reference: Reference
) -> None:
    with (
        rabbitmq_vhost() as broker_url,
        celery_stack(tmp_path, broker_url, api_workers=1) as stack,
    ):
        benchmark_id = create(stack.server, datasets_dir)
        wait_for_cells(stack.server, benchmark_id, 20)
        stack.workers[0].kill()  # RabbitMQ requeues its unacknowledged chunks now
        assert_same_as_embedded(stack.server, benchmark_id, reference)
        assert "amqp://" in stack.workers[1].log()
