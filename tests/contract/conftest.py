"""A real server (`ltb serve`) with a loopback provider and data, to fuzz."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import answer_b, write_providers_file
from tests.support.fake_openai import fake_openai
from tests.support.live_server import LiveServer, live_server

ADMIN_PASSWORD = "contract-admin-pass"
DATASET_NAME = "contract"
DATASET = b"".join(
    b'{"input": "Which letter is second?", "expected": "B", '
    b'"choices": ["A", "B", "C", "D"], "id": "q%d"}\n' % i
    for i in range(4)
)


@pytest.fixture(scope="session")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`ltb serve` on a free loopback port, SQLite in a tmp dir, one dataset loaded."""
    tmp = tmp_path_factory.mktemp("contract")
    with fake_openai(answer_b) as provider:
        providers = write_providers_file(tmp / "providers.yaml", provider.base_url)
        env = {
            "LTB_PROVIDERS_FILE": str(providers),
            # The fuzzer sends thousands of requests a minute from one user and one
            # address; the limits stay on, just above what the run needs.
            "RATE_LIMIT": "5000",
            "RATE_LIMIT_BURST": "5000",
            "LOGIN_RATE_LIMIT": "100000/minute",
            # The contract's maxLength is the hard cap; an operator may set a lower
            # one (a documented 400). Fuzz the contract's whole range.
            "MAX_PROMPT_CHARS": "200000",
        }
        with live_server(tmp / "data", env, ADMIN_PASSWORD) as server:
            response = server.client.post(
                "/v1/datasets",
                data={"name": DATASET_NAME, "format": "jsonl"},
                files=[("file", ("items.jsonl", DATASET))],
            )
            assert response.status_code == 201, response.text
            yield server


@pytest.fixture(scope="session")
def call_kwargs(contract_server: LiveServer) -> dict[str, Any]:
    """Where and as whom schemathesis sends every request: the live server, as admin."""
    return {
        "base_url": contract_server.base_url,
        "headers": {"Authorization": contract_server.client.headers["Authorization"]},
    }
