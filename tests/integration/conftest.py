"""An in-process server (the real app, a test client) with a loopback provider."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support import log_scan
from tests.support.fake_openai import FakeOpenAI, fake_openai

ADMIN_PASSWORD = "integration-admin-pass"
log_scan.PASSWORDS.add(ADMIN_PASSWORD)
FAKE_MODEL = "fake-model"
# USD per million tokens, so tests can compute the cost they expect.
FAKE_PRICE = {"input_per_mtok": 2.0, "output_per_mtok": 8.0}


def answer_b(prompt: str) -> str:
    """A model that always answers B to multiple choice, and 42 to anything else."""
    return "Answer: B" if re.search(r"^B\. ", prompt, re.M) else "Answer: 42"


@dataclass
class Server:
    """A running app, its client, and the fake provider behind it."""

    client: TestClient
    provider: FakeOpenAI
    settings: Settings
    token: str

    @property
    def auth(self) -> dict[str, str]:
        """Headers authenticating as the admin."""
        return {"Authorization": f"Bearer {self.token}"}

    def login(self, username: str, password: str) -> dict[str, str]:
        """Log in and return the headers for that user."""
        response = self.client.post(
            "/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


def write_providers_file(path: Path, base_url: str) -> Path:
    """A providers file with one OpenAI-compatible provider named "fake"."""
    path.write_text(
        "providers:\n"
        "  - name: fake\n"
        "    kind: openai\n"
        f"    base_url: {base_url}\n"
        "    api_key_env: null\n"
        "    timeout_s: 30\n"  # generous: a loaded CI machine must not add errors
        "    max_retries: 0\n"
        "    models:\n"
        f"      {FAKE_MODEL}: {{input_per_mtok: {FAKE_PRICE['input_per_mtok']}, "
        f"output_per_mtok: {FAKE_PRICE['output_per_mtok']}}}\n",
        encoding="utf-8",
    )
    return path


def start_server(
    stack: ExitStack,
    tmp_path: Path,
    reply: Callable[[str], str | None] = answer_b,
    database_url: str | None = None,
    data_dir: Path | None = None,
    provider_url: str | None = None,
    settings_overrides: dict[str, Any] | None = None,
    **provider_options: Any,
) -> Server:
    """Start a fake provider and a server on ``stack``; ``provider_url`` overrides.

    ``settings_overrides`` replaces fields of the server's Settings.
    """
    provider = stack.enter_context(fake_openai(reply, **provider_options))
    providers_file = write_providers_file(
        tmp_path / "providers.yaml", provider_url or provider.base_url
    )
    settings = Settings(
        data_dir=data_dir or tmp_path / "data",
        database_url=database_url,
        admin_password=ADMIN_PASSWORD,
        providers_file=str(providers_file),
        environ={},
        validate_responses=True,
        **(settings_overrides or {}),
    )
    client = stack.enter_context(TestClient(create_app(settings)))
    token = client.post(
        "/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["token"]
    return Server(client, provider, settings, token)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers on demand; every one is stopped at the end of the test."""
    with ExitStack() as stack:
        yield lambda **options: start_server(stack, tmp_path, **options)


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    """One running server whose fake model always answers B (or 42)."""
    return make_server()
