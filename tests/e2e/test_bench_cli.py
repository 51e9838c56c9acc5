"""``ltb bench`` as a user runs it: a subprocess against a live server.

The server is `ltb serve` with the loopback fake provider; the command's printed
table is checked against what the API says about the same benchmark.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import fake_provider_server
from tests.integration.conftest import FAKE_MODEL, answer_b
from tests.support.fake_openai import fake_openai
from tests.support.live_server import LTB, LiveServer, all_cells
from tests.support.llm_server import free_loopback_port

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "bench-cli-admin-pass"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path
) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("bench-cli")
    with (
        fake_openai(answer_b, delay_s=0.02) as provider,
        fake_provider_server(
            tmp, provider.base_url, datasets_dir, ADMIN_PASSWORD
        ) as running,
    ):
        yield running


def ltb(
    server: LiveServer, *args: str, token: str | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``ltb`` as a user would, with LTB_SERVER and (unless None) LTB_TOKEN."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTB_")}
    env["LTB_SERVER"] = server.base_url
    if token is not None:
        env["LTB_TOKEN"] = token
    return subprocess.run(
        [str(LTB), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def admin_token(server: LiveServer) -> str:
    return server.client.headers["Authorization"].removeprefix("Bearer ")


def table_rows(output: str) -> dict[str, list[str]]:
    """The printed table's rows by target label (columns split on 2+ spaces)."""
    rows = {}
    for line in output.splitlines():
        match = re.match(r"^(#\d+ \S+)\s{2,}(.*)$", line)
        if match:
            rows[match.group(1)] = re.split(r"\s{2,}", match.group(2).strip())
    return rows


@pytest.fixture(scope="module")
def ran(server: LiveServer) -> tuple[subprocess.CompletedProcess[str], str]:
    """One ``ltb bench run`` (and its benchmark's id) that the module's tests read."""
    done = ltb(
        server,
        "bench", "run", "--dataset", "mmlu",
        "--target", f"fake:{FAKE_MODEL}", "--target", f"fake:{FAKE_MODEL}",
        "--iterations", "8", "--concurrency", "2", "--seed", "3",
        token=admin_token(server),
    )  # fmt: skip
    found = re.search(r"benchmark (\S+) started", done.stderr)
    assert found, done.stderr
    return done, found.group(1)


def assert_table_is_the_api(output: str, benchmark: dict[str, Any]) -> None:
    rows = table_rows(output)
    targets = benchmark["results"]["targets"]
    assert len(rows) == len(targets)
    for t in targets:
        row = rows[f"#{t['target_index']} {t['provider']}:{t['model']}"]
        n, errors, correct, accuracy = row[:4]
        assert (int(n), int(errors), int(correct)) == (
            t["items"],
            t["errors"],
            t["correct"],
        )
        assert accuracy == f"{t['accuracy'] * 100:.1f}%"
        assert f"{t['latency_ms']['p50']:.1f}" in row
        assert f"{t['cost_usd']:.6f}" in row
        interval = t.get("accuracy_interval")
        if interval:
            low, high = (f"{interval[k] * 100:.1f}%" for k in ("low", "high"))
            assert f"[{low}, {high}]" in row


def test_bench_run_shows_progress_then_the_results_of_the_api(
    server: LiveServer, ran: tuple[subprocess.CompletedProcess[str], str]
) -> None:
    done, benchmark_id = ran
    benchmark = server.client.get(f"/v1/benchmarks/{benchmark_id}").json()

    assert done.returncode == 0, done.stderr
    assert benchmark["status"] == "completed"
    # Not a terminal: one progress line per tenth, ending complete.
    progress = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert progress and "16/16 cells  completed" in progress[-1]
    assert_table_is_the_api(done.stdout, benchmark)
    assert f"/benchmarks/{benchmark_id}" in done.stderr
    assert admin_token(server) not in done.stdout + done.stderr


