"""Parsing JSON text as RFC 8259 defines it, for everything clients send.

Python's json module also reads ``NaN``, ``Infinity`` and ``-Infinity``, and turns
a number such as ``1e400`` into infinity. None of them is JSON: a NaN slips past
every ``minimum``/``maximum`` of the contract (any comparison with it is false),
and once stored it is written back as ``NaN``, which breaks every client that
then reads the list holding it. They are refused where they are read.
"""

from __future__ import annotations

import json
import math
from typing import Any


class NonFiniteNumber(ValueError):
    """A number JSON cannot carry: NaN, an infinity, or one beyond a double's range."""


def loads(text: str | bytes) -> Any:
    """json.loads, refusing NaN, Infinity and numbers too large for a double."""
    return json.loads(text, parse_constant=_refuse, parse_float=_finite_float)


def _refuse(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"{text[:40]} is beyond the range of a JSON number")
    return value
