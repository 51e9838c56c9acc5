"""Login, JWTs, API keys and the permission table over REST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.integration.conftest import ADMIN_PASSWORD, Server


def add_user(server: Server, username: str, role: str) -> dict[str, str]:
    runtime = server.client.app.app.extensions["ltb"]
    runtime.auth.create_user(username, f"{username}-password", role)
    return server.login(username, f"{username}-password")


def expired_token(server: Server, claims: dict) -> str:
    """A token signed with the server's own secret but already expired."""
    secret = server.client.app.app.extensions["ltb"].settings.jwt_secret
    return jwt.encode(claims, secret, algorithm="HS256")


def test_login_returns_a_token_and_its_expiry(server: Server) -> None:
    response = server.client.post(
        "/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )

    body = response.json()
    assert response.status_code == 200
    expires_at = datetime.fromisoformat(body["expires_at"])
    remaining = expires_at - datetime.now(UTC)
    assert timedelta(seconds=3500) < remaining <= timedelta(seconds=3600)
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert set(claims) == {"sub", "role", "iat", "exp"}
    assert claims["role"] == "admin"


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin", "wrong-password"), ("nobody", ADMIN_PASSWORD)],
)
def test_a_wrong_password_or_unknown_user_gets_the_same_401(
    server: Server, username: str, password: str
) -> None:
    response = server.client.post(
        "/v1/auth/login", json={"username": username, "password": password}
    )

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid username or password"


def test_a_username_logs_in_in_any_case_as_it_is_unique_in_any_case(
    server: Server,
) -> None:
    add_user(server, "CaseUser", "viewer")

    login = server.client.post(
        "/v1/auth/login",
        json={"username": "caseuser", "password": "CaseUser-password"},
    )
    users = server.client.get("/v1/users", headers=server.auth).json()["items"]
    claims = jwt.decode(login.json()["token"], options={"verify_signature": False})

    assert login.status_code == 200
    assert [u["id"] for u in users if u["username"] == "CaseUser"] == [claims["sub"]]


def test_tokens_signed_otherwise_or_expired_are_refused(server: Server) -> None:
    now = datetime.now(UTC)
    sub = jwt.decode(server.token, options={"verify_signature": False})["sub"]
    claims = {"sub": sub, "role": "admin", "iat": now, "exp": now + timedelta(hours=1)}
    forged = [
        jwt.encode(claims, "another-secret-" + "x" * 32, algorithm="HS256"),
        jwt.encode(claims, None, algorithm="none"),
        expired_token(server, claims | {"exp": now - timedelta(hours=1)}),
        "not.a.jwt",
    ]

    for token in forged:
        response = server.client.get(
            "/v1/benchmarks", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, token
        assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_an_api_key_is_shown_once_works_and_stops_working_when_revoked(
    server: Server,
) -> None:
    created = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "ci", "role": "service"}
    )
    key = created.json()["key"]
    key_headers = {"X-API-Key": key}

    assert created.status_code == 201
    assert key.startswith("ltb_") and len(key) == 36
    listed = server.client.get("/v1/auth/api-keys", headers=server.auth).json()
    assert key not in str(listed)
    assert listed["items"][0]["prefix"] == key[:8]
    assert server.client.get("/v1/benchmarks", headers=key_headers).status_code == 200

    revoked = server.client.delete(
        f"/v1/auth/api-keys/{created.json()['id']}", headers=server.auth
    )
    assert revoked.status_code == 204
    assert server.client.get("/v1/benchmarks", headers=key_headers).status_code == 401


def test_api_keys_are_stored_hashed(server: Server) -> None:
    key = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "hashed"}
    ).json()["key"]

    database = server.settings.data_dir / "ltb.sqlite3"
    assert key.encode() not in database.read_bytes()
    assert ADMIN_PASSWORD.encode() not in database.read_bytes()


