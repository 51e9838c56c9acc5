"""The prompts a benchmark sends for a dataset item, one short template per type."""

from __future__ import annotations

from app.datasets.formats import DatasetItem

# Stored with results so scores name the wording they were measured with: change it
# whenever any text below changes.
PROMPT_TEMPLATE_VERSION = "1"

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Short on purpose: a 135M-parameter model has to follow these, and the extraction
# rules look first for exactly the "Answer: ..." line asked for here.
_CHOICE_INSTRUCTION = (
    "Reply with the letter of the correct option only, in the form 'Answer: X'."
)
_NUMBER_INSTRUCTION = (
    "Solve the problem and end your reply with a final line of the form "
    "'Answer: <number>'."
)


def build_prompt(item: DatasetItem) -> str:
    """Return the prompt text for one dataset item."""
    question = item.input.strip()
    if item.answer_type == "choice":
        if not item.choices or len(item.choices) > len(_LETTERS):
            raise ValueError(f"choice item {item.key!r} needs 1 to 26 choices")
        options = "\n".join(
            f"{letter}. {choice.strip()}"
            for letter, choice in zip(_LETTERS, item.choices, strict=False)
        )
        return f"{question}\n\n{options}\n\n{_CHOICE_INSTRUCTION}"
    if item.answer_type == "number":
        return f"{question}\n\n{_NUMBER_INSTRUCTION}"
    if item.answer_type == "text":
        return question
    raise ValueError(f"item {item.key!r} has unknown answer type {item.answer_type!r}")


def template_texts() -> dict[str, str]:
    """The template of each answer type, with its placeholders, for run manifests."""
    return {
        "choice": f"{{question}}\n\n{{options}}\n\n{_CHOICE_INSTRUCTION}",
        "number": f"{{question}}\n\n{_NUMBER_INSTRUCTION}",
        "text": "{question}",
    }
