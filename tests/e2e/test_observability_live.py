"""The real server as production runs it: two workers, metrics summed, JSON logs.

`ltb db upgrade` first (production servers never migrate), then `ltb serve
--workers 2` on PostgreSQL and a Redis of the test's own: /metrics, whichever
worker answers it, counts the requests both workers served, and every access
line is a JSON object carrying the pid of its worker and the request id.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live_server import LTB, LiveServer, live_server
from tests.support.redis import OwnRedisServer, own_redis_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ADMIN_PASSWORD = "e2e-observability-admin"
REQUESTS = 40
QUERY_SECRET = "e2e-query-string-secret"
METRICS_DIR_LINE = re.compile(r"^Prometheus metrics of the workers in (\S+)$")


@pytest.fixture
def redis_server() -> Iterator[OwnRedisServer]:
    with own_redis_server() as server:
        yield server


def fire(server: LiveServer, count: int) -> list[str]:
    """Authenticated requests over fresh connections; their request ids."""

    def one(i: int) -> str:
        request_id = f"e2e-obs-{i}"
        response = httpx2.get(
            f"{server.base_url}/v1/providers",
            headers={
                "Authorization": server.client.headers["Authorization"],
                "X-Request-ID": request_id,
                "Connection": "close",  # so that both workers accept some
            },
            timeout=30,
        )
        assert response.status_code == 200
        return request_id

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def json_lines(log: str) -> list[dict[str, Any]]:
    """The server log's lines that are JSON objects."""
    lines = []
    for line in log.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def providers_count(server: LiveServer) -> float:
    text = server.client.get("/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ltb_http_requests_total"
        and sample.labels
        == {"method": "GET", "route": "/v1/providers", "status": "200"}
    )


def test_two_production_workers_sum_their_metrics_and_log_json(
    tmp_path: Path, postgres_url: str, redis_server: OwnRedisServer
) -> None:
    env = {
        "LTB_ENV": "production",
        "JWT_SECRET": "e2e-observability-jwt-secret-0123456789",
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_server.url,
        "RATE_LIMIT": "1000",
    }
    upgrade = subprocess.run(
        [str(LTB), "db", "upgrade"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr

    with live_server(tmp_path, env, ADMIN_PASSWORD, args=["--workers", "2"]) as server:
        before = providers_count(server)
        request_ids = fire(server, REQUESTS)
        # Each scrape may be answered by either worker: both must say the same.
        counts = {providers_count(server) for _ in range(6)}
        ready = server.client.get("/health/ready").json()
        # A credential in a query string never reaches the log, JSON or not.
        server.client.get("/health", params={"token": QUERY_SECRET})
        time.sleep(0.5)  # the last access lines reach the log file
        log = server.log()
    lines = json_lines(log)
    metrics_dirs = [
        found.group(1)
        for line in lines
        if (found := METRICS_DIR_LINE.match(line["message"]))
    ]

    assert before == 0
    assert counts == {REQUESTS}
    assert ready["checks"]["database"]["status"] == "up"
    assert ready["checks"]["redis"]["status"] == "up"
    access = [
        line
        for line in lines
        if line["logger"] == "uvicorn.access" and "/v1/providers" in line["message"]
    ]
    served_by = Counter(line["pid"] for line in access)
    redacted = [
        line["message"]
        for line in lines
        if line["logger"] == "uvicorn.access" and "/health?" in line["message"]
    ]
    assert sorted(line["request_id"] for line in access) == sorted(request_ids)
    assert len(served_by) == 2, served_by
    assert len(redacted) == 1 and "/health?[redacted]" in redacted[0]
    assert QUERY_SECRET not in log
    # The directory this server start made for the workers' figures is gone.
    assert len(metrics_dirs) == 1
    assert not Path(metrics_dirs[0]).exists()
