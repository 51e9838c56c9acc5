"""POST /v1/completions against a loopback provider: real calls and clear errors."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from tests.integration.conftest import FAKE_MODEL, FAKE_PRICE, Server


def complete(server: Server, **overrides: object):
    body = {"provider": "fake", "model": FAKE_MODEL, "prompt": "What is 6 times 7?"}
    return server.client.post(
        "/v1/completions", headers=server.auth, json=body | overrides
    )


def test_a_completion_returns_the_models_text_and_reported_usage(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(reply=lambda prompt: "The answer is 42.")

    response = complete(server, max_tokens=10, temperature=0.0)

    body = response.json()
    assert response.status_code == 200, response.text
    assert body["text"] == "The answer is 42."
    assert body["model"] == FAKE_MODEL
    assert body["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 4,
        "total_tokens": 9,
        "cached_prompt_tokens": 0,
    }
    assert body["cost_usd"] == pytest.approx(
        (5 * FAKE_PRICE["input_per_mtok"] + 4 * FAKE_PRICE["output_per_mtok"]) / 1e6
    )
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert server.provider.prompts == ["What is 6 times 7?"]


def test_an_unknown_provider_is_a_400_naming_the_known_ones(server: Server) -> None:
    response = complete(server, provider="nobody")

    assert response.status_code == 400
    assert "fake" in str(response.json()["error"])


def test_a_provider_without_its_key_is_a_503_naming_the_variable(
    server: Server,
) -> None:
    response = complete(server, provider="openai", model="gpt-4o")

    body = response.json()
    assert response.status_code == 503
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "OPENAI_API_KEY" in body["error"]["message"]


def test_a_failing_provider_is_a_503_not_a_500(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(fail_first=10, fail_status=502)

    response = complete(server)

    assert response.status_code == 503
    assert response.json()["error"]["details"]["provider"] == "fake"


def test_an_unreachable_provider_is_a_503(
    make_server: Callable[..., Server],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    server = make_server(provider_url=f"http://127.0.0.1:{closed_port}/v1")

    response = complete(server)

    assert response.status_code == 503
    assert response.json()["error"]["details"]["provider"] == "fake"
