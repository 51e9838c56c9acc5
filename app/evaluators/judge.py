"""Asking a judge model: robust reply parsing, one retry, and what the calls cost.

Judge models wrap their JSON in prose or in a Markdown code fence more often than
not, so a reply is read as "the first valid JSON object anywhere in the text". A
reply that still cannot be used after one retry gives no value (never a guess): the
metric becomes null with the reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from app.providers.base import Usage
from app.providers.pricing import cost_usd
from app.providers.registry import ProviderRegistry

logger = logging.getLogger(__name__)

T = TypeVar("T")

JUDGE_SYSTEM_PROMPT = (
    "You are a strict, impartial evaluator of language model outputs. "
    "Follow the instructions exactly and answer with one JSON object."
)
RETRY_NOTE = (
    "\n\nYour previous reply could not be read. Reply with only the JSON object "
    "described above, and nothing else."
)
JUDGE_TEMPERATURE = 0.0
ATTEMPTS = 2  # the first ask and ONE retry

_DECODER = json.JSONDecoder()


class JudgeReplyError(ValueError):
    """A judge reply is JSON, but not the JSON the rubric asked for."""


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (inside prose or a code fence), or None.

    Every ``{`` is tried as the start of an object, in order; the first that
    decodes to a JSON object wins. Arrays and scalars are not objects.
    """
    start = text.find("{")
    while start != -1:
        try:
            found, _end = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            found = None
        if isinstance(found, dict):
            return found
        start = text.find("{", start + 1)
    return None


def rating_in(reply: dict[str, Any], low: int, high: int) -> int:
    """The integer ``rating`` of a reply, checked to lie in [low, high]."""
    rating = reply.get("rating")
    # bool is an int in Python; a float such as 4.0 is accepted as the integer 4.
    if isinstance(rating, bool) or not isinstance(rating, int | float):
        raise JudgeReplyError(f"'rating' is not a number: {rating!r:.40}")
    if rating != int(rating) or not low <= rating <= high:
        raise JudgeReplyError(f"'rating' is not an integer from {low} to {high}")
    return int(rating)


@dataclass
class JudgeUsage:
    """What the judge calls of one metric consumed."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0

    def add(self, usage: Usage, cost: float | None) -> None:
        """Count one call; a call without a price makes the whole cost unknown."""
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost_usd = (
            None if cost is None or self.cost_usd is None else (self.cost_usd + cost)
        )

    def describe(self) -> dict[str, Any]:
        """The API representation."""
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 10),
        }


class Judge:
    """One judge model, used by one metric of one evaluation (it counts its usage)."""

    def __init__(self, providers: ProviderRegistry, provider: str, model: str) -> None:
        self.providers = providers
        self.provider = provider
        self.model = model
        self.usage = JudgeUsage()

    async def ask(
        self,
        prompt: str,
        check: Callable[[dict[str, Any]], T],
        *,
        max_tokens: int = 512,
    ) -> tuple[T | None, str | None]:
        """Ask the judge and check its reply; retry once when it is unusable.

        Returns ``(checked, None)``, or ``(None, reason)`` after the retry failed
        too. Provider failures are not retried here: the provider client already
        retries what is worth retrying, and its error reaches the caller.
        """
        reason = "no reply"
        for attempt in range(ATTEMPTS):
            text = await self._complete(
                prompt if attempt == 0 else prompt + RETRY_NOTE, max_tokens
            )
            reply = first_json_object(text)
            if reply is None:
                reason = "the judge's reply held no JSON object"
                continue
            try:
                return check(reply), None
            except JudgeReplyError as e:
                reason = f"the judge's reply was not usable: {e}"
        logger.info("judge %s/%s gave no usable reply", self.provider, self.model)
        return None, f"{reason} (after one retry)"

    async def _complete(self, prompt: str, max_tokens: int) -> str:
        completion = await self.providers.get(self.provider).complete(
            self.model,
            prompt,
            max_tokens=max_tokens,
            temperature=JUDGE_TEMPERATURE,
            system=JUDGE_SYSTEM_PROMPT,
        )
        price = self.providers.price(self.provider, self.model)
        self.usage.add(completion.usage, cost_usd(price, completion.usage))
        return completion.text
