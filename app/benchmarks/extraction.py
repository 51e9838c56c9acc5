"""Answer extraction from free model output, and scoring against a dataset item.

Everything here is pure text processing so the same rules apply to every provider
and every transport. Decisions worth knowing:

* Numbers: an optional sign (``-``, ``+`` or the Unicode minus), an optional leading
  currency symbol (``$``, ``€``, ``£``), digits with optional well-formed thousands
  separators (``1,000``; ``1,00`` is not a number), an optional fraction and an
  optional trailing ``%`` (dropped: ``50%`` normalises to ``50``). Scientific
  notation (``1e3``) is *not* a number: no dataset here uses it, and in free text a
  digit run followed by ``e`` is more often a unit or a typo than an exponent.
* The canonical form of a number has no sign on zero, no leading zeros, no trailing
  fractional zeros and no trailing point: ``"1,000.00"`` -> ``"1000"``,
  ``"2.50"`` -> ``"2.5"``, ``"72."`` -> ``"72"``, ``"-0"`` -> ``"0"``.
"""

from __future__ import annotations

import re
from decimal import Decimal

ANSWER_TYPES = ("choice", "number", "text")

# --- numbers ---------------------------------------------------------------------

# The whole of a string that is one number; groups: sign, integer part, fraction.
_NUMBER_FULL = re.compile(
    r"""
    (?P<sign>[-+\u2212])?
    [$\u20ac\u00a3]?                  # a currency symbol: "$1,000"
    (?P<int>[0-9]{1,3}(?:,[0-9]{3})+  # "1,000"
      |[0-9]+                        # "1000"
      |(?=\.[0-9]))                  # none at all in ".5"
    (?:\.(?P<frac>[0-9]*))?          # "2.50", and "72." with no digits
    %?                               # "50%" is the number 50
    """,
    re.VERBOSE,
)

# One number inside free text. The look-behinds stop us reading the "2" of "x2",
# the "5" of "3.5", the "000" of "1,000" or the "5" of "2e-5" as numbers of their
# own; the sign only counts when it does not follow a word, so "10-12" is not "-12".
_NUMBER_IN_TEXT = (
    r"(?<![\w.])(?<![0-9],)(?<![0-9][eE][-+])"
    r"(?:[-+\u2212](?=[$\u20ac\u00a3]?\.?[0-9]))?"
    r"[$\u20ac\u00a3]?"
    r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+|(?=\.[0-9]))"
    r"(?:\.[0-9]+)?"
    r"(?![eE][-+]?[0-9])"  # "1e3" is not read as 1 (see the module docstring)
)

# Tried in order; within one pattern the last match wins, because models restate or
# correct themselves and the final statement is the one they commit to.
_NUMBER_PATTERNS: tuple[re.Pattern[str], ...] = (
    # An answer marker: GSM8K's own "#### 18", which few-shot prompts teach models
    # to copy, or an explicit statement: "Answer: 18", "The final answer is $18",
    # "answer = 5", "**Answer:** \boxed{18}" (markup between the word and the number
    # is skipped). Both kinds are one pattern, so the last marker of either kind
    # wins: "#### 18\nAnswer: 20" is 20, "Answer: 20\n#### 18" is 18.
    re.compile(
        r"(?:####\s*"
        r"|(?i:\banswer\b)(?:[\s*_:=]|(?i:\bis\b)|\\boxed\{|\\\()*)"
        r"(?P<number>" + _NUMBER_IN_TEXT + ")"
    ),
    # Otherwise the last number the model wrote, usually the result of its working.
    re.compile(r"(?P<number>" + _NUMBER_IN_TEXT + ")"),
)


def normalise_number(text: str) -> str | None:
    """Return the canonical form of a number written as text, or None if it is not."""
    match = _NUMBER_FULL.fullmatch(text.strip())
    if match is None:
        return None
    integer = match["int"].replace(",", "").lstrip("0") or "0"
    fraction = (match["frac"] or "").rstrip("0")
    digits = integer + ("." + fraction if fraction else "")
    if digits == "0" or match["sign"] in (None, "+"):
        return digits
    return "-" + digits


def extract_number(text: str) -> str | None:
    """Return the final numeric answer in free model output, normalised, or None."""
    for pattern in _NUMBER_PATTERNS:
        numbers = [match["number"] for match in pattern.finditer(text)]
        if numbers:
            return normalise_number(numbers[-1])
    return None


# --- multiple choice -------------------------------------------------------------

