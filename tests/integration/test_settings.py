"""Settings given in code reach the running server."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from starlette.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support import log_scan

PASSWORD = "settings-admin-pass"
log_scan.PASSWORDS.add(PASSWORD)


def client_for(data_dir: Path, **settings: object) -> TestClient:
    return TestClient(create_app(Settings(data_dir=data_dir, environ={}, **settings)))


def login(client: TestClient, password: str = PASSWORD) -> dict:
    return client.post(
        "/v1/auth/login", json={"username": "admin", "password": password}
    ).json()


def test_swagger_can_be_switched_off(tmp_path: Path) -> None:
    with client_for(tmp_path, admin_password=PASSWORD, enable_swagger=False) as client:
        assert client.get("/swagger-ui/").status_code == 404
        assert client.get("/api-docs/openapi.json").status_code == 404
        assert client.get("/health").status_code == 200


def test_jwt_expiration_sets_the_token_lifetime(tmp_path: Path) -> None:
    with client_for(tmp_path, admin_password=PASSWORD, jwt_expiration=120) as client:
        body = login(client)

    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.now(UTC)
    assert 100 < lifetime.total_seconds() <= 120


def test_a_generated_jwt_secret_is_kept_so_tokens_survive_a_restart(
    tmp_path: Path,
) -> None:
    with client_for(tmp_path, admin_password=PASSWORD) as client:
        token = login(client)["token"]
    secret_file = tmp_path / "jwt_secret"

    with client_for(tmp_path, admin_password=PASSWORD) as client:
        response = client.get(
            "/v1/providers", headers={"Authorization": f"Bearer {token}"}
        )

    assert response.status_code == 200
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert len(secret_file.read_text()) >= 48


def test_a_given_jwt_secret_signs_the_tokens(tmp_path: Path) -> None:
    secret = "a-secret-given-by-the-operator-" + "x" * 16
    with client_for(tmp_path, admin_password=PASSWORD, jwt_secret=secret) as client:
        token = login(client)["token"]

    assert jwt.decode(token, secret, algorithms=["HS256"])["role"] == "admin"
    assert not (tmp_path / "jwt_secret").exists()


def test_without_an_admin_password_a_random_one_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app.auth.service"):
        client_for(tmp_path)
    messages = [
        r.getMessage() for r in caplog.records if "generated password" in r.getMessage()
    ]
    password = messages[0].split("generated password: ")[1].split(" ")[0]
    caplog.clear()

    with (
        caplog.at_level(logging.WARNING, logger="app.auth.service"),
        client_for(tmp_path) as client,
    ):
        assert "token" in login(client, password)

    assert len(messages) == 1
    assert len(password) >= 16
    assert not [r for r in caplog.records if "generated password" in r.getMessage()]
