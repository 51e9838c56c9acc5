"""The WebSocket contract itself: a valid AsyncAPI 3.0 document with valid examples.

The official AsyncAPI parser (npm, locked in tests/specs/asyncapi/) validates the
document against the AsyncAPI 3.0 JSON Schema and its semantic rules. ``tox -e
specs`` installs it; elsewhere the test that needs it skips.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.asyncapi import (
    ASYNCAPI_PATH,
    CLIENT_MESSAGES,
    EVENT_SCHEMAS,
    SERVER_MESSAGES,
    document,
    schema_validator,
)

VALIDATOR_DIR = Path(__file__).resolve().parent / "asyncapi"


def run_parser(path: Path) -> dict[str, Any]:
    """The parser's verdict on a document: {"valid": bool, "findings": [...]}."""
    installed = (VALIDATOR_DIR / "node_modules" / "@asyncapi" / "parser").is_dir()
    if not installed or shutil.which("node") is None:
        if os.environ.get("LTB_ASYNCAPI_PARSER") == "installed":
            pytest.fail("tox -e specs installed the AsyncAPI parser, but it is missing")
        pytest.skip("the AsyncAPI parser is installed by tox -e specs")
    result = subprocess.run(
        ["node", str(VALIDATOR_DIR / "validate.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout, result.stderr
    verdict: dict[str, Any] = json.loads(result.stdout)
    return verdict


def test_document_is_valid_asyncapi_3_0() -> None:
    assert document()["asyncapi"] == "3.0.0"
    verdict = run_parser(ASYNCAPI_PATH)
    problems = [f for f in verdict["findings"] if f["severity"] in {"error", "warning"}]
    assert verdict["valid"], verdict["findings"]
    assert not problems, problems


def test_the_parser_finds_a_broken_copy_invalid(tmp_path: Path) -> None:
    # Proof that the validator checks something: an operation without a channel
    # and a message reference to nowhere must both be reported.
    broken = copy.deepcopy(document())
    del broken["operations"]["subscribe"]["channel"]
    broken["channels"]["live"]["messages"]["ack"] = {
        "$ref": "#/components/messages/Nowhere"
    }
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    verdict = run_parser(path)
    assert not verdict["valid"]
    assert any(f["severity"] == "error" for f in verdict["findings"])


def test_every_example_is_a_valid_message() -> None:
    messages = document()["components"]["messages"]
    checked = 0
    for name, message in messages.items():
        schema = message["payload"]["$ref"].rsplit("/", 1)[-1]
        assert message.get("examples"), f"message {name} has no example"
        for example in message["examples"]:
            errors = list(schema_validator(schema).iter_errors(example["payload"]))
            assert not errors, f"{name}/{example['name']}: {errors[0].message}"
            checked += 1
    assert checked >= len(messages)


def test_every_message_and_topic_is_in_the_channel() -> None:
    doc = document()
    in_channel = {
        ref["$ref"].rsplit("/", 1)[-1]
        for ref in doc["channels"]["live"]["messages"].values()
    }
    assert in_channel == set(doc["components"]["messages"])
    schemas = {
        m["payload"]["$ref"].rsplit("/", 1)[-1]
        for m in doc["components"]["messages"].values()
    }
    expected = {*CLIENT_MESSAGES, *SERVER_MESSAGES, *EVENT_SCHEMAS.values()}
    assert schemas == expected
    topics = doc["components"]["schemas"]["Topic"]["enum"]
    assert set(topics) == set(EVENT_SCHEMAS)


def test_invalid_messages_are_refused_by_the_schemas() -> None:
    # The schemas are strict enough to catch what the server refuses.
    refused = {
        "Subscribe": [
            {"type": "subscribe", "topics": []},
            {"type": "subscribe", "topics": ["nope"]},
            {"type": "subscribe", "topics": ["request.logs"], "extra": 1},
        ],
        "Auth": [
            {"type": "auth"},
            {"type": "auth", "token": "a", "api_key": "b"},
        ],
        "Ping": [{"type": "ping", "timestamp": -1}],
        "BenchmarkProgressEvent": [
            {
                "type": "event",
                "topic": "benchmark.progress",
                "data": {"benchmark_id": "x", "progress": 1.5},
                "timestamp": 1,
            }
        ],
    }
    for schema, messages in refused.items():
        for message in messages:
            assert not schema_validator(schema).is_valid(message), (schema, message)
