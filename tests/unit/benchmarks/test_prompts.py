"""Unit tests for the prompts built from dataset items."""

from __future__ import annotations

import pytest

from app.benchmarks.extraction import extract_choice, extract_number
from app.benchmarks.prompts import PROMPT_TEMPLATE_VERSION, build_prompt
from app.datasets.formats import DatasetItem


def _item(
    answer_type: str,
    input: str = "What is 2 + 2?",
    choices: list[str] | None = None,
) -> DatasetItem:
    return DatasetItem(
        key="k/0",
        input=input,
        expected="B",
        choices=choices,
        answer_type=answer_type,
        subject=None,
    )


def test_the_prompt_template_version_is_one() -> None:
    assert PROMPT_TEMPLATE_VERSION == "1"


def test_a_choice_prompt_lists_the_options_by_letter_and_asks_for_answer_x() -> None:
    item = _item("choice", " What is 2 + 2?\n", ["3", "4", " 5 ", "22"])

    assert build_prompt(item) == (
        "What is 2 + 2?\n"
        "\n"
        "A. 3\n"
        "B. 4\n"
        "C. 5\n"
        "D. 22\n"
        "\n"
        "Reply with the letter of the correct option only, in the form 'Answer: X'."
    )


def test_a_choice_prompt_with_two_options_stops_at_b() -> None:
    prompt = build_prompt(_item("choice", "True or false?", ["True", "False"]))

    assert "A. True\nB. False\n" in prompt
    assert "C." not in prompt


def test_a_number_prompt_asks_for_a_final_answer_line() -> None:
    item = _item("number", "Janet has 3 ducks. How many ducks?")

    assert build_prompt(item) == (
        "Janet has 3 ducks. How many ducks?\n"
        "\n"
        "Solve the problem and end your reply with a final line of the form "
        "'Answer: <number>'."
    )


def test_a_text_prompt_is_the_question_alone() -> None:
    assert build_prompt(_item("text", "  Capital of France?\n")) == "Capital of France?"


@pytest.mark.parametrize(
    ("reply", "letter"), [("Answer: B", "B"), ("Answer: X", None), ("B", "B")]
)
def test_a_reply_in_the_form_a_choice_prompt_asks_for_is_extracted(
    reply: str, letter: str | None
) -> None:
    assert extract_choice(reply, 4) == letter


def test_a_reply_in_the_form_a_number_prompt_asks_for_is_extracted() -> None:
    assert extract_number("3 + 1 = 4 ducks... wait, 3 ducks.\nAnswer: 3") == "3"


@pytest.mark.parametrize("choices", [None, [], [str(i) for i in range(27)]])
def test_a_choice_item_without_usable_choices_is_refused(
    choices: list[str] | None,
) -> None:
    with pytest.raises(ValueError, match="choices"):
        build_prompt(_item("choice", choices=choices))


def test_an_item_of_unknown_answer_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown answer type"):
        build_prompt(_item("essay"))
