"""The real peers of the end-to-end tests: a local LLM and the machine's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.conftest import write_providers_file
from tests.integration.test_datasets import mmlu_dev_files
from tests.support.live_server import LiveServer, live_server
from tests.support.llm_server import MODEL_ALIAS, require_llm_peer, start_llm_server
from tests.support.postgres import require_postgres, temporary_database

# USD per million tokens for the local model: not a real bill, but a real price
# table entry, so the cost arithmetic is exercised end to end.
LOCAL_PRICE = {"input_per_mtok": 0.5, "output_per_mtok": 1.5}


@pytest.fixture(scope="session")
def llm_base_url() -> Iterator[str]:
    """SmolLM2-135M served by llama.cpp on a loopback port, for the whole session."""
    peer = require_llm_peer()
    with start_llm_server(peer.python, peer.gguf) as base_url:
        yield base_url


@pytest.fixture
def providers_file(tmp_path: Path, llm_base_url: str) -> Path:
    """A providers file naming the local model as provider "local"."""
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n"
        "  - name: local\n"
        "    kind: openai\n"
        f"    base_url: {llm_base_url}\n"
        "    api_key_env: null\n"
        "    timeout_s: 120\n"
        "    max_concurrency: 2\n"
        "    models:\n"
        f"      {MODEL_ALIAS}: {{input_per_mtok: {LOCAL_PRICE['input_per_mtok']}, "
        f"output_per_mtok: {LOCAL_PRICE['output_per_mtok']}}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL database on the machine's server, dropped afterwards."""
    require_postgres()
    with temporary_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (the embedded SQLite default), then a throw-away PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@contextmanager
def fake_provider_server(
    tmp: Path, provider_url: str, datasets_dir: Path, admin_password: str
) -> Iterator[LiveServer]:
    """`ltb serve` with a loopback fake as provider "fake" and MMLU dev as "mmlu"."""
    providers = write_providers_file(tmp / "providers.yaml", provider_url)
    env = {"LTB_PROVIDERS_FILE": str(providers)}
    with live_server(tmp / "data", env, admin_password) as running:
        files = [("file", upload) for upload in mmlu_dev_files(datasets_dir)]
        uploaded = running.client.post(
            "/v1/datasets", data={"name": "mmlu", "format": "mmlu-csv"}, files=files
        )
        assert uploaded.status_code == 201, uploaded.text
        yield running
