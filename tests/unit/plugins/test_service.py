"""PluginService: what the domain (metrics, transports) gets from plugins."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.errors import BadRequest, Conflict, NotFound
from app.events import EventBus
from app.plugins.discovery import EntryPointRef, discover
from app.plugins.failures import PluginRaised
from app.plugins.process import WorkerLimits
from app.plugins.service import PluginService
from app.store.database import Database
from tests.support.plugins import requires_test_plugins

LIMITS = WorkerLimits(time_limit_s=10, max_output_bytes=1_000_000)
REFS = [
    EntryPointRef(
        "keyword-coverage",
        "ltb_example_plugin:KeywordCoverage",
        "ltb-example-plugin",
        "1.0.0",
    ),
    EntryPointRef(
        "test-echo", "ltb_test_plugins.misbehaving:make_echo", "ltb-test-plugins", "0"
    ),
    EntryPointRef(
        "test-raises", "ltb_test_plugins.misbehaving:Raises", "ltb-test-plugins", "0"
    ),
]


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'plugins.sqlite3'}")
    db.upgrade()
    return db


@pytest.fixture
def service(database: Database) -> PluginService:
    return PluginService(database, EventBus(), discover(LIMITS, {}, REFS), LIMITS, {})


def test_without_plugins_the_list_is_empty(database: Database) -> None:
    empty = PluginService(database, EventBus(), [], LIMITS, {})

    assert empty.list_plugins(0, 20) == ([], 0)
    assert empty.ready_evaluators() == []


@requires_test_plugins
def test_ready_evaluators_are_the_metrics_plugins_offer(
    service: PluginService,
) -> None:
    names = [plugin["name"] for plugin in service.ready_evaluators()]

    assert names == ["keyword-coverage", "test-raises"]


@requires_test_plugins
def test_a_disabled_evaluator_is_no_longer_offered_or_executed(
    service: PluginService,
) -> None:
    (example, *_) = service.ready_evaluators()

    _, changed = service.set_enabled(example["id"], False, actor_id=None)

    assert changed
    assert [p["name"] for p in service.ready_evaluators()] == ["test-raises"]
    with pytest.raises(Conflict, match="is disabled"):
        service.execute(example["id"], {"text": "a", "keywords": ["a"]})
    assert service.set_enabled(example["id"], False, actor_id=None)[1] is False


@requires_test_plugins
def test_execute_async_scores_from_the_event_loop(service: PluginService) -> None:
    (example, *_) = service.ready_evaluators()

    execution = asyncio.run(
        service.execute_async(
            example["id"], {"text": "One two, three.", "keywords": ["two", "four"]}
        )
    )

    assert execution.output["score"] == 0.5
    assert execution.execution_time_ms > 0


@requires_test_plugins
def test_execute_refuses_unknown_plugins_invalid_input_and_reports_raises(
    service: PluginService,
) -> None:
    ids = {p["name"]: p["id"] for p in service.list_plugins(0, 10)[0]}

    with pytest.raises(NotFound, match="Plugin 'nope' not found"):
        service.execute("nope", {})
    with pytest.raises(BadRequest, match=r"Plugin input is invalid: input\.text"):
        service.execute(ids["keyword-coverage"], {"keywords": ["a"]})
    with pytest.raises(PluginRaised) as raised:
        service.execute(ids["test-raises"], {"text": "abc"})
    assert raised.value.status == 422
    assert raised.value.details["error_message"] == (
        "cannot score a text of 3 characters"
    )


@requires_test_plugins
def test_a_plugin_that_is_not_an_evaluator_may_answer_without_a_score(
    service: PluginService,
) -> None:
    ids = {p["name"]: p["id"] for p in service.list_plugins(0, 10)[0]}

    execution = service.execute(ids["test-echo"], {"anything": [1, 2]})

    assert execution.output == {"echo": {"anything": [1, 2]}}
