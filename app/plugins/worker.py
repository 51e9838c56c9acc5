"""The program that loads and runs plugin code, in a process of its own.

The server starts ``python -P worker.py`` and writes one JSON request to its stdin;
the worker answers with JSON lines. Plugin code may print, so before any of it is
imported the worker keeps a private copy of stdout for its answers and points file
descriptor 1 (and ``sys.stdout``) at stderr, which the server reads only as a short
diagnostic tail. Standard library only: this file must start fast and import
nothing of the server.

Requests and answers (one JSON object per line):

- ``{"op": "manifest", "path": [...], "entry_points": [{"name", "value"}, ...]}``:
  for each entry point, ``{"loading": i}`` then ``{"index": i, "manifest": {...}}``
  or ``{"index": i, "failure": "..."}``; finally ``{"done": true}``.
- ``{"op": "execute", "path": [...], "entry_point": {...}, "input": {...}}``:
  ``{"output": {...}}``, ``{"raised": {"type", "message"}}`` or
  ``{"bad_output": "..."}``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from importlib.metadata import EntryPoint
from typing import Any, TextIO

GROUP = "llm_test_bench.plugins"
MANIFEST_FIELDS = ("name", "version", "plugin_type", "description", "input_schema")
MAX_MESSAGE_CHARS = 1000


def main() -> int:
    """Read the request, answer it, exit 0 (plugin failures are answers too)."""
    request = json.loads(sys.stdin.buffer.read())
    answers = _private_stdout()
    sys.path[:] = request["path"]

    if request["op"] == "manifest":
        for index, entry_point in enumerate(request["entry_points"]):
            _answer(answers, {"loading": index})
            _answer(answers, {"index": index, **_manifest_of(entry_point)})
        _answer(answers, {"done": True})
    else:
        _answer(answers, _execute(request["entry_point"], request["input"]))
    return 0


def _private_stdout() -> TextIO:
    # From here on, whatever plugin code prints lands on stderr, not in our answers.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return answers


def _answer(answers: TextIO, message: dict[str, Any]) -> None:
    answers.write(json.dumps(message, allow_nan=False) + "\n")
    answers.flush()


def _load(entry_point: dict[str, str]) -> Any:
    found = EntryPoint(entry_point["name"], entry_point["value"], GROUP).load()
    # A class or a factory function stands for the plugin object it makes.
    if isinstance(found, type) or (not hasattr(found, "execute") and callable(found)):
        found = found()
    return found


def _manifest_of(entry_point: dict[str, str]) -> dict[str, Any]:
    try:
        plugin = _load(entry_point)
    except BaseException as e:  # SystemExit on import is a failure too
        return {"failure": f"import failed: {_describe(e)}"}
    missing = [field for field in MANIFEST_FIELDS if not hasattr(plugin, field)]
    if missing:
        return {"failure": f"manifest lacks {', '.join(missing)}"}
    if not callable(getattr(plugin, "execute", None)):
        return {"failure": "plugin has no callable execute(input)"}
    manifest = {field: getattr(plugin, field) for field in MANIFEST_FIELDS}
    try:
        json.dumps(manifest, allow_nan=False)
    except (TypeError, ValueError) as e:
        return {"failure": f"manifest is not JSON: {e}"}
    return {"manifest": manifest}


def _execute(entry_point: dict[str, str], plugin_input: Any) -> dict[str, Any]:
    try:
        plugin = _load(entry_point)
        output = plugin.execute(plugin_input)
    except BaseException as e:  # sys.exit() in a plugin is a failure too
        traceback.print_exc()  # to stderr: the server logs its tail
        return {"raised": {"type": type(e).__name__, "message": _clip(str(e))}}
    try:
        json.dumps(output, allow_nan=False)
    except (TypeError, ValueError) as e:
        return {"bad_output": f"output is not JSON: {_clip(str(e))}"}
    return {"output": output}


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {_clip(str(error))}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "..."


if __name__ == "__main__":
    sys.exit(main())
