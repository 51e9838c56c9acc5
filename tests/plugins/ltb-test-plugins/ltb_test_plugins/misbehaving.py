"""Evaluator plugins that fail in each way a plugin can, and two that behave."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

TEXT_INPUT: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string"}},
}


class _Evaluator:
    version = "0.1.0"
    plugin_type = "evaluator"
    description = "Misbehaves on purpose (tests only)."
    input_schema = TEXT_INPUT


class Raises(_Evaluator):
    name = "test-raises"

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        raise ValueError(f"cannot score a text of {len(input['text'])} characters")


class Sleeps(_Evaluator):
    name = "test-sleeps"

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        time.sleep(120)
        return {"score": 1.0}


class Exits(_Evaluator):
    name = "test-exits"

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        os._exit(3)


class Prints(_Evaluator):
    """Writes garbage to stdout every way it can, then answers properly."""

    name = "test-prints"

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        print("garbage {not json")
        sys.__stdout__.write("more garbage\n")
        os.write(1, b"\x00\xff raw garbage\n")
        return {"score": 0.25, "length": len(input["text"])}


class NotJson(_Evaluator):
    name = "test-not-json"

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        return {"score": 0.5, "words": {"a", "set"}}


class HugeOutput(_Evaluator):
    name = "test-huge-output"

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        return {"score": 0.5, "blob": "x" * (4 * 1024 * 1024)}


class NoScore(_Evaluator):
    name = "test-no-score"

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        return {"score": 1.5}


class _Echo:
    name = "test-echo"
    version = "0.1.0"
    plugin_type = "dataset"
    description = "Returns its input (a factory-made plugin that is no evaluator)."
    input_schema = {"type": "object"}

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        return {"echo": input}


def make_echo() -> _Echo:
    return _Echo()


class BadManifest(_Evaluator):
    name = "test-bad-manifest"
    plugin_type = "widget"
    input_schema = {"type": "no-such-type"}

    def execute(self, input: dict[str, Any]) -> dict[str, Any]:
        return {"score": 1.0}
