"""Text normalisation shared by the overlap metrics."""

from __future__ import annotations

import re
import string

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def squad_normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles.

    The steps and their order are those of the official SQuAD v1.1/v2.0 scoring
    script, so token F1 here equals the figure papers report.
    """
    lowered = text.lower()
    no_punctuation = lowered.translate(_PUNCTUATION)
    no_articles = _ARTICLES.sub(" ", no_punctuation)
    return " ".join(no_articles.split())


def fold(text: str) -> str:
    """Case-folded text with runs of whitespace collapsed to one space."""
    return " ".join(text.split()).casefold()
