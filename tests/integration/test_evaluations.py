"""POST/GET /v1/evaluations and GET /v1/evaluators, with a loopback judge model."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from app.evaluators.judge import RETRY_NOTE
from tests.integration.conftest import FAKE_MODEL, FAKE_PRICE, Server

ORIGINAL_EXAMPLE = {
    "provider": "fake",
    "model": FAKE_MODEL,
    "input": "What is 2+2?",
    "output": "The answer is 4.",
    "expected": "4",
    "metrics": ["faithfulness", "relevance", "coherence"],
}
CONFUSING = "Please confuse the judge."
CONFUSING_ONCE = "Please confuse the judge once."


def judge_reply(prompt: str) -> str:
    """A judge model whose replies take every shape real judges give."""
    retried = prompt.endswith(RETRY_NOTE)
    if "separate factual claims" in prompt:  # faithfulness, step 1: clean JSON
        return '{"claims": ["The answer is 4.", "Four is an odd number."]}'
    if "numbered CLAIM" in prompt:  # step 2: JSON in a code fence
        return (
            'Here you go:\n```json\n{"verdicts": [{"claim": 1, "supported": true}, '
            '{"claim": 2, "supported": false}]}\n```'
        )
    if "addresses the INPUT" in prompt:  # relevance: prose around the JSON
        if CONFUSING in prompt or (CONFUSING_ONCE in prompt and not retried):
            return "I would rather not say."  # garbage
        return 'Fine answer. {"reason": "on topic", "rating": 4} Hope this helps.'
    if "Coherence" in prompt:  # coherence: a fenced G-Eval reply
        return '```json\n{"steps": "1-4 done", "rating": 3}\n```'
    return "unexpected prompt"


def judge_cost(prompts: list[str]) -> float:
    """What the fake's usage (one token per word) costs at FAKE_PRICE."""
    total = 0.0
    for prompt in prompts:
        completion = judge_reply(prompt)
        total += len(prompt.split()) * FAKE_PRICE["input_per_mtok"]
        total += len(completion.split()) * FAKE_PRICE["output_per_mtok"]
    return total / 1e6


@pytest.fixture
def judged_server(make_server: Callable[..., Server]) -> Server:
    return make_server(reply=judge_reply)


def post(server: Server, body: dict[str, Any], headers: dict | None = None):
    return server.client.post(
        "/v1/evaluations", json=body, headers=headers or server.auth
    )


def test_the_original_api_example_gets_real_judged_values(
    judged_server: Server,
) -> None:
    events: list[Any] = []
    runtime = judged_server.client.app.app.extensions["ltb"]
    stop = runtime.events.listen(events.append)

    response = post(judged_server, ORIGINAL_EXAMPLE)

    assert response.status_code == 201, response.text
    body = response.json()
    # 1 of 2 claims supported; relevance 4 -> 0.75; coherence 3 -> 0.5.
    assert body["metrics"] == {"faithfulness": 0.5, "relevance": 0.75, "coherence": 0.5}
    assert body["score"] == pytest.approx((0.5 + 0.75 + 0.5) / 3)
    assert body["null_metrics"] == []
    assert body["created_by"] == "admin"
    faithfulness = body["details"]["faithfulness"]
    assert faithfulness["evidence"]["claims"] == [
        {"claim": "The answer is 4.", "supported": True},
        {"claim": "Four is an odd number.", "supported": False},
    ]
    assert faithfulness["judge"]["calls"] == 2
    assert body["details"]["relevance"]["evidence"] == {"rating": 4}
    assert [d["cached"] for d in body["details"].values()] == [False] * 3

    prompts = judged_server.provider.prompts
    assert len(prompts) == 4
    assert body["judge"]["cost_usd"] == pytest.approx(judge_cost(prompts))
    assert body["judge"]["prompt_tokens"] == sum(len(p.split()) for p in prompts)
    per_metric = sum(d["judge"]["cost_usd"] for d in body["details"].values())
    assert per_metric == pytest.approx(body["judge"]["cost_usd"])

    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)
    stop()
    [event] = [e for e in events if e.topic == "evaluation.results"]
    assert event.data == {
        "evaluation_id": body["evaluation_id"],
        "score": body["score"],
        "metrics": body["metrics"],
        "created_at": event.data["created_at"],
        "created_by": "admin",
    }
    assert event.data["created_at"].startswith(body["created_at"][:19])


