"""Users, the audit log, API-key expiry and JWT refusals (issue: access control)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.integration.conftest import Server
from tests.support import log_scan


def add_user(server: Server, username: str, role: str = "user") -> dict:
    log_scan.PASSWORDS.add(f"{username}-password!")
    response = server.client.post(
        "/v1/users",
        headers=server.auth,
        json={"username": username, "password": f"{username}-password!", "role": role},
    )
    assert response.status_code == 201, response.text
    return response.json()


def login_as(server: Server, username: str) -> dict[str, str]:
    return server.login(username, f"{username}-password!")


def secret_of(server: Server) -> str:
    return server.client.app.app.extensions["ltb"].settings.jwt_secret


def test_an_admin_creates_lists_and_updates_users(server: Server) -> None:
    alice = add_user(server, "alice")
    listed = server.client.get("/v1/users", headers=server.auth).json()
    promoted = server.client.patch(
        f"/v1/users/{alice['id']}", headers=server.auth, json={"role": "viewer"}
    )

    assert alice["role"] == "user" and alice["disabled"] is False
    assert [u["username"] for u in listed["items"]] == ["admin", "alice"]
    assert "password" not in str(listed)
    assert promoted.json()["role"] == "viewer"


def test_a_taken_username_is_a_conflict(server: Server) -> None:
    add_user(server, "bob")
    again = server.client.post(
        "/v1/users",
        headers=server.auth,
        json={"username": "bob", "password": "another-password", "role": "user"},
    )

    assert again.status_code == 409


def test_disabling_a_user_refuses_their_token_and_keys_on_the_next_request(
    server: Server,
) -> None:
    carol = add_user(server, "carol")
    token = login_as(server, "carol")
    key = server.client.post(
        "/v1/auth/api-keys", headers=token, json={"name": "k"}
    ).json()["key"]
    assert server.client.get("/v1/benchmarks", headers=token).status_code == 200

    server.client.patch(
        f"/v1/users/{carol['id']}", headers=server.auth, json={"disabled": True}
    )

    assert server.client.get("/v1/benchmarks", headers=token).status_code == 401
    assert (
        server.client.get("/v1/benchmarks", headers={"X-API-Key": key}).status_code
        == 401
    )
    relogin = server.client.post(
        "/v1/auth/login",
        json={"username": "carol", "password": "carol-password!"},
    )
    assert relogin.status_code == 401


def test_a_role_change_applies_on_the_next_request(server: Server) -> None:
    dave = add_user(server, "dave")
    token = login_as(server, "dave")
    server.client.patch(
        f"/v1/users/{dave['id']}", headers=server.auth, json={"role": "viewer"}
    )

    response = server.client.post(
        "/v1/auth/api-keys", headers=token, json={"name": "now-forbidden"}
    )

    assert response.status_code == 403


def test_the_last_active_admin_cannot_be_demoted_or_disabled(server: Server) -> None:
    admin_id = jwt.decode(server.token, options={"verify_signature": False})["sub"]

    demote = server.client.patch(
        f"/v1/users/{admin_id}", headers=server.auth, json={"role": "user"}
    )
    disable = server.client.patch(
        f"/v1/users/{admin_id}", headers=server.auth, json={"disabled": True}
    )

    assert demote.status_code == disable.status_code == 409


def test_only_admins_manage_users_and_read_the_audit_log(server: Server) -> None:
    add_user(server, "erin")
    erin = login_as(server, "erin")

    assert server.client.get("/v1/users", headers=erin).status_code == 403
    assert server.client.get("/v1/audit-log", headers=erin).status_code == 403
    assert (
        server.client.post(
            "/v1/users",
            headers=erin,
            json={"username": "x", "password": "x" * 12, "role": "admin"},
        ).status_code
        == 403
    )


def test_the_audit_log_records_who_did_what_and_from_where(server: Server) -> None:
    frank = add_user(server, "frank")
    server.client.post(
        "/v1/auth/login", json={"username": "frank", "password": "wrong-one"}
    )
    token = login_as(server, "frank")
    created = server.client.post(
        "/v1/auth/api-keys", headers=token, json={"name": "frank-key"}
    ).json()
    server.client.delete(f"/v1/auth/api-keys/{created['id']}", headers=token)
    server.client.patch(
        f"/v1/users/{frank['id']}", headers=server.auth, json={"role": "viewer"}
    )

    events = server.client.get(
        "/v1/audit-log?page_size=100", headers=server.auth
    ).json()["items"]
    by_action = {}
    for event in events:
        by_action.setdefault(event["action"], []).append(event)

    assert by_action["login.failed"][0]["actor"] == "frank"
    assert by_action["login.failed"][0]["actor_id"] is None
    assert any(e["actor"] == "frank" for e in by_action["login.succeeded"])
    assert by_action["api_key.created"][0]["target"] == created["id"]
    assert by_action["api_key.revoked"][0]["actor_id"] == frank["id"]
    assert by_action["user.created"][0]["target"] == frank["id"]
    assert by_action["user.updated"][0]["details"] == {
        "role": {"from": "user", "to": "viewer"}
    }
    # Every event but the first admin's (made at start-up, by no client) has one.
    assert all(
        e["address"] for e in events if e["actor_id"] or e["action"] != "user.created"
    )
    assert "wrong-one" not in str(events)
    assert created["key"] not in str(events)
    filtered = server.client.get(
        "/v1/audit-log?action=user.created", headers=server.auth
    ).json()
    assert {e["action"] for e in filtered["items"]} == {"user.created"}


def test_an_api_key_stops_working_when_it_expires(server: Server) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    created = server.client.post(
        "/v1/auth/api-keys",
        headers=server.auth,
        json={"name": "short-lived", "expires_at": expires.isoformat()},
    ).json()
    headers = {"X-API-Key": created["key"]}

    assert server.client.get("/v1/benchmarks", headers=headers).status_code == 200
    time.sleep(2.2)
    expired = server.client.get("/v1/benchmarks", headers=headers)

    assert expired.status_code == 401
    assert expired.json()["error"]["message"] == "API key has expired"


def test_a_key_expiring_in_the_past_is_refused(server: Server) -> None:
    response = server.client.post(
        "/v1/auth/api-keys",
        headers=server.auth,
        json={"name": "stale", "expires_at": "2020-01-01T00:00:00Z"},
    )

    assert response.status_code == 400


def test_last_used_at_is_recorded(server: Server) -> None:
    key = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "used"}
    ).json()["key"]
    before = datetime.now(UTC)
    server.client.get("/v1/providers", headers={"X-API-Key": key})

    listed = server.client.get("/v1/auth/api-keys", headers=server.auth).json()
    used = datetime.fromisoformat(listed["items"][0]["last_used_at"])
    assert used >= before - timedelta(seconds=1)


@pytest.mark.parametrize(
    "drop", ["exp", "iat", "sub", "role"], ids=lambda claim: f"without-{claim}"
)
def test_a_token_missing_a_required_claim_is_refused(server: Server, drop: str) -> None:
    claims = jwt.decode(server.token, options={"verify_signature": False})
    del claims[drop]
    token = jwt.encode(claims, secret_of(server), algorithm="HS256")

    response = server.client.get(
        "/v1/benchmarks", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401


@pytest.mark.parametrize(("skew_s", "status"), [(10, 200), (300, 401)])
def test_an_issued_at_in_the_future_is_refused_beyond_the_leeway(
    server: Server, skew_s: int, status: int
) -> None:
    claims = jwt.decode(server.token, options={"verify_signature": False})
    now = int(time.time())
    claims |= {"iat": now + skew_s, "exp": now + 3600}
    token = jwt.encode(claims, secret_of(server), algorithm="HS256")

    response = server.client.get(
        "/v1/benchmarks", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == status


def test_a_token_signed_with_another_algorithm_is_refused(server: Server) -> None:
    claims = jwt.decode(server.token, options={"verify_signature": False})
    token = jwt.encode(claims, secret_of(server), algorithm="HS512")

    response = server.client.get(
        "/v1/benchmarks", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    "raw",
    ["ltb_é".encode("latin-1"), b"ltb_" + bytes(range(128, 160)), b"\xff" * 36],
)
def test_non_ascii_api_keys_are_a_401_not_a_500(server: Server, raw: bytes) -> None:
    response = server.client.get("/v1/benchmarks", headers={"X-API-Key": raw})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_demoted_users_api_key_loses_the_power_too(server: Server) -> None:
    mallory = add_user(server, "mallory", "admin")
    token = login_as(server, "mallory")
    key = server.client.post(
        "/v1/auth/api-keys", headers=token, json={"name": "k", "role": "admin"}
    ).json()["key"]
    server.client.patch(
        f"/v1/users/{mallory['id']}", headers=server.auth, json={"role": "viewer"}
    )

    with_key = {"X-API-Key": key}
    promote_self = server.client.patch(
        f"/v1/users/{mallory['id']}", headers=with_key, json={"role": "admin"}
    )

    assert server.client.get("/v1/users", headers=with_key).status_code == 403
    assert promote_self.status_code == 403
    assert server.client.get("/v1/benchmarks", headers=with_key).status_code == 200


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2031-06-01T21:00:00+02:00", "2031-06-01T19:00:00Z"),
        ("2031-06-01T14:00:00-05:00", "2031-06-01T19:00:00Z"),
    ],
)
def test_an_expiry_with_an_offset_is_stored_as_the_same_instant(
    server: Server, sent: str, stored: str
) -> None:
    created = server.client.post(
        "/v1/auth/api-keys",
        headers=server.auth,
        json={"name": "tz", "expires_at": sent},
    ).json()
    listed = server.client.get("/v1/auth/api-keys", headers=server.auth).json()

    assert created["expires_at"] == stored
    assert listed["items"][0]["expires_at"] == stored


@pytest.mark.parametrize("value", ["tomorrow", "2030-06-30T23:59:60Z", "2030-01-01"])
def test_an_expiry_that_is_not_a_date_time_is_a_400(server: Server, value: str) -> None:
    response = server.client.post(
        "/v1/auth/api-keys",
        headers=server.auth,
        json={"name": "x", "expires_at": value},
    )

    assert response.status_code == 400


def test_revoking_twice_is_one_audit_event(server: Server) -> None:
    created = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "twice"}
    ).json()
    for _ in range(2):
        server.client.delete(f"/v1/auth/api-keys/{created['id']}", headers=server.auth)

    events = server.client.get(
        "/v1/audit-log?action=api_key.revoked", headers=server.auth
    ).json()

    assert events["total"] == 1


def test_the_first_admin_is_in_the_audit_log(server: Server) -> None:
    events = server.client.get(
        "/v1/audit-log?action=user.created", headers=server.auth
    ).json()["items"]

    assert [e["actor"] for e in events] == ["system (first start)"]
    assert events[0]["details"] == {"username": "admin", "role": "admin"}


def test_a_newline_in_a_username_cannot_forge_a_log_line(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "evil\n2026-12-04 18:00:00,000 INFO app: FORGED"
    server.client.post("/v1/auth/login", json={"username": forged, "password": "x"})

    lines = [r.getMessage() for r in caplog.records]

    assert not any("\n" in line and "FORGED" in line for line in lines)
    assert any("FORGED" in line for line in lines)
