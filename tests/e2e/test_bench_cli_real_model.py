"""``ltb bench run`` against the real local model (SmolLM2 under llama.cpp).

One short run, a few items: the printed table must be the API's figures for a
model whose answers nobody scripted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_bench_cli import admin_token, assert_table_is_the_api, ltb
from tests.e2e.test_real_model import import_mmlu_dev
from tests.support.live_server import LiveServer, live_server
from tests.support.llm_server import MODEL_ALIAS

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "bench-cli-real-admin-pass"


@pytest.fixture
def server(
    tmp_path: Path, providers_file: Path, datasets_dir: Path
) -> Iterator[LiveServer]:
    env = {"LTB_PROVIDERS_FILE": str(providers_file)}
    with live_server(tmp_path / "data", env, ADMIN_PASSWORD) as running:
        import_mmlu_dev(running, datasets_dir)
        yield running


def test_bench_run_on_the_real_model_prints_the_apis_figures(
    server: LiveServer,
) -> None:
    done = ltb(
        server,
        "bench", "run", "--dataset", "mmlu-dev", "--target", f"local:{MODEL_ALIAS}",
        "--iterations", "3", "--concurrency", "2", "--seed", "11",
        token=admin_token(server),
    )  # fmt: skip
    benchmark_id = re.search(r"benchmark (\S+) started", done.stderr)

    assert done.returncode == 0, done.stderr
    assert benchmark_id, done.stderr
    benchmark = server.client.get(f"/v1/benchmarks/{benchmark_id.group(1)}").json()
    assert benchmark["status"] == "completed"
    assert benchmark["results"]["targets"][0]["items"] == 3
    assert_table_is_the_api(done.stdout, benchmark)