def test_the_same_request_twice_asks_the_judge_once(judged_server: Server) -> None:
    first = post(judged_server, ORIGINAL_EXAMPLE).json()
    calls = judged_server.provider.requests

    second = post(judged_server, ORIGINAL_EXAMPLE).json()

    assert judged_server.provider.requests == calls == 4
    assert second["metrics"] == first["metrics"]
    assert second["evaluation_id"] != first["evaluation_id"]
    assert all(d["cached"] for d in second["details"].values())
    assert second["judge"]["cost_usd"] == 0.0
    assert (
        second["details"]["faithfulness"]["evidence"]
        == (first["details"]["faithfulness"]["evidence"])
    )

    # A different judge model, or a changed case, is a different question.
    post(judged_server, ORIGINAL_EXAMPLE | {"output": "It is 4."})
    assert judged_server.provider.requests == calls + 4


def test_an_unusable_judge_reply_is_retried_once_then_null_with_a_reason(
    judged_server: Server,
) -> None:
    body = ORIGINAL_EXAMPLE | {
        "output": f"The answer is 4. {CONFUSING}",
        "metrics": ["relevance", "coherence", "contains"],
    }

    response = post(judged_server, body)

    assert response.status_code == 201, response.text
    result = response.json()
    assert result["metrics"] == {"relevance": None, "coherence": 0.5, "contains": 1.0}
    assert result["null_metrics"] == ["relevance"]
    assert result["score"] == pytest.approx((0.5 + 1.0) / 2)
    relevance = result["details"]["relevance"]
    assert relevance["reason"] == (
        "the judge's reply held no JSON object (after one retry)"
    )
    assert relevance["averaged"] is False
    assert relevance["judge"]["calls"] == 2  # the ask and ONE retry
    assert result["details"]["contains"]["judge"] is None

    # A null is not cached: asking again asks the judge again.
    before = judged_server.provider.requests
    post(judged_server, body)
    assert judged_server.provider.requests == before + 2


def test_a_reply_usable_on_the_retry_counts(judged_server: Server) -> None:
    body = ORIGINAL_EXAMPLE | {
        "output": f"The answer is 4. {CONFUSING_ONCE}",
        "metrics": ["relevance"],
    }
    result = post(judged_server, body).json()
    assert result["metrics"] == {"relevance": 0.75}
    assert result["details"]["relevance"]["judge"]["calls"] == 2


def test_deterministic_metrics_need_no_judge_and_measures_are_not_averaged(
    server: Server,
) -> None:
    body = {
        "input": "What is 2+2?",
        "output": "The answer is 4.",
        "expected": "4",
        "latency_ms": 250.5,
        "metrics": [
            "exact_match", "contains", "accuracy", "numeric_match", "token_f1",
            "json_valid", "length", "latency", "cost",
        ],
        "parameters": {"numeric_match": {"tolerance": 0}},
    }  # fmt: skip

    response = post(server, body)

    assert response.status_code == 201, response.text
    result = response.json()
    assert result["metrics"] == {
        "exact_match": 0.0,
        "contains": 1.0,
        "accuracy": 1.0,
        "numeric_match": 1.0,
        "token_f1": pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1)),
        "json_valid": 0.0,
        "length": 16.0,
        "latency": 250.5,
        "cost": None,
    }
    assert result["score"] == pytest.approx((0 + 1 + 1 + 1 + 0.5 + 0) / 6)
    assert result["null_metrics"] == ["cost"]
    assert result["details"]["cost"]["reason"] == "the completion's cost is not known"
    assert result["details"]["latency"]["unit"] == "ms"
    assert result["judge"] is None and result["provider"] is None
    assert server.provider.requests == 0


def test_a_provider_without_a_model_is_fine_for_deterministic_metrics(
    server: Server,
) -> None:
    body = {"provider": "fake", "input": "q", "output": "abc", "metrics": ["length"]}
    response = post(server, body)
    assert response.status_code == 201, response.text
    assert (response.json()["metrics"], response.json()["judge"]) == (
        {"length": 3.0},
        None,
    )