# "A or B", "A, B", "A/B", "A and B": naming another option right after the letter
# is not committing to one. A lower-case letter before a word ("B, a city") and the
# pronoun ("B, I think") are not options.
_NOT_A_HEDGE = (
    r"(?![*_)\]]*\s*(?:,|/|\bor\b|\band\b)\s*[*_(\[]*"
    r"(?:I(?!\s+[a-z])|[A-HJ-Z]|[a-z](?!\s+[a-z]))(?![A-Za-z0-9']))"
)

# The letter of an explicit statement. Upper case stands alone ("B", "B)", "B.",
# "B because"), except "I" before a lower-case word, which is the pronoun
# ("Answer: I think..."). Lower case only counts when closed by a bracket or bold
# ("(b)", "b)", "**c**") or followed by punctuation or the line's end ("Answer: b."),
# because "the answer is a bit..." uses the article.
_EXPLICIT_LETTER = (
    r"(?P<letter>"
    r"I(?![*_)\]]*\s+[a-z])(?![A-Za-z0-9'])"
    r"|[A-HJ-Z](?![A-Za-z0-9'])"
    r"|[a-z](?=[)\]]|\*\*|[ \t]*(?:\Z|[\r\n.,;:!?]))"
    r")"
)

# The letter a reply opens with: "B", "(B)", "[B]", "**B**", "B.", "B)", "B: Paris",
# "B, because", "B - Paris", "B\n...". Only upper case counts. A following word is
# allowed ("C because", "B Paris") except after "A" and "I", which there are the
# article ("A good question") and the pronoun ("I think"); "A is correct" is still A.
_LEADING_LETTER = (
    r"\A\s*(?:\*\*|__)?\s*[(\[]?\s*"
    r"(?P<letter>[A-Z])" + _NOT_A_HEDGE + r"\s*[)\]]?\s*(?:\*\*|__)?"
    r"(?:\s*\Z|[.:;,)\]]|[ \t]*\r?\n|\s+[-\u2013\u2014]\s|\s+(?=is\b)"
    r"|(?<![AI])\s+(?=\S))"
)

# Tried in order; the first pattern that yields a letter within range decides.
_CHOICE_PATTERNS: tuple[tuple[re.Pattern[str], bool], ...] = (
    # 1. An explicit statement anywhere: "Answer: B", "answer: (c)", "The correct
    #    answer is **C**", "the answer would be option D". Prompts ask for
    #    "Answer: X", and the last statement wins because models correct themselves
    #    (the rule extract_number follows). "####" is not a marker here: it is
    #    GSM8K's numeric format, and in a multiple-choice reply "#### B) London" is
    #    a markdown heading, often one for each option the model weighs.
    (
        re.compile(
            r"(?i:\banswer\b)"
            r"(?:[\s*_:=\-]|(?i:\b(?:is|would|should|will|must|be|option|choice"
            r"|letter)\b))*"
            r"[(\[]?" + _EXPLICIT_LETTER + _NOT_A_HEDGE
        ),
        True,
    ),
    # 2. A reply that opens with a standalone letter, as small models often answer.
    (re.compile(_LEADING_LETTER), False),
)


def extract_choice(text: str, n_choices: int = 4) -> str | None:
    """Return the upper-case option letter the model committed to, or None."""
    if not 1 <= n_choices <= 26:
        raise ValueError(f"n_choices must be between 1 and 26, got {n_choices}")
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:n_choices]
    for pattern, last_wins in _CHOICE_PATTERNS:
        found = [
            match["letter"].upper()
            for match in pattern.finditer(text)
            if match["letter"].upper() in letters
        ]
        if found:
            return found[-1] if last_wins else found[0]
    return None


# --- scoring ---------------------------------------------------------------------


def _as_decimal(text: str) -> Decimal | None:
    """Return the value of a number written as text, or None."""
    normalised = normalise_number(text)
    return None if normalised is None else Decimal(normalised)


def _fold_text(text: str) -> str:
    """Fold case and collapse runs of whitespace, for free-text comparison."""
    return " ".join(text.split()).casefold()


def score_answer(item_answer_type: str, expected: str, extracted: str | None) -> bool:
    """Return whether an extracted answer matches the item's expected answer."""
    if item_answer_type not in ANSWER_TYPES:
        # A programming error, not a client error: items are validated on import.
        raise ValueError(f"unknown answer type {item_answer_type!r}")
    if extracted is None:
        return False
    if item_answer_type == "choice":
        return extracted.strip().upper() == expected.strip().upper()
    if item_answer_type == "number":
        expected_value = _as_decimal(expected)
        # Decimal comparison is exact, so "2.50" equals "2.5" and no float rounding
        # makes 0.1 + 0.2 style answers disagree.
        return expected_value is not None and expected_value == _as_decimal(extracted)
    return _fold_text(extracted) == _fold_text(expected)
