"""Deterministic metrics of word overlap with a reference answer: 0 to 1."""

from __future__ import annotations

from collections import Counter
from functools import cache

import sacrebleu
from rouge_score import rouge_scorer

from app.evaluators.base import Case, Kind, MetricInfo, MetricResult, Need
from app.evaluators.matching import NEEDS_EXPECTED
from app.evaluators.text import squad_normalise


def _info(name: str, description: str, version: str) -> MetricInfo:
    return MetricInfo(
        name=name,
        description=description,
        needs=frozenset({Need.OUTPUT, Need.EXPECTED}),
        minimum=0.0,
        maximum=1.0,
        higher_is_better=True,
        kind=Kind.DETERMINISTIC,
        version=version,
    )


class TokenF1:
    """SQuAD's token F1 between output and expected answer."""

    info = _info(
        "token_f1",
        "Harmonic mean of token precision and recall between the output and "
        "`expected`, after SQuAD normalisation (lower case; punctuation and the "
        "articles a/an/the removed; whitespace collapsed). Two empty answers "
        "score 1, one empty answer scores 0.",
        "1",
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        if case.expected is None:
            return MetricResult.unavailable(NEEDS_EXPECTED)
        return MetricResult(token_f1(case.output, case.expected))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD's F1 over normalised tokens (a multiset overlap)."""
    predicted = squad_normalise(prediction).split()
    expected = squad_normalise(reference).split()
    if not predicted or not expected:
        # As the SQuAD v2 script: no-answer vs no-answer is a match.
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(expected)
    return 2 * precision * recall / (precision + recall)


class Bleu:
    """Sentence BLEU by sacrebleu, scaled to 0..1."""

    info = _info(
        "bleu",
        "Sentence-level BLEU of the output against `expected` as computed by "
        "sacrebleu (13a tokenisation, exponential smoothing, effective order), "
        "divided by 100.",
        f"sacrebleu-{sacrebleu.__version__}",
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        if case.expected is None:
            return MetricResult.unavailable(NEEDS_EXPECTED)
        score = sacrebleu.sentence_bleu(case.output, [case.expected]).score
        # sacrebleu's float arithmetic can land a hair above 100 on a perfect match.
        return MetricResult(min(max(score / 100.0, 0.0), 1.0))


# About a second of rouge-score on these machines (4,000 x 4,000 words took 3.4 s).
MAX_LCS_CELLS = 4_000_000


class RougeL:
    """ROUGE-L F-measure by Google's rouge-score."""

    info = _info(
        "rouge_l",
        "ROUGE-L F-measure (longest common subsequence) of the output against "
        "`expected`, as computed by Google's rouge-score with its Porter stemmer. "
        "Its tokeniser keeps only ASCII letters and digits, so text in other "
        "scripts scores poorly.",
        "rouge-score-0.1.2",
    )

    def evaluate(self, case: Case) -> MetricResult:
        """Score one case."""
        if case.expected is None:
            return MetricResult.unavailable(NEEDS_EXPECTED)
        # The longest common subsequence fills a table of one cell per pair of
        # tokens: past this size it costs seconds and gigabytes, so it is refused.
        cells = len(case.expected.split()) * len(case.output.split())
        if cells > MAX_LCS_CELLS:
            return MetricResult.unavailable(
                f"too long for rouge_l: {len(case.expected.split())} x "
                f"{len(case.output.split())} words is over {MAX_LCS_CELLS:,} pairs"
            )
        scores = _rouge_scorer().score(case.expected, case.output)
        return MetricResult(scores["rougeL"].fmeasure)


@cache
def _rouge_scorer() -> rouge_scorer.RougeScorer:
    # Stateless after construction, and its stemmer is costly to build per call.
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