@pytest.mark.parametrize(
    "key",
    ["ltb_short", "ltb_" + "A" * 31 + "!", "sk-" + "A" * 33, "", "ltb_" + "B" * 32],
)
def test_malformed_or_unknown_api_keys_get_401(server: Server, key: str) -> None:
    response = server.client.get("/v1/benchmarks", headers={"X-API-Key": key})

    assert response.status_code == 401


@pytest.mark.parametrize(
    "kinds",
    [
        ("good-token", "good-key"),
        ("good-token", "bad-key"),
        ("bad-token", "good-key"),
        # Two headers of one name: only the first would be read.
        ("good-token", "bad-token"),
        ("bad-token", "good-token"),
        ("good-key", "bad-key"),
    ],
)
def test_a_request_with_more_than_one_credential_is_refused(
    server: Server, kinds: tuple[str, str]
) -> None:
    key = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "both"}
    ).json()["key"]
    credentials = {
        "good-token": ("Authorization", server.auth["Authorization"]),
        "bad-token": ("Authorization", "Bearer not-a-token"),
        "good-key": ("X-API-Key", key),
        "bad-key": ("X-API-Key", "ltb_" + "C" * 32),
    }

    response = server.client.get(
        "/v1/benchmarks", headers=[credentials[kind] for kind in kinds]
    )

    assert response.status_code == 401
    assert response.json()["error"]["message"] == (
        "Send one credential: a single Authorization: Bearer <token> or X-API-Key"
    )
    assert key not in response.text


def test_a_blank_authorization_beside_an_api_key_counts_as_none(
    server: Server,
) -> None:
    # A client blanking its default Authorization header to use a key instead.
    key = server.client.post(
        "/v1/auth/api-keys", headers=server.auth, json={"name": "blank"}
    ).json()["key"]

    response = server.client.get(
        "/v1/benchmarks", headers={"Authorization": "", "X-API-Key": key}
    )

    assert response.status_code == 200


def test_a_user_cannot_mint_a_key_above_their_role(server: Server) -> None:
    user = add_user(server, "alice", "user")

    response = server.client.post(
        "/v1/auth/api-keys", headers=user, json={"name": "sneaky", "role": "admin"}
    )

    assert response.status_code == 403


def test_users_see_and_revoke_only_their_own_keys(server: Server) -> None:
    alice, bob = add_user(server, "alice", "user"), add_user(server, "bob", "user")
    alice_key = server.client.post(
        "/v1/auth/api-keys", headers=alice, json={"name": "a"}
    ).json()

    bobs_view = server.client.get("/v1/auth/api-keys", headers=bob).json()
    bob_revokes = server.client.delete(
        f"/v1/auth/api-keys/{alice_key['id']}", headers=bob
    )
    admins_view = server.client.get("/v1/auth/api-keys", headers=server.auth).json()

    assert bobs_view["total"] == 0
    assert bob_revokes.status_code == 404
    assert alice_key["id"] in {k["id"] for k in admins_view["items"]}


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "expected"),
    [
        ("viewer", "get", "/v1/benchmarks", None, 200),
        ("viewer", "get", "/v1/providers", None, 200),
        ("viewer", "post", "/v1/benchmarks", {}, 403),
        ("viewer", "post", "/v1/completions", {}, 403),
        ("viewer", "post", "/v1/auth/api-keys", {"name": "x"}, 403),
        ("service", "post", "/v1/auth/api-keys", {"name": "x"}, 403),
        ("service", "get", "/v1/auth/api-keys", None, 403),
        ("user", "post", "/v1/auth/api-keys", {"name": "x"}, 201),
    ],
)
def test_the_permission_table_is_enforced(
    server: Server, role: str, method: str, path: str, body: dict | None, expected: int
) -> None:
    headers = add_user(server, f"someone-{role}", role)

    if method == "get":
        response = server.client.get(path, headers=headers)
    else:
        response = server.client.post(path, headers=headers, json=body)

    assert response.status_code == expected, response.text
