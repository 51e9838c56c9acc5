"""Parsing JSON text as RFC 8259 defines it, for everything clients send.

Python's json module also reads ``NaN``, ``Infinity`` and ``-Infinity``, and turns
a number such as ``1e400`` into infinity. None of them is JSON: a NaN slips past
every ``minimum``/``maximum`` of the contract (any comparison with it is false),
and once stored it is written back as ``NaN``, which breaks every client that
then reads the list holding it. They are refused where they are read.

Nesting is limited too (RFC 8259 section 9 lets a parser set that limit). Every
layer after the parser (schema validation, the NUL check, GraphQL variables,
storage) walks values recursively; a few hundred levels of ``[[[...]]]`` in a
small body would exhaust Python's recursion limit in one of them.
"""

from __future__ import annotations

import json
import math
from typing import Any

# No message or body of our interfaces nests deeper than a dozen levels; plugin
# inputs and metric parameters are the only free-form JSON, and get room to spare.
MAX_DEPTH = 64


class NonFiniteNumber(ValueError):
    """A number JSON cannot carry: NaN, an infinity, or one beyond a double's range."""


class TooDeep(ValueError):
    """Arrays and objects nested deeper than MAX_DEPTH."""


def loads(text: str | bytes) -> Any:
    """json.loads, refusing NaN, Infinity, out-of-range numbers and deep nesting."""
    try:
        value = json.loads(text, parse_constant=_refuse, parse_float=_finite_float)
    except RecursionError:
        # The parser itself recurses: thousands of levels end here.
        raise TooDeep(_TOO_DEEP) from None
    if depth(value) > MAX_DEPTH:
        raise TooDeep(_TOO_DEEP)
    return value


def depth(value: Any) -> int:
    """How many arrays and objects deep value nests (0 for a scalar); no recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        current, level = pending.pop()
        if isinstance(current, dict):
            children = list(current.values())
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in children)
    return deepest


_TOO_DEEP = f"arrays and objects nest deeper than {MAX_DEPTH} levels"


def _refuse(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"{text[:40]} is beyond the range of a JSON number")
    return value
