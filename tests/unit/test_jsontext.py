"""jsontext.loads: JSON as RFC 8259 has it, with a limit on nesting."""

from __future__ import annotations

import pytest

from app import jsontext


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("value", "levels"),
    [(1, 0), ([], 1), ({"a": [1, {"b": []}]}, 4), ([[1], [[2], 3]], 3)],
)
def test_depth_counts_arrays_and_objects(value: object, levels: int) -> None:
    assert jsontext.depth(value) == levels


def test_the_deepest_nesting_allowed_is_read() -> None:
    assert jsontext.depth(jsontext.loads(nested(jsontext.MAX_DEPTH))) == 64


@pytest.mark.parametrize("levels", [jsontext.MAX_DEPTH + 1, 500, 100_000])
def test_deeper_nesting_is_refused_whether_or_not_the_parser_recursed_out(
    levels: int,
) -> None:
    # 500 levels parse, then break whatever walks them; 100,000 break the parser.
    with pytest.raises(jsontext.TooDeep, match="deeper than 64 levels"):
        jsontext.loads('{"x": ' + nested(levels - 1) + "}")
