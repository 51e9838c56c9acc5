"""Judge replies: parsing, the one retry, usage and cost, and the judged metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from app.evaluators.base import Case
from app.evaluators.judge import Judge, first_json_object
from app.evaluators.registry import builtin_registry
from app.providers.base import Completion, Usage
from app.providers.config import ModelPrice

REGISTRY = builtin_registry()
PRICE = ModelPrice(input_per_mtok=2.0, output_per_mtok=8.0)


@dataclass
class ScriptedJudge:
    """A provider whose replies are scripted, the last one repeating."""

    replies: list[str]
    prompts: list[str] = field(default_factory=list)
    name: str = "judge"

    async def complete(
        self, model, prompt, *, max_tokens=None, temperature=None, system=None
    ):
        self.prompts.append(prompt)
        text = self.replies[min(len(self.prompts), len(self.replies)) - 1]
        return Completion(text, model, Usage(100, 10), "stop", 5.0)


@dataclass
class Providers:
    provider: ScriptedJudge
    priced: bool = True

    def get(self, name: str) -> ScriptedJudge:
        return self.provider

    def price(self, provider: str, model: str) -> ModelPrice | None:
        return PRICE if self.priced else None


def judged(metric: str, replies: list[str], case: Case, priced: bool = True):
    provider = ScriptedJudge(replies)
    judge = Judge(Providers(provider, priced), "judge", "judge-model")
    result = asyncio.run(REGISTRY.get(metric).judge(case, judge))
    return result, judge, provider


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('{"rating": 4}', {"rating": 4}),
        (
            '```json\n{"rating": 5, "reason": "fine"}\n```',
            {"rating": 5, "reason": "fine"},
        ),
        ('Sure! Here it is: {"rating": 2} Hope that helps.', {"rating": 2}),
        ('I weigh {this} and [1, 2]; verdict: {"a": {"b": [1]}}', {"a": {"b": [1]}}),
        ('[{"rating": 3}]', {"rating": 3}),  # the object inside the array
        ('{"rating": 1} then {"rating": 5}', {"rating": 1}),
        ("no json here", None),
        ('{"rating": ', None),
        ("", None),
    ],
)
def test_the_first_json_object_is_found_wherever_it_is(text: str, found) -> None:
    assert first_json_object(text) == found


def test_a_clean_rating_is_normalised_and_priced() -> None:
    result, judge, provider = judged(
        "relevance", ['{"reason": "on topic", "rating": 4}'], Case("Paris", "Capital?")
    )
    assert result.value == 0.75
    assert result.details == {"rating": 4}
    assert len(provider.prompts) == 1
    assert judge.usage.describe() == {
        "calls": 1,
        "prompt_tokens": 100,
        "completion_tokens": 10,
        "cost_usd": pytest.approx((100 * 2.0 + 10 * 8.0) / 1e6),
    }


@pytest.mark.parametrize(("rating", "value"), [(1, 0.0), (2, 0.25), (3, 0.5), (5, 1.0)])
def test_a_coherence_rating_maps_to_rating_minus_one_over_four(
    rating: int, value: float
) -> None:
    reply = f'```json\n{{"steps": "read it", "rating": {rating}}}\n```'
    result, _, provider = judged("coherence", [reply], Case("Paris.", "Capital?"))
    assert result.value == value
    assert "Evaluation steps" in provider.prompts[0]


def test_garbage_is_retried_once_and_then_the_reply_counts() -> None:
    result, judge, provider = judged(
        "relevance",
        ["I cannot decide.", 'Rating follows. {"rating": 3}'],
        Case("x", "y"),
    )
    assert result.value == 0.5
    assert len(provider.prompts) == 2
    assert "could not be read" in provider.prompts[1]
    assert judge.usage.calls == 2
    assert judge.usage.prompt_tokens == 200


def test_garbage_twice_gives_null_with_a_reason_and_still_counts_the_calls() -> None:
    result, judge, provider = judged(
        "coherence", ["nope", "still nope"], Case("x", "y")
    )
    assert result.value is None
    assert result.reason == "the judge's reply held no JSON object (after one retry)"
    assert len(provider.prompts) == 2
    assert judge.usage.calls == 2


def test_an_out_of_range_rating_is_not_usable() -> None:
    result, _, _ = judged(
        "relevance", ['{"rating": 7}', '{"rating": true}'], Case("x", "y")
    )
    assert result.value is None
    assert "'rating' is not a number" in (result.reason or "")


def test_an_unpriced_judge_model_has_no_cost() -> None:
    _, judge, _ = judged("relevance", ['{"rating": 5}'], Case("x", "y"), priced=False)
    assert judge.usage.cost_usd is None


def test_faithfulness_is_supported_claims_over_all_claims() -> None:
    claims = '{"claims": ["The answer is 4.", "4 is prime."]}'
    verdicts = (
        'Verdicts:\n```json\n{"verdicts": [{"claim": 1, "supported": true}, '
        '{"claim": 2, "supported": false}]}\n```'
    )
    case = Case("The answer is 4. 4 is prime.", "What is 2+2?", expected="4")
    result, judge, provider = judged("faithfulness", [claims, verdicts], case)

    assert result.value == 0.5
    assert result.details["claims"] == [
        {"claim": "The answer is 4.", "supported": True},
        {"claim": "4 is prime.", "supported": False},
    ]
    assert "REFERENCE ANSWER" in provider.prompts[1]
    assert "1. The answer is 4." in provider.prompts[1]
    assert judge.usage.calls == 2


def test_faithfulness_with_the_wrong_number_of_verdicts_retries_then_is_null() -> None:
    claims = '{"claims": ["a", "b"]}'
    one_verdict = '{"verdicts": [{"claim": 1, "supported": true}]}'
    result, judge, _ = judged("faithfulness", [claims, one_verdict], Case("a b", "q"))
    assert result.value is None
    assert "'verdicts' is not a list of 2 verdicts" in (result.reason or "")
    assert judge.usage.calls == 3


def test_faithfulness_of_an_output_without_claims_is_null() -> None:
    result, _, _ = judged("faithfulness", ['{"claims": []}'], Case("Hello!", "Hi"))
    assert (result.value, result.reason) == (None, "the output makes no factual claim")
