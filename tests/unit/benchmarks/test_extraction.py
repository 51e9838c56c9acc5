"""Unit tests for answer extraction from model output and for scoring."""

from __future__ import annotations

import time

import pytest

from app.benchmarks.extraction import (
    extract_choice,
    extract_number,
    normalise_number,
    score_answer,
)

# --- extract_choice --------------------------------------------------------------

CHOICE_CASES = [
    # the forms a model commits with
    ("B", "B"),
    ("(B)", "B"),
    ("[C]", "C"),
    ("B.", "B"),
    ("B)", "B"),
    ("B:", "B"),
    ("**B**", "B"),
    ("B. Paris", "B"),
    ("B) Paris", "B"),
    ("B - Paris", "B"),
    ("B, because the others are wrong", "B"),
    ("C because it is larger", "C"),
    ("D\nThe capital is Paris.", "D"),
    ("\n\n   B", "B"),
    ("  \n(C) 42", "C"),
    ("A", "A"),
    ("A.", "A"),
    ("A) 0", "A"),
    ("A is correct", "A"),
    # explicit statements
    ("Answer: B", "B"),
    ("Answer: b", "B"),
    ("answer: (C)", "C"),
    ("ANSWER: D", "D"),
    ("Answer:\n\nC", "C"),
    ("The answer is B) Paris", "B"),
    ("The answer is B", "B"),
    ("The answer is (b)", "B"),
    ("The answer is b) Paris", "B"),
    ("The answer is: C.", "C"),
    ("The answer is A because the group is cyclic.", "A"),
    ("The correct answer is **C**", "C"),
    ("**Answer:** D", "D"),
    ("Final answer: **(A)**", "A"),
    ("The answer would be option D.", "D"),
    ("The answer choice is C", "C"),
    ("Let me think. 2 + 2 = 4, so the answer is D.", "D"),
    # an explicit statement beats a leading letter, and the last statement wins
    ("B. Hmm, no. The answer is C.", "C"),
    ("Answer: B. Wait, actually the answer is C.", "C"),
    ("Answer: A\nAnswer: D", "D"),
    ("The answer is B.\nAnswer: C", "C"),
    ("Answer: C\nThe answer is B.", "B"),
    # "####" is GSM8K's numeric marker, not a choice marker: in a multiple-choice
    # reply it is a markdown heading, so "Answer:" decides whatever the order
    ("#### B\nAnswer: C", "C"),
    ("Answer: C\n#### B", "C"),
    ("#### A) Paris\nNo.\n#### B) London\nYes.", None),
    # the article "a"/"A" is not option A
    ("A good question. The answer is C", "C"),
    ("A triangle has three sides.", None),
    ("It is a trick question.", None),
    ("a", None),
    ("(a)", None),
    ("answer: a bit of both", None),
    ("The answer is a.", "A"),
    # the pronoun "I"
    ("I think it is B", None),
    ("I think the answer is B", "B"),
    ("The answer is B, I think.", "B"),
    # no commitment
    ("A or B?", None),
    ("B or C", None),
    ("B/C", None),
    ("A, B, C and D are all plausible.", None),
    ("The answer is A or B", None),
    ("Answer: (a) or (b)", None),
    ("Answer: a, b, or c", None),
    ("Both A and B are plausible", None),
    ("The answer is not clear.", None),
    ("", None),
    ("   \n", None),
    ("Paris", None),
    ("Because the group is cyclic", None),
    ("The answer choices are A, B, C and D", None),
    # letters beyond the options
    ("E", None),
    ("Answer: E", None),
    ("Answer: C. Answer: F", "C"),
    ("Z. zebra", None),
]


@pytest.mark.parametrize(("text", "letter"), CHOICE_CASES)
def test_extract_choice_finds_the_letter_the_model_committed_to(
    text: str, letter: str | None
) -> None:
    assert extract_choice(text) == letter


LARGE_CHOICE_CASES = [
    ("I think it is B", None),
    ("I believe the answer is J", "J"),
    ("Answer: I think it is E", None),
    ("Answer: I", "I"),
    ("I.", "I"),
    ("(I)", "I"),
    ("I am not sure", None),
    ("E", "E"),
    ("Answer: J", "J"),
    ("Answer: K", None),
]


@pytest.mark.parametrize(("text", "letter"), LARGE_CHOICE_CASES)
def test_extract_choice_with_ten_options_does_not_take_the_pronoun_i(
    text: str, letter: str | None
) -> None:
    assert extract_choice(text, n_choices=10) == letter


@pytest.mark.parametrize(
    ("text", "n_choices", "letter"),
    [("C", 2, None), ("B", 2, "B"), ("Answer: A", 1, "A"), ("Z", 26, "Z")],
)
def test_extract_choice_ignores_letters_beyond_the_number_of_choices(
    text: str, n_choices: int, letter: str | None
) -> None:
    assert extract_choice(text, n_choices) == letter


@pytest.mark.parametrize("n_choices", [0, -1, 27])
def test_extract_choice_refuses_an_impossible_number_of_choices(n_choices: int) -> None:
    with pytest.raises(ValueError, match="n_choices"):
        extract_choice("A", n_choices)


# --- normalise_number ------------------------------------------------------------