def test_bench_status_prints_the_same_table(
    server: LiveServer, ran: tuple[subprocess.CompletedProcess[str], str]
) -> None:
    benchmark_id = ran[1]

    shown = ltb(server, "bench", "status", benchmark_id, token=admin_token(server))
    benchmark = server.client.get(f"/v1/benchmarks/{benchmark_id}").json()

    assert shown.returncode == 0, shown.stderr
    assert "[completed]" in shown.stdout
    assert_table_is_the_api(shown.stdout, benchmark)


def test_a_username_and_a_password_on_stdin_log_in_without_printing_it(
    server: LiveServer, ran: tuple[subprocess.CompletedProcess[str], str]
) -> None:
    benchmark_id = ran[1]

    shown = ltb(
        server,
        "bench", "status", benchmark_id, "--username", "admin",
        stdin=ADMIN_PASSWORD + "\n",
    )  # fmt: skip

    assert shown.returncode == 0, shown.stderr
    assert "[completed]" in shown.stdout
    assert ADMIN_PASSWORD not in shown.stdout + shown.stderr


def test_an_api_key_in_ltb_token_is_sent_as_x_api_key(
    server: LiveServer, ran: tuple[subprocess.CompletedProcess[str], str]
) -> None:
    created = server.client.post(
        "/v1/auth/api-keys", json={"name": "bench cli", "role": "viewer"}
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]

    shown = ltb(server, "bench", "status", ran[1], token=key)

    assert shown.returncode == 0, shown.stderr
    assert "[completed]" in shown.stdout
    assert key not in shown.stdout + shown.stderr


def test_bench_compare_prints_the_pairs_of_the_api(
    server: LiveServer, ran: tuple[subprocess.CompletedProcess[str], str]
) -> None:
    benchmark_id = ran[1]

    shown = ltb(server, "bench", "compare", benchmark_id, token=admin_token(server))

    comparison = server.client.get(f"/v1/benchmarks/{benchmark_id}/comparison").json()
    assert shown.returncode == 0, shown.stderr
    pair = comparison["pairs"][0]
    line = next(row for row in shown.stdout.splitlines() if row.startswith("#0 "))
    assert f"{pair['accuracy']['difference'] * 100:+.1f}%" in line
    assert f"{pair['accuracy']['p_value_holm']:.4f}" in line


def test_bench_export_writes_every_cell_as_csv(
    server: LiveServer, ran: tuple[subprocess.CompletedProcess[str], str]
) -> None:
    benchmark_id = ran[1]

    shown = ltb(
        server, "bench", "export", benchmark_id, "--format", "csv",
        token=admin_token(server),
    )  # fmt: skip

    assert shown.returncode == 0, shown.stderr
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    cells = all_cells(server, benchmark_id)
    assert len(rows) == len(cells)
    assert sorted(int(r["target_index"]) for r in rows) == sorted(
        c["target_index"] for c in cells
    )


@pytest.mark.parametrize(
    ("args", "token", "expected"),
    [
        (["bench", "status", "x"], "not-a-token", "401"),
        (
            ["bench", "run", "--dataset", "no-such-dataset", "--target", "fake:m"],
            None,
            "404",
        ),
        (["bench", "status", "no-such-benchmark"], None, "404"),
    ],
)
def test_refusals_are_one_clear_line_and_a_non_zero_exit(
    server: LiveServer, args: list[str], token: str | None, expected: str
) -> None:
    shown = ltb(server, *args, token=token or admin_token(server))

    assert shown.returncode == 1
    assert shown.stderr.startswith("ltb: the server answered " + expected)
    assert "Traceback" not in shown.stderr
    assert len(shown.stderr.strip().splitlines()) == 1


def test_a_server_that_is_down_is_said_so(server: LiveServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LTB_")}
    down = f"http://127.0.0.1:{free_loopback_port()}"

    shown = subprocess.run(
        [str(LTB), "bench", "status", "x", "--server", down, "--token", "t"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert shown.returncode == 1
    assert f"cannot reach the server at {down}" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_a_malformed_target_is_refused_before_any_request(server: LiveServer) -> None:
    shown = ltb(server, "bench", "run", "--dataset", "mmlu", "--target", "nomodel")

    assert shown.returncode == 2
    assert "a target is PROVIDER:MODEL" in shown.stderr
