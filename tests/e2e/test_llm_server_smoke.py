"""Smoke test of the real local LLM peer (llama.cpp serving SmolLM2-135M).

Skips when the peer is not installed, and fails instead when ``CI=true``.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.llm_server import MODEL_ALIAS, require_llm_peer, start_llm_server

pytestmark = pytest.mark.e2e

# Loopback only: ignore any *_proxy variables of the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _request(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET ``url``, or POST ``body`` as JSON to it, and return the JSON object."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}
    )
    with _OPENER.open(request, timeout=120) as response:
        assert response.status == 200
        payload = json.load(response)
    assert isinstance(payload, dict)
    return payload


@pytest.mark.timeout(300)
def test_chat_completion_returns_text_and_usage(tmp_path: Path) -> None:
    peer = require_llm_peer()
    with start_llm_server(peer.python, peer.gguf, log_dir=tmp_path) as base_url:
        models = _request(f"{base_url}/models")
        reply = _request(
            f"{base_url}/chat/completions",
            {
                "model": MODEL_ALIAS,
                "messages": [
                    {"role": "user", "content": "What is the capital of France?"}
                ],
                "temperature": 0,
                "max_tokens": 8,
            },
        )

    assert [model["id"] for model in models["data"]] == [MODEL_ALIAS]
    assert reply["object"] == "chat.completion"
    assert reply["model"] == MODEL_ALIAS
    choice = reply["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert choice["finish_reason"] in {"stop", "length"}
    usage = reply["usage"]
    assert usage["prompt_tokens"] > 0
    assert 0 < usage["completion_tokens"] <= 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
