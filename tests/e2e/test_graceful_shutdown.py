"""SIGTERM of the real server: in-flight requests finish, running benchmarks resume.

gunicorn's graceful timeout (gunicorn.conf.py) lets a worker finish the requests
it is serving after SIGTERM; the engine then stops its benchmark tasks without
failing them, so the next start resumes them where they stopped.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.integration.test_datasets import mmlu_dev_files
from tests.support.fake_openai import fake_openai
from tests.support.live_server import all_cells, live_server, wait_for_benchmark

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "graceful-admin-password"
# Long enough that the completion is surely in flight when SIGTERM arrives.
PROVIDER_DELAY_S = 2.0
QUESTION = "What is six times seven?"


def test_sigterm_finishes_in_flight_requests_and_leaves_benchmarks_resumable(
    tmp_path: Path, datasets_dir: Path
) -> None:
    with fake_openai(lambda _: "Answer: B", delay_s=PROVIDER_DELAY_S) as provider:
        providers = tmp_path / "providers.yaml"
        providers.write_text(
            "providers:\n  - name: fake\n    kind: openai\n"
            f"    base_url: {provider.base_url}\n    api_key_env: null\n"
            "    models:\n      fake-model: {input_per_mtok: 1, output_per_mtok: 2}\n",
            encoding="utf-8",
        )
        env = {"LTB_PROVIDERS_FILE": str(providers)}
        data_dir = tmp_path / "data"

        with live_server(data_dir, env, ADMIN_PASSWORD) as first:
            uploaded = first.client.post(
                "/v1/datasets",
                data={"name": "mmlu", "format": "mmlu-csv"},
                files=[("file", f) for f in mmlu_dev_files(datasets_dir)],
            )
            assert uploaded.status_code == 201, uploaded.text
            created = first.client.post(
                "/v1/benchmarks",
                json={
                    "name": "interrupted by SIGTERM",
                    "providers": [{"provider": "fake", "model": "fake-model"}],
                    "dataset": "mmlu",
                    "metrics": ["accuracy"],
                    "iterations": 12,
                    "concurrency": 2,
                },
            )
            assert created.status_code == 201, created.text
            benchmark_id = created.json()["benchmark_id"]

            # A completion that takes PROVIDER_DELAY_S, sent just before SIGTERM.
            answer: dict[str, Any] = {}

            def complete() -> None:
                with httpx2.Client(
                    base_url=first.base_url,
                    headers={"Authorization": first.client.headers["Authorization"]},
                    timeout=60,
                ) as client:
                    answer["response"] = client.post(
                        "/v1/completions",
                        json={
                            "provider": "fake",
                            "model": "fake-model",
                            "prompt": QUESTION,
                        },
                    )

            in_flight = threading.Thread(target=complete)
            in_flight.start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                QUESTION in p for p in provider.prompts
            ):
                time.sleep(0.05)  # until the completion has reached the provider
            before = first.client.get(f"/v1/benchmarks/{benchmark_id}").json()
            stopped_at = time.monotonic()
            first.stop()  # SIGTERM to the process group
            stop_s = time.monotonic() - stopped_at
            in_flight.join(timeout=60)
            stored = (data_dir / "ltb.sqlite3").exists()

        # The request that was being served when SIGTERM came got its answer.
        response = answer["response"]
        assert response.status_code == 200, response.text
        assert response.json()["text"] == "Answer: B"
        # gunicorn's graceful timeout is 30 s; stop_group would SIGKILL at 40 s.
        assert stop_s < 30, stop_s
        assert stored
        assert "benchmark" in first.log() and "Traceback" not in first.log()

        with live_server(data_dir, env, ADMIN_PASSWORD) as second:
            interrupted = second.client.get(f"/v1/benchmarks/{benchmark_id}").json()
            states = wait_for_benchmark(second, benchmark_id, timeout=120)
            cells = all_cells(second, benchmark_id)
            log = second.log()

    # Stopped, not failed: the next server resumed it and stored each cell once.
    assert before["status"] == "running" and before["completed_cells"] < 12, before
    assert interrupted["status"] in {"running", "completed"}, interrupted
    assert "resuming benchmark" in log
    assert states[-1]["status"] == "completed", states[-1]
    keys = {(c["target_index"], c["item_position"], c["repeat"]) for c in cells}
    assert len(cells) == len(keys) == 12
    assert states[-1]["results"]["targets"][0]["items"] == 12
