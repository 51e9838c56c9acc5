"""Metrics scored by a judge model: faithfulness, relevance and coherence.

Each metric uses a fixed rubric (its prompts are part of its version: changing a
prompt changes the version, which also retires its cached verdicts) and asks for
one JSON object. Ratings are integers on a 1-5 scale, normalised to 0..1 as
(rating - 1) / 4, so 1 -> 0.0, 3 -> 0.5 and 5 -> 1.0.
"""

from __future__ import annotations

from typing import Any

from app.evaluators.base import Case, Kind, MetricInfo, MetricResult, Need
from app.evaluators.judge import Judge, JudgeReplyError, rating_in

MAX_CLAIMS = 40


def _info(name: str, description: str, needs: set[Need]) -> MetricInfo:
    return MetricInfo(
        name=name,
        description=description,
        needs=frozenset({Need.OUTPUT, Need.JUDGE, *needs}),
        minimum=0.0,
        maximum=1.0,
        higher_is_better=True,
        kind=Kind.JUDGED,
        version="1",
    )


def _block(label: str, text: str | None) -> str:
    return f"{label}:\n<<<\n{text}\n>>>\n" if text else ""


def _normalised(rating: int) -> float:
    return (rating - 1) / 4


class Faithfulness:
    """Share of the output's claims that the source supports.

    Two judge calls: the first extracts the factual claims of the output; the
    second checks every claim against the source (the input, the context and the
    expected answer, whichever were given) and gives one verdict per claim. The
    value is supported claims / all claims. An output that makes no claim has no
    faithfulness (null with the reason) rather than a perfect one.
    """

    info = _info(
        "faithfulness",
        "Judged. The judge lists the factual claims of the output, then checks each "
        "against the source (input, context and expected, whichever are given); "
        "value = supported claims / all claims. Null when the output makes no claim.",
        {Need.INPUT, Need.CONTEXT, Need.EXPECTED},
    )

    async def judge(self, case: Case, judge: Judge) -> MetricResult:
        """Score one case with the judge's help."""
        source = (
            _block("QUESTION", case.input)
            + _block("CONTEXT", case.context)
            + _block("REFERENCE ANSWER", case.expected)
        )
        if not source:
            return MetricResult.unavailable("no input, context or expected to check")

        claims, reason = await judge.ask(_claims_prompt(case.output), _claims)
        if claims is None:
            return MetricResult.unavailable(reason or "no claims")
        if not claims:
            return MetricResult.unavailable("the output makes no factual claim")

        def verdicts_of(reply: dict[str, Any]) -> list[bool]:
            return _verdicts(reply, len(claims))

        verdicts, reason = await judge.ask(
            _verdicts_prompt(source, claims), verdicts_of
        )
        if verdicts is None:
            return MetricResult.unavailable(reason or "no verdicts")
        supported = sum(verdicts)
        return MetricResult(
            supported / len(claims),
            details={
                "claims": [
                    {"claim": claim, "supported": verdict}
                    for claim, verdict in zip(claims, verdicts, strict=True)
                ]
            },
        )


def _claims_prompt(output: str) -> str:
    return (
        "Break the OUTPUT below into the separate factual claims it makes. A claim "
        "is one short, self-contained statement; ignore questions, greetings and "
        f"filler. List at most {MAX_CLAIMS} claims.\n\n"
        + _block("OUTPUT", output)
        + '\nReply with one JSON object: {"claims": ["<claim>", ...]}'
    )


def _claims(reply: dict[str, Any]) -> list[str]:
    claims = reply.get("claims")
    if not isinstance(claims, list) or not all(isinstance(c, str) for c in claims):
        raise JudgeReplyError("'claims' is not a list of strings")
    kept = [claim.strip() for claim in claims if claim.strip()]
    if len(kept) > MAX_CLAIMS:
        raise JudgeReplyError(f"more than {MAX_CLAIMS} claims")
    return kept