def test_stored_evaluations_are_listed_newest_first_and_read_back(
    judged_server: Server,
) -> None:
    first = post(judged_server, ORIGINAL_EXAMPLE).json()
    second = post(
        judged_server,
        {"input": "q", "output": "42", "expected": "42", "metrics": ["exact_match"]},
    ).json()

    page = judged_server.client.get(
        "/v1/evaluations?page=1&page_size=1", headers=judged_server.auth
    ).json()
    assert (page["total"], page["total_pages"], page["page_size"]) == (2, 2, 1)
    assert [e["evaluation_id"] for e in page["items"]] == [second["evaluation_id"]]

    stored = judged_server.client.get(
        f"/v1/evaluations/{first['evaluation_id']}", headers=judged_server.auth
    )
    assert stored.status_code == 200
    assert stored.json() == first

    missing = judged_server.client.get(
        "/v1/evaluations/nope", headers=judged_server.auth
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"


def test_evaluators_are_listed_with_their_declarations(server: Server) -> None:
    response = server.client.get("/v1/evaluators?page_size=100", headers=server.auth)
    assert response.status_code == 200
    listed = {e["name"]: e for e in response.json()["items"]}
    assert response.json()["total"] == len(listed)
    # Ready evaluator plugins (when installed) add plugin:<name> metrics.
    assert len([name for name in listed if not name.startswith("plugin:")]) == 15
    assert listed["coherence"]["kind"] == "judged"
    assert listed["bleu"]["range"] == {"min": 0.0, "max": 1.0}
    assert listed["cost"]["higher_is_better"] is False


def test_a_viewer_reads_but_cannot_create_evaluations(server: Server) -> None:
    runtime = server.client.app.app.extensions["ltb"]
    runtime.auth.create_user("eve", "eve-viewer-password", "viewer")
    viewer = server.login("eve", "eve-viewer-password")
    body = {"input": "q", "output": "a", "metrics": ["length"]}

    refused = post(server, body, viewer)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    listed = server.client.get("/v1/evaluations", headers=viewer)
    assert listed.status_code == 200
    assert server.client.get("/v1/evaluators", headers=viewer).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"metrics": ["bleu", "nope"]}, 400, "Unknown metrics: nope; known metrics: "),
        ({"provider": None, "model": None}, 400, "Judged metrics need a judge"),
        ({"provider": "nobody"}, 400, "Unknown provider 'nobody'"),
        ({"metrics": []}, 400, None),
        ({"output": 7}, 400, None),
        ({"extra": 1}, 400, None),
        ({"parameters": {"bleu": {}}}, 400, "metrics not requested: bleu"),
    ],
)
def test_bad_input_is_refused_in_the_envelope(
    judged_server: Server, change: dict[str, Any], status: int, message: str | None
) -> None:
    body = {k: v for k, v in (ORIGINAL_EXAMPLE | change).items() if v is not None}

    response = post(judged_server, body)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST"
    if message:
        assert message in error["message"]
    assert judged_server.provider.requests == 0


def test_unknown_metric_lists_the_known_ones(server: Server) -> None:
    body = {"input": "q", "output": "a", "metrics": ["nope"]}
    details = post(server, body).json()["error"]["details"]
    assert details["metrics"] == ["nope"]
    assert "faithfulness" in details["known"] and "rouge_l" in details["known"]


def test_a_bad_metric_parameter_is_a_400(server: Server) -> None:
    body = {
        "input": "q",
        "output": "a",
        "metrics": ["regex"],
        "parameters": {"regex": {"flags": "i"}},
    }
    response = post(server, body)
    assert response.status_code == 400
    assert "has no parameter flags" in response.json()["error"]["message"]


def test_a_regex_pattern_that_does_not_compile_is_a_400_naming_the_field(
    server: Server,
) -> None:
    body = {
        "input": "q",
        "output": "a",
        "metrics": ["regex"],
        "parameters": {"regex": {"pattern": "("}},
    }
    response = post(server, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith(
        "parameters.regex.pattern is not a valid regular expression"
    )
    assert error["details"] == {"metric": "regex", "field": "parameters.regex.pattern"}


def test_a_judge_without_its_key_is_a_503_as_for_completions(server: Server) -> None:
    body = ORIGINAL_EXAMPLE | {"provider": "openai", "model": "gpt-4o"}
    response = post(server, body)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "OPENAI_API_KEY" in response.json()["error"]["message"]


def test_a_failing_judge_is_a_503_and_stores_nothing(
    make_server: Callable[..., Server],
) -> None:
    server = make_server(reply=judge_reply, fail_first=100, fail_status=500)
    response = post(server, ORIGINAL_EXAMPLE | {"metrics": ["relevance"]})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    listed = server.client.get("/v1/evaluations", headers=server.auth).json()
    assert listed["total"] == 0
