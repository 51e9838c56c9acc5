"""Both provider kinds answering well: text, usage, request shape and limits."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import pytest

from app.providers import Completion, Usage, cost_usd
from app.providers.config import ModelPrice
from tests.unit.providers.wire import (
    KEY,
    PRICE,
    WIRES,
    Wire,
    anthropic_body,
    complete_once,
    registry_for,
    text_block,
)

if TYPE_CHECKING:
    from tests.unit.providers.wire import Start


@pytest.mark.parametrize("wire", WIRES)
def test_a_successful_reply_gives_text_usage_and_cost(
    wire: Wire, upstream: Start
) -> None:
    server = upstream(wire.success("Paris.", prompt=1200, completion=50, cached=1000))

    completion = complete_once(wire, server)

    assert completion.text == "Paris."
    assert completion.model == "m-1-2025-01-01"
    assert completion.usage == Usage(
        prompt_tokens=1200, completion_tokens=50, cached_prompt_tokens=1000
    )
    assert completion.usage.total_tokens == 1250
    assert completion.finish_reason in ("stop", "end_turn")
    assert completion.latency_ms > 0
    # 200 uncached * $2 + 1000 cached * $0.5 + 50 completion * $8, per million.
    assert cost_usd(PRICE, completion.usage) == pytest.approx(0.0013)
    assert server.seen[0].path == wire.path
    assert wire.key_sent(server) == KEY


@pytest.mark.parametrize("wire", WIRES)
def test_the_request_carries_model_prompt_system_and_limits(
    wire: Wire, upstream: Start
) -> None:
    server = upstream(wire.success("ok", prompt=10, completion=1, cached=0))

    complete_once(wire, server, system="Be brief.", max_tokens=7, temperature=0.25)

    body = server.seen[0].body
    assert body["model"] == "m-1"
    assert body["max_tokens"] == 7
    assert body["temperature"] == 0.25
    if wire.kind == "openai":
        assert body["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ]
    else:
        assert body["system"] == "Be brief."
        assert body["messages"] == [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("wire", WIRES)
def test_unset_options_are_left_out_of_the_request(wire: Wire, upstream: Start) -> None:
    server = upstream(wire.success("ok", prompt=10, completion=1, cached=0))

    complete_once(wire, server)

    body = server.seen[0].body
    assert "temperature" not in body
    assert "system" not in body
    if wire.kind == "openai":
        assert "max_tokens" not in body
        assert [message["role"] for message in body["messages"]] == ["user"]
    else:
        # The Messages API requires max_tokens, so the provider supplies one.
        assert body["max_tokens"] == 1024


def test_openai_calls_leave_out_the_sdk_self_description_headers(
    upstream: Start,
) -> None:
    wire = Wire("openai", "/v1/chat/completions")
    server = upstream(wire.success("ok", prompt=10, completion=1, cached=0))

    complete_once(wire, server)

    headers = server.seen[0].headers
    assert [name for name in headers if name.startswith("x-stainless")] == []
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("wire", WIRES)
def test_an_empty_reply_cut_at_the_token_limit_is_an_empty_completion(
    wire: Wire, upstream: Start
) -> None:
    server = upstream(wire.empty())

    completion = complete_once(wire, server, max_tokens=1)

    assert completion.text == ""
    assert completion.finish_reason in ("length", "max_tokens")
    assert completion.usage == Usage(prompt_tokens=12, completion_tokens=0)


@pytest.mark.parametrize("wire", WIRES)
def test_a_keyless_provider_never_sends_the_process_api_key(
    wire: Wire, upstream: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-process-openai")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-process-anthropic")
    server = upstream(wire.success("local", prompt=3, completion=1, cached=0))

    completion = complete_once(wire, server, key=None)

    assert completion.text == "local"
    assert wire.key_sent(server) == "no-key-required"


@pytest.mark.parametrize("wire", WIRES)
def test_concurrent_calls_never_exceed_max_concurrency(
    wire: Wire, upstream: Start
) -> None:
    reply = wire.success("ok", prompt=3, completion=1, cached=0)
    server = upstream({**reply, "delay": 0.2})
    registry = registry_for(wire, wire.base_url(server.url), max_concurrency=2)

    async def call_five() -> list[Completion]:
        try:
            provider = registry.get("fake")
            calls = [provider.complete("m-1", f"prompt {n}") for n in range(5)]
            return await asyncio.gather(*calls)
        finally:
            await registry.aclose()

    completions = asyncio.run(call_five())

    assert [completion.text for completion in completions] == ["ok"] * 5
    assert len(server.seen) == 5
    assert server.max_in_flight == 2
    # Latency excludes the wait for a slot: each call took one server delay.
    assert all(completion.latency_ms < 1000 for completion in completions)


@pytest.mark.parametrize("wire", WIRES)
def test_a_reply_without_usage_counts_zero_tokens_of_unknown_cost_and_warns_once(
    wire: Wire, upstream: Start, caplog: pytest.LogCaptureFixture
) -> None:
    reply = wire.success("no usage here", prompt=3, completion=1, cached=0)
    del reply["json"]["usage"]
    server = upstream(reply)
    registry = registry_for(wire, wire.base_url(server.url))

    async def call_twice() -> list[Completion]:
        try:
            provider = registry.get("fake")
            return [await provider.complete("m-1", "Hi") for _ in range(2)]
        finally:
            await registry.aclose()

    with caplog.at_level(logging.WARNING, logger="app.providers"):
        completions = asyncio.run(call_twice())

    assert [completion.text for completion in completions] == ["no usage here"] * 2
    assert completions[0].usage == Usage(
        prompt_tokens=0, completion_tokens=0, reported=False
    )
    assert cost_usd(ModelPrice(1.0, 1.0), completions[0].usage) is None
    warnings = [r for r in caplog.records if "reports no token usage" in r.message]
    assert len(warnings) == 1


def test_anthropic_text_is_the_concatenation_of_its_text_blocks(
    upstream: Start,
) -> None:
    wire = Wire("anthropic", "/v1/messages")
    blocks = [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        text_block("Hello, "),
        text_block("world."),
    ]
    usage = {"input_tokens": 5, "output_tokens": 4}
    server = upstream({"json": anthropic_body(blocks, "end_turn", usage)})

    completion = complete_once(wire, server)

    assert completion.text == "Hello, world."
    assert completion.usage == Usage(prompt_tokens=5, completion_tokens=4)
