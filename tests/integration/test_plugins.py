"""/v1/plugins against the example plugin and the misbehaving test plugins.

Both packages (plugins/ltb-example-plugin, tests/plugins/ltb-test-plugins) are
installed by the test environment; every misbehaviour must leave the server
answering /health.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from app.events.bus import Event
from app.events.topics import Topic
from tests.integration.conftest import Server
from tests.support.plugins import requires_test_plugins

pytestmark = requires_test_plugins

TIME_LIMIT_S = 2.0
EXAMPLE = "keyword-coverage"
PLUGIN_NAMES = [
    "keyword-coverage",
    "test-bad-manifest",
    "test-echo",
    "test-exits",
    "test-huge-output",
    "test-import-exits",
    "test-import-raises",
    "test-no-score",
    "test-not-json",
    "test-prints",
    "test-raises",
    "test-sleeps",
]


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    """A server whose plugins may run for TIME_LIMIT_S seconds."""
    return make_server(settings_options={"plugin_time_limit_s": TIME_LIMIT_S})


def plugin_named(server: Server, name: str) -> dict[str, Any]:
    """The list entry of the plugin with this name."""
    response = server.client.get(
        "/v1/plugins", params={"page_size": 100}, headers=server.auth
    )
    assert response.status_code == 200, response.text
    return next(item for item in response.json()["items"] if item["name"] == name)


def execute(server: Server, name: str, plugin_input: dict[str, Any], **kw: Any) -> Any:
    """POST /v1/plugins/{id}/execute for the plugin with this name."""
    plugin_id = plugin_named(server, name)["id"]
    headers = kw.pop("headers", server.auth)
    return server.client.post(
        f"/v1/plugins/{plugin_id}/execute",
        json={"input": plugin_input},
        headers=headers,
    )


def assert_healthy(server: Server) -> None:
    started = time.monotonic()
    response = server.client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert time.monotonic() - started < 1.0


def test_the_list_is_paginated_by_name_with_true_statuses(server: Server) -> None:
    first = server.client.get(
        "/v1/plugins", params={"page": 1, "page_size": 5}, headers=server.auth
    ).json()
    third = server.client.get(
        "/v1/plugins", params={"page": 3, "page_size": 5}, headers=server.auth
    ).json()

    assert first["total"] == len(PLUGIN_NAMES)
    assert (first["page"], first["page_size"], first["total_pages"]) == (1, 5, 3)
    assert [item["name"] for item in first["items"]] == PLUGIN_NAMES[:5]
    assert [item["name"] for item in third["items"]] == PLUGIN_NAMES[10:]
    assert first["items"][0] == {
        "id": first["items"][0]["id"],
        "name": "keyword-coverage",
        "version": "1.0.0",
        "plugin_type": "evaluator",
        "status": "ready",
        "enabled": True,
    }
    statuses = {item["name"]: item["status"] for item in first["items"]}
    assert statuses["test-bad-manifest"] == "failed"
    assert statuses["test-echo"] == "ready"


def test_ids_are_the_same_in_every_server(
    server: Server, make_server: Callable[..., Server]
) -> None:
    other = make_server(data_dir=server.settings.data_dir.parent / "other")

    assert plugin_named(other, EXAMPLE)["id"] == plugin_named(server, EXAMPLE)["id"]


def test_get_shows_the_manifest_and_why_a_plugin_failed(server: Server) -> None:
    example = server.client.get(
        f"/v1/plugins/{plugin_named(server, EXAMPLE)['id']}", headers=server.auth
    ).json()
    broken = server.client.get(
        f"/v1/plugins/{plugin_named(server, 'test-import-raises')['id']}",
        headers=server.auth,
    ).json()
    exits = plugin_named(server, "test-import-exits")

    assert example["description"].startswith("Scores a text")
    assert example["input_schema"]["required"] == ["text", "keywords"]
    assert example["reason"] is None
    assert example["distribution"] == "ltb-example-plugin"
    assert broken["status"] == "failed"
    assert broken["plugin_type"] is None
    assert broken["input_schema"] is None
    assert broken["version"] == "0.1.0"  # the package's
    assert broken["reason"] == (
        "import failed: RuntimeError: this plugin cannot be imported"
    )
    assert exits["status"] == "failed"


def test_an_unknown_plugin_is_not_found(server: Server) -> None:
    response = server.client.get("/v1/plugins/nope", headers=server.auth)

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Plugin 'nope' not found"


def test_the_example_plugin_scores_keyword_coverage(server: Server) -> None:
    response = execute(
        server,
        EXAMPLE,
        {
            "text": "Paris is the capital of France. Lyon is not.",
            "keywords": ["paris", "France", "Berlin", "capital city"],
        },
        headers={**server.auth, "X-Request-ID": "plugin-run-1"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["output"] == {
        "score": 0.5,
        "found": ["paris", "France"],
        "missing": ["Berlin", "capital city"],
        "details": "2 of 4 keywords found",
    }
    assert body["request_id"] == "plugin-run-1"
    assert 0 < body["execution_time_ms"] < TIME_LIMIT_S * 1000


def test_an_input_against_the_schema_is_refused_naming_every_field(
    server: Server,
) -> None:
    response = execute(server, EXAMPLE, {"keywords": [], "case_sensitive": "yes"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST"
    assert sorted(e["field"] for e in error["details"]["errors"]) == [
        "input.case_sensitive",
        "input.keywords",
        "input.text",
    ]
    assert_healthy(server)


def test_a_plugin_that_raises_is_a_422_with_its_exception(server: Server) -> None:
    response = execute(server, "test-raises", {"text": "four"})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST"
    assert error["message"] == (
        "Plugin 'test-raises' raised ValueError: cannot score a text of 4 characters"
    )
    assert error["details"]["reason"] == "raised"
    assert error["details"]["error_type"] == "ValueError"
    assert_healthy(server)


def test_a_plugin_past_its_time_limit_is_killed_while_health_answers(
    server: Server,
) -> None:
    plugin_id = plugin_named(server, "test-sleeps")["id"]
    results: list[Any] = []

    def run() -> None:
        results.append(
            server.client.post(
                f"/v1/plugins/{plugin_id}/execute",
                json={"input": {"text": "zzz"}},
                headers=server.auth,
            )
        )

    started = time.monotonic()
    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.5)
    assert_healthy(server)  # during the execution
    worker.join(30)
    elapsed = time.monotonic() - started

    response = results[0]
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"] == {
        "plugin_id": plugin_id,
        "reason": "timeout",
        "time_limit_s": TIME_LIMIT_S,
    }
    assert TIME_LIMIT_S <= elapsed < TIME_LIMIT_S + 5
    assert_healthy(server)


@pytest.mark.parametrize(
    ("name", "status", "reason", "message"),
    [
        (
            "test-exits",
            502,
            "crashed",
            "Plugin 'test-exits' process exited with code 3",
        ),
        ("test-not-json", 502, "bad_output", "output is not JSON"),
        ("test-no-score", 502, "bad_output", "no score between 0 and 1"),
        ("test-huge-output", 502, "output_too_large", "more than the output limit"),
    ],
)
def test_a_plugin_that_breaks_is_a_clear_502(
    server: Server, name: str, status: int, reason: str, message: str
) -> None:
    response = execute(server, name, {"text": "x"})

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"]["reason"] == reason
    assert message in error["message"]
    assert_healthy(server)


def test_garbage_a_plugin_prints_does_not_reach_its_output(server: Server) -> None:
    response = execute(server, "test-prints", {"text": "abc"})

    assert response.status_code == 200, response.text
    assert response.json()["output"] == {"score": 0.25, "length": 3}


def test_a_plugin_that_failed_to_load_cannot_execute(server: Server) -> None:
    response = execute(server, "test-import-raises", {"text": "x"})

    assert response.status_code == 409
    assert response.json()["error"]["details"]["status"] == "failed"


def test_an_admin_disables_and_enables_a_plugin(server: Server) -> None:
    plugin_id = plugin_named(server, EXAMPLE)["id"]
    url = f"/v1/plugins/{plugin_id}"
    run_input = {"text": "Paris", "keywords": ["Paris"]}

    disabled = server.client.patch(url, json={"enabled": False}, headers=server.auth)
    refused = execute(server, EXAMPLE, run_input)
    listed = plugin_named(server, EXAMPLE)
    enabled = server.client.patch(url, json={"enabled": True}, headers=server.auth)
    works = execute(server, EXAMPLE, run_input)
    audit = server.client.get(
        "/v1/audit-log", params={"page_size": 100}, headers=server.auth
    ).json()["items"]

    assert disabled.status_code == 200
    assert (disabled.json()["status"], disabled.json()["enabled"]) == (
        "disabled",
        False,
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "Plugin 'keyword-coverage' is disabled; an admin can enable it"
    )
    assert listed["status"] == "disabled"
    assert enabled.json()["status"] == "ready"
    assert works.status_code == 200
    assert works.json()["output"]["score"] == 1.0
    plugin_actions = [e["action"] for e in audit if e["target"] == plugin_id]
    assert plugin_actions == ["plugin.enabled", "plugin.disabled"]  # newest first


def test_a_disabled_plugin_stays_disabled_after_a_restart(
    server: Server, make_server: Callable[..., Server]
) -> None:
    plugin_id = plugin_named(server, EXAMPLE)["id"]
    server.client.patch(
        f"/v1/plugins/{plugin_id}", json={"enabled": False}, headers=server.auth
    )

    restarted = make_server(data_dir=server.settings.data_dir)

    assert plugin_named(restarted, EXAMPLE)["status"] == "disabled"


def test_viewers_read_plugins_but_neither_execute_nor_change_them(
    server: Server,
) -> None:
    runtime = server.client.app.app.extensions["ltb"]
    runtime.auth.create_user("plugin-viewer", "plugin-viewer-password", "viewer")
    viewer = server.login("plugin-viewer", "plugin-viewer-password")
    plugin_id = plugin_named(server, EXAMPLE)["id"]

    listed = server.client.get("/v1/plugins", headers=viewer)
    executed = execute(
        server, EXAMPLE, {"text": "a", "keywords": ["a"]}, headers=viewer
    )
    patched = server.client.patch(
        f"/v1/plugins/{plugin_id}", json={"enabled": False}, headers=viewer
    )

    assert listed.status_code == 200
    assert executed.status_code == 403
    assert patched.status_code == 403
    assert plugin_named(server, EXAMPLE)["status"] == "ready"


def test_lifecycle_and_failures_are_published_on_plugin_events(
    server: Server,
) -> None:
    runtime = server.client.app.app.extensions["ltb"]
    seen: list[Event] = []
    stop = runtime.events.listen(seen.append)
    plugin_id = plugin_named(server, EXAMPLE)["id"]

    runtime.plugins.announce()
    server.client.patch(
        f"/v1/plugins/{plugin_id}", json={"enabled": False}, headers=server.auth
    )
    server.client.patch(
        f"/v1/plugins/{plugin_id}", json={"enabled": True}, headers=server.auth
    )
    execute(server, EXAMPLE, {"text": "secret prompt", "keywords": ["prompt"]})
    execute(server, "test-raises", {"text": "x"})
    deadline = time.monotonic() + 5
    while len(seen) < len(PLUGIN_NAMES) + 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop()

    events = [e.data for e in seen if e.topic == Topic.PLUGIN_EVENTS]
    loaded = {e["name"]: e["status"] for e in events if e["event"] == "loaded"}
    assert loaded == {
        name: (
            "failed"
            if name in {"test-bad-manifest", "test-import-exits", "test-import-raises"}
            else "ready"
        )
        for name in PLUGIN_NAMES
    }
    later = [(e["name"], e["event"], e["status"]) for e in events[len(loaded) :]]
    assert later == [
        (EXAMPLE, "disabled", "disabled"),
        (EXAMPLE, "enabled", "ready"),
        (EXAMPLE, "executed", "ready"),
        ("test-raises", "execution_failed", "ready"),
    ]
    assert events[-1]["reason"] == "raised"
    assert all("secret prompt" not in e.payload for e in seen)