def _verdicts_prompt(source: str, claims: list[str]) -> str:
    numbered = "\n".join(f"{i}. {claim}" for i, claim in enumerate(claims, 1))
    return (
        "Decide for each numbered CLAIM whether the SOURCE supports it. A claim is "
        "supported only when the source states it or it follows directly from "
        "the source; otherwise it is not supported.\n\n"
        f"SOURCE:\n{source}\nCLAIMS:\n{numbered}\n\n"
        "Reply with one JSON object holding one verdict per claim, in order: "
        '{"verdicts": [{"claim": 1, "supported": true}, ...]}'
    )


def _verdicts(reply: dict[str, Any], count: int) -> list[bool]:
    verdicts = reply.get("verdicts")
    if not isinstance(verdicts, list) or len(verdicts) != count:
        raise JudgeReplyError(f"'verdicts' is not a list of {count} verdicts")
    found = []
    for verdict in verdicts:
        supported = verdict.get("supported") if isinstance(verdict, dict) else None
        if not isinstance(supported, bool):
            raise JudgeReplyError("a verdict has no true/false 'supported'")
        found.append(supported)
    return found


class Relevance:
    """How well the output addresses the input, rated 1-5 by the judge."""

    info = _info(
        "relevance",
        "Judged. The judge rates from 1 to 5 how well the output addresses the "
        "input (answers what was asked, completely, without drifting; correctness "
        "is not judged); value = (rating - 1) / 4.",
        {Need.INPUT},
    )

    async def judge(self, case: Case, judge: Judge) -> MetricResult:
        """Score one case with the judge's help."""
        if not case.input:
            return MetricResult.unavailable("no input to judge relevance against")
        prompt = (
            "Rate how well the OUTPUT addresses the INPUT: does it respond to what "
            "was asked, completely and without drifting off the topic? Do not judge "
            "whether it is correct.\n"
            "Scale: 1 = does not address the input at all; 2 = barely; 3 = partly; "
            "4 = mostly; 5 = fully and directly.\n\n"
            + _block("INPUT", case.input)
            + _block("OUTPUT", case.output)
            + '\nReply with one JSON object: {"reason": "<one sentence>", '
            '"rating": <integer from 1 to 5>}'
        )
        return await _rated(judge, prompt)


class Coherence:
    """G-Eval coherence: criteria and evaluation steps, then a 1-5 rating.

    After G-Eval (Liu et al., 2023): the prompt states the criterion and the
    evaluation steps a careful annotator would follow, and the judge fills in a
    rating. G-Eval's weighting of each rating by its token probability is not
    done, because not every provider returns log-probabilities.
    """

    info = _info(
        "coherence",
        "Judged, G-Eval style: the judge is given the coherence criterion and "
        "evaluation steps and rates the output from 1 to 5; "
        "value = (rating - 1) / 4.",
        {Need.INPUT},
    )

    async def judge(self, case: Case, judge: Judge) -> MetricResult:
        """Score one case with the judge's help."""
        prompt = (
            "You will be given an OUTPUT written in reply to an INPUT. Rate the "
            "OUTPUT on one metric, Coherence.\n\n"
            "Evaluation criteria:\nCoherence (1-5): the collective quality of all "
            "sentences. The output should be well structured and well organised, "
            "building from sentence to sentence into a coherent body of "
            "information, without contradictions, non sequiturs or jumbled order.\n"
            "\nEvaluation steps:\n"
            "1. Read the INPUT to learn the topic and what was asked.\n"
            "2. Read the OUTPUT and identify its main points and their order.\n"
            "3. Check that each sentence follows from the previous ones, with no "
            "contradiction, abrupt jump or needless repetition.\n"
            "4. Rate coherence from 1 (incoherent) to 5 (perfectly coherent).\n\n"
            + _block("INPUT", case.input)
            + _block("OUTPUT", case.output)
            + '\nReply with one JSON object: {"steps": "<your reasoning>", '
            '"rating": <integer from 1 to 5>}'
        )
        return await _rated(judge, prompt)


async def _rated(judge: Judge, prompt: str) -> MetricResult:
    def rating(reply: dict[str, Any]) -> int:
        return rating_in(reply, 1, 5)

    found, reason = await judge.ask(prompt, rating)
    if found is None:
        return MetricResult.unavailable(reason or "no rating")
    return MetricResult(_normalised(found), details={"rating": found})
