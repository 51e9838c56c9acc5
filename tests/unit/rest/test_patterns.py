"""JSON Schema patterns keep ECMA-262's `$`: the end of the input, not a newline."""

from __future__ import annotations

import pytest

from app.rest.validation import SchemaValidator, ecma_pattern

USERNAME = "^[A-Za-z0-9._@-]+$"


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (USERNAME, "admin", True),
        (USERNAME, "admin\n", False),  # Python's $ alone would accept it
        (r"^\$[0-9]+$", "$5", True),  # an escaped $ stays a dollar sign
        ("^[$]+$", "$$", True),  # so does one in a character class
        ("^[$]+$", "$$\n", False),
        ("a|b$", "xa", True),  # unanchored alternatives keep search semantics
    ],
)
def test_dollar_is_the_end_of_the_input(pattern: str, text: str, matches: bool) -> None:
    assert bool(ecma_pattern(pattern).search(text)) is matches


def test_the_validator_refuses_a_name_with_a_trailing_newline() -> None:
    validator = SchemaValidator({"type": "string", "pattern": USERNAME})

    (error,) = validator.iter_errors("admin\n")

    assert error.message == f"'admin\\n' does not match '{USERNAME}'"
    assert list(validator.iter_errors("admin")) == []