NORMALISE_CASES = [
    ("1000", "1000"),
    ("$1,000", "1000"),
    ("1,000.00", "1000"),
    ("2,125", "2125"),
    ("1,450,000", "1450000"),
    ("-3", "-3"),
    ("+3", "3"),
    ("\u22123", "-3"),
    ("-$5", "-5"),
    ("72.", "72"),
    ("2.50", "2.5"),
    ("0.50", "0.5"),
    (".5", "0.5"),
    ("007", "7"),
    ("0", "0"),
    ("-0", "0"),
    ("-0.00", "0"),
    ("50%", "50"),
    ("\u20ac12", "12"),
    ("  18 \n", "18"),
    ("123456789012345678901234567890.5", "123456789012345678901234567890.5"),
    ("1e3", None),
    ("1,00", None),
    ("1,0000", None),
    ("12,34.5", None),
    ("", None),
    ("-", None),
    (".", None),
    ("$", None),
    ("abc", None),
    ("18 dollars", None),
    ("1 000", None),
    ("\u0663", None),
    ("nan", None),
    ("Infinity", None),
]


@pytest.mark.parametrize(("text", "number"), NORMALISE_CASES)
def test_normalise_number_gives_the_canonical_form_or_none(
    text: str, number: str | None
) -> None:
    assert normalise_number(text) == number


# --- extract_number --------------------------------------------------------------

EXTRACT_NUMBER_CASES = [
    ("18", "18"),
    ("She makes 9 * 2 = $18 every day.\n#### 18", "18"),
    ("#### 2,125", "2125"),
    ("####-3", "-3"),
    # the last answer marker wins, "####" or a statement alike: a model that
    # corrects itself ends with the answer it commits to
    ("#### 5\nThe answer is 7.", "7"),
    ("#### 18\nAnswer: 20", "20"),
    ("Answer: 20\n#### 18", "18"),
    ("#### 18\n#### 20", "20"),
    ("#### 18\nAnswer: twenty", "18"),
    ("#### 18\nso 20 in all", "18"),
    ("Answer: 18", "18"),
    ("Answer: $1,000.00", "1000"),
    ("The answer is 42. Total 50 eggs.", "42"),
    ("The final answer is $18", "18"),
    ("The answer is: -7", "-7"),
    ("answer = 3.5", "3.5"),
    ("**Answer:** 12", "12"),
    ("Final Answer: \\boxed{42}", "42"),
    ("Answer: 5\nAnswer: 6", "6"),
    ("16 - 3 - 4 = 9 eggs, 9 * 2 = 18", "18"),
    ("It costs $1,200 in total.", "1200"),
    ("The temperature fell to -4 degrees.", "-4"),
    ("Pages 10-12", "12"),
    ("x2 plus y", None),
    ("She has 3.5 apples.", "3.5"),
    ("The result is 72.", "72"),
    ("That is 50% of it", "50"),
    ("1e3", None),
    ("About 2E-5 of it", None),
    ("No numbers here.", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "number"), EXTRACT_NUMBER_CASES)
def test_extract_number_finds_the_final_numeric_answer(
    text: str, number: str | None
) -> None:
    assert extract_number(text) == number


def test_extraction_stays_fast_on_long_adversarial_output() -> None:
    texts = [
        "answer" + " " * 200_000,
        "answer is " * 20_000,
        "1" * 200_000,
        "1," * 100_000,
        "A" + " " * 200_000 + "x",
        "(" * 100_000,
        "-" * 100_000 + "1",
    ]
    started = time.perf_counter()

    for text in texts:
        extract_choice(text, 26)
        extract_number(text)
        normalise_number(text)

    assert time.perf_counter() - started < 5


# --- score_answer ----------------------------------------------------------------

SCORE_CASES = [
    ("choice", "B", "B", True),
    ("choice", "B", "b", True),
    ("choice", "B", "C", False),
    ("choice", "B", None, False),
    ("number", "1000", "1000", True),
    ("number", "1000", "1,000", True),
    ("number", "1000", "1000.00", True),
    ("number", "2.5", "2.50", True),
    ("number", "-3", "-3", True),
    ("number", "-3", "3", False),
    ("number", "0.1", "0.10000000000000001", False),
    ("number", "18", None, False),
    ("number", "18", "eighteen", False),
    ("number", "not a number", "18", False),
    ("text", "Paris", "paris", True),
    ("text", "New York City", "  new   york\ncity ", True),
    ("text", "Paris", "Paris, France", False),
    ("text", "Paris", None, False),
    ("text", "Stra\u00dfe", "STRASSE", True),
]


@pytest.mark.parametrize(
    ("answer_type", "expected", "extracted", "correct"), SCORE_CASES
)
def test_score_answer_compares_by_answer_type(
    answer_type: str, expected: str, extracted: str | None, correct: bool
) -> None:
    assert score_answer(answer_type, expected, extracted) is correct


def test_a_reply_that_corrects_its_gsm8k_line_is_scored_on_its_final_answer() -> None:
    # The user trial: the prompt asks for a final "Answer:" line, and the model
    # wrote one after a "####" line it had copied from GSM8K.
    assert score_answer("number", "20", extract_number("#### 18\nAnswer: 20"))
    assert not score_answer("number", "20", extract_number("Answer: 20\n#### 18"))


def test_score_answer_refuses_an_unknown_answer_type() -> None:
    with pytest.raises(ValueError, match="unknown answer type"):
        score_answer("essay", "x", "x")
