"""The results page: its session cookie, what it shows, and what it refuses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from app.pages.render import CONTENT_SECURITY_POLICY
from tests.integration.conftest import ADMIN_PASSWORD, Server
from tests.integration.test_benchmarks import all_cells, start_benchmark, wait_for
from tests.integration.test_datasets import mmlu_dev_files, upload
from tests.integration.test_websocket import connect, receive, send
from tests.support.results_page import parse_page, value

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def mmlu_server(server: Server, datasets_dir: Path) -> Server:
    response = upload(server, "mmlu", "mmlu-csv", mmlu_dev_files(datasets_dir))
    assert response.status_code == 201
    return server


@pytest.fixture
def finished(mmlu_server: Server) -> dict[str, Any]:
    created = start_benchmark(mmlu_server, iterations=12, concurrency=4)
    return wait_for(mmlu_server, created["benchmark_id"])[-1]


def page_login(
    server: Server, benchmark_id: str, password: str = ADMIN_PASSWORD
) -> Any:
    return server.client.post(
        f"/benchmarks/{benchmark_id}/login",
        content=f"username=admin&password={password}",
        headers=FORM,
        follow_redirects=False,
    )


def set_cookies(response: Any) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {
        header.split("=", 1)[0]: header
        for header in response.headers.get_list("set-cookie")
    }


def test_without_a_session_the_page_leads_to_the_login_form_and_reveals_nothing(
    finished: dict[str, Any], server: Server
) -> None:
    for path in (f"/benchmarks/{finished['benchmark_id']}", "/benchmarks/no-such-id"):
        # The API's bearer token is not a page session either.
        response = server.client.get(path, headers=server.auth, follow_redirects=False)
        form = server.client.get(response.headers["location"])

        assert response.status_code == 303
        assert response.headers["location"] == path + "/login"
        assert form.status_code == 200
        assert form.headers["content-type"].startswith("text/html")
        assert form.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert '<form method="post" action="' + path + '/login"' in form.text
        assert finished["name"] not in response.text + form.text


def test_the_login_form_posts_to_its_own_path_whatever_the_id(server: Server) -> None:
    # "?" and "#" in an id would start a query or a fragment of the form's action.
    form = server.client.get("/benchmarks/a%3Cb%3E%22%20%3F%23x/login")

    assert form.status_code == 200
    assert 'action="/benchmarks/a%3Cb%3E%22%20%3F%23x/login"' in form.text


def test_the_live_fragment_without_a_session_leads_to_the_form_too(
    finished: dict[str, Any], server: Server
) -> None:
    path = f"/benchmarks/{finished['benchmark_id']}"
    response = server.client.get(path + "/live", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == path + "/login"


def test_the_login_form_sets_strict_httponly_path_limited_cookies(
    finished: dict[str, Any], server: Server
) -> None:
    benchmark_id = finished["benchmark_id"]
    response = page_login(server, benchmark_id)

    cookies = set_cookies(response)
    assert response.status_code == 303
    assert response.headers["location"] == f"/benchmarks/{benchmark_id}"
    assert sorted(cookies) == ["ltb_page", "ltb_ws"]
    for name, path in (("ltb_page", "/benchmarks"), ("ltb_ws", "/ws")):
        attributes = cookies[name].lower()
        assert f"path={path};" in attributes + ";"
        assert "httponly" in attributes
        assert "samesite=strict" in attributes
        assert re.search(r"max-age=3[56]\d\d", attributes), attributes
    token = cookies["ltb_page"].split("=", 1)[1].split(";")[0]
    assert token not in response.text


def test_the_page_shows_the_results_of_the_api_with_its_charts(
    finished: dict[str, Any], server: Server
) -> None:
    benchmark_id = finished["benchmark_id"]
    page_login(server, benchmark_id)

    response = server.client.get(f"/benchmarks/{benchmark_id}")

    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-store"
    page = parse_page(response.text)
    assert page["status"] == "completed"
    targets = finished["results"]["targets"]
    assert sorted(page["table"]) == [t["target_index"] for t in targets]
    for t in targets:
        row = page["table"][t["target_index"]]
        assert value(row["items"]) == t["items"] == 12
        assert value(row["correct"]) == t["correct"]
        assert value(row["errors"]) == t["errors"]
        assert value(row["accuracy"]) == pytest.approx(t["accuracy"])
        assert value(row["latency_p50"]) == pytest.approx(t["latency_ms"]["p50"])
        assert value(row["latency_mean"]) == pytest.approx(t["latency_ms"]["mean"])
        assert value(row["cost_usd"]) == pytest.approx(t["cost_usd"])
    marks = page["marks"]
    bars = [m for m in marks["accuracy-chart"] if m["class"] == "bar"]
    assert [float(m["data-value"]) for m in bars] == [
        pytest.approx(t["accuracy"]) for t in targets
    ]
    # Every cell with a latency is in one bin of its target's histogram.
    cells = all_cells(server, benchmark_id)
    for t in targets:
        binned = sum(
            int(m["data-count"])
            for m in marks["latency-chart"]
            if m["data-target-index"] == str(t["target_index"])
        )
        assert binned == sum(
            1
            for c in cells
            if c["target_index"] == t["target_index"] and not c["error"]
        )
    points = [m for m in marks["cost-chart"] if m["tag"] == "circle"]
    assert [float(p["data-cost"]) for p in points] == [
        pytest.approx(t["cost_usd"]) for t in targets
    ]
    assert "/assets/benchmark.js" in response.text
    assert "Bearer" not in response.text and "ltb_page" not in response.text


def test_a_running_benchmark_shows_the_cells_stored_so_far(
    mmlu_server: Server,
) -> None:
    created = start_benchmark(mmlu_server, iterations=40, concurrency=1)
    benchmark_id = created["benchmark_id"]
    page_login(mmlu_server, benchmark_id)

    fragment = mmlu_server.client.get(f"/benchmarks/{benchmark_id}/live")
    state = wait_for(mmlu_server, benchmark_id)[-1]

    assert fragment.status_code == 200
    assert fragment.text.startswith('<section id="results"')
    page = parse_page(fragment.text)
    assert page["status"] in {"pending", "running", "completed"}
    shown = sum(int(value(row["items"]) or 0) for row in page["table"].values())
    assert shown <= state["completed_cells"]
    # Once finished, the fragment is the completed results.
    final = parse_page(mmlu_server.client.get(f"/benchmarks/{benchmark_id}/live").text)
    assert final["status"] == "completed"
    assert {i: value(r["correct"]) for i, r in final["table"].items()} == {
        t["target_index"]: t["correct"] for t in state["results"]["targets"]
    }


def test_an_unknown_benchmark_is_a_404_page_for_a_signed_in_user(
    server: Server,
) -> None:
    # An id holding markup: the page names it, escaped.
    path = "/benchmarks/%3Cb%3E%22no%26such%22"
    signed_in = page_login(server, '<b>"no&such"')

    page = server.client.get(path)
    fragment = server.client.get(path + "/live")
    api = server.client.get(
        path.replace("/benchmarks", "/v1/benchmarks"), headers=server.auth
    )

    assert signed_in.status_code == 303
    for response in (page, fragment):
        assert response.status_code == 404
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["cache-control"] == "no-store"
        assert (
            '<p id="missing">There is no benchmark with the id '
            "<code>&lt;b&gt;&#34;no&amp;such&#34;</code>.</p>"
        ) in response.text
        assert "<b>" not in response.text
    # The JSON API keeps its envelope.
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "NOT_FOUND"


def test_the_page_cookie_is_not_a_credential_of_the_json_api(
    finished: dict[str, Any], server: Server
) -> None:
    benchmark_id = finished["benchmark_id"]
    cookies = set_cookies(page_login(server, benchmark_id))
    token = cookies["ltb_page"].split("=", 1)[1].split(";")[0]

    # Whatever the path the browser would send it to, /v1 never reads it.
    for path in (f"/v1/benchmarks/{benchmark_id}", "/v1/benchmarks"):
        response = server.client.get(
            path, headers={"Cookie": f"ltb_page={token}; ltb_ws={token}"}
        )
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_wrong_password_gets_the_form_again_and_no_cookie(
    finished: dict[str, Any], server: Server
) -> None:
    benchmark_id = finished["benchmark_id"]
    response = page_login(server, benchmark_id, password="wrong-password-1")
    form = server.client.get(response.headers["location"])

    assert response.status_code == 303
    assert (
        response.headers["location"] == f"/benchmarks/{benchmark_id}/login?failed=true"
    )
    assert not set_cookies(response)
    assert "Wrong username or password" in form.text
    live = server.client.get(f"/benchmarks/{benchmark_id}/live", follow_redirects=False)
    assert live.status_code == 303


def test_a_password_the_form_refuses_is_neither_echoed_nor_logged(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # Over the schema's maxLength (1024): refused before any login is tried.
    password = "SecretLongPw-" + "Q" * 1100

    response = page_login(server, "any-benchmark", password=password)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Request body is invalid: password"
    assert error["details"]["errors"] == [
        {"field": "password", "message": "does not satisfy 'maxLength' (1024)"}
    ]
    assert "SecretLongPw" not in response.text
    assert "SecretLongPw" not in caplog.text


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_another_site_cannot_sign_a_browser_in(
    finished: dict[str, Any], server: Server, origin: str
) -> None:
    response = server.client.post(
        f"/benchmarks/{finished['benchmark_id']}/login",
        content=f"username=admin&password={ADMIN_PASSWORD}",
        headers={**FORM, "Origin": origin},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert not set_cookies(response)


def test_signing_out_clears_both_cookies(
    finished: dict[str, Any], server: Server
) -> None:
    benchmark_id = finished["benchmark_id"]
    page_login(server, benchmark_id)

    response = server.client.post(
        f"/benchmarks/{benchmark_id}/logout", headers=FORM, follow_redirects=False
    )
    after = server.client.get(f"/benchmarks/{benchmark_id}")

    assert response.status_code == 303
    assert all("max-age=0" in c.lower() for c in set_cookies(response).values())
    assert after.status_code == 200
    assert "<form" in after.text and "<table" not in after.text


def test_the_assets_come_from_this_server(server: Server) -> None:
    script = server.client.get("/assets/benchmark.js")
    style = server.client.get("/assets/benchmark.css")
    other = server.client.get("/assets/other.js")

    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "benchmark.progress" in script.text
    assert style.status_code == 200
    assert other.status_code in (400, 404)


def _ws_token(server: Server, benchmark_id: str) -> str:
    cookies = set_cookies(page_login(server, benchmark_id))
    return cookies["ltb_ws"].split("=", 1)[1].split(";")[0]


def test_the_websocket_takes_the_page_cookie_from_this_servers_pages(
    finished: dict[str, Any], server: Server
) -> None:
    token = _ws_token(server, finished["benchmark_id"])
    headers = {"origin": "http://testserver", "cookie": f"ltb_ws={token}"}

    with connect(server, headers=headers) as ws:
        send(ws, type="subscribe", topics=["benchmark.progress"], request_id="r1")
        reply = receive(ws)

    assert reply["type"] == "ack"
    assert reply["topics"] == ["benchmark.progress"]


@pytest.mark.parametrize(
    "origin", [None, "http://evil.example", "null", "http://testserver.evil.example"]
)
def test_the_websocket_ignores_the_page_cookie_from_anywhere_else(
    finished: dict[str, Any], server: Server, origin: str | None
) -> None:
    token = _ws_token(server, finished["benchmark_id"])
    headers = {"cookie": f"ltb_ws={token}"}
    if origin is not None:
        headers["origin"] = origin

    with connect(server, headers=headers) as ws:
        send(ws, type="subscribe", topics=["benchmark.progress"], request_id="r1")
        reply = json.loads(ws.receive_text())

    # Refused at admission (a foreign Origin) or not authenticated by the cookie.
    assert reply["type"] == "error"
    assert reply["code"] == "UNAUTHORIZED"
