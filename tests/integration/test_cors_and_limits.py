"""CORS, request size and input limits, and production-mode refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from app.errors import ConfigurationError
from app.main import create_app
from app.settings import Settings
from tests.support import log_scan

PASSWORD = "limits-admin-password"
log_scan.PASSWORDS.add(PASSWORD)
ALLOWED = "https://dashboard.example.test"


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator:
    clients: list[TestClient] = []

    def start(**settings: object) -> tuple[TestClient, dict[str, str]]:
        client = TestClient(
            create_app(
                Settings(
                    data_dir=tmp_path / f"d{len(clients)}",
                    admin_password=PASSWORD,
                    environ={},
                    **settings,
                )
            )
        )
        client.__enter__()
        clients.append(client)
        token = client.post(
            "/v1/auth/login", json={"username": "admin", "password": PASSWORD}
        ).json()["token"]
        return client, {"Authorization": f"Bearer {token}"}

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_an_allowed_origin_gets_cors_headers_with_credentials(make_client) -> None:
    client, auth = make_client(cors_origins=(ALLOWED,))

    response = client.get("/v1/providers", headers=auth | {"Origin": ALLOWED})
    failure = client.get("/v1/providers", headers={"Origin": ALLOWED})

    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "X-Request-ID" in response.headers["access-control-expose-headers"]
    # Errors carry CORS headers too, or a browser app could not read them.
    assert failure.status_code == 401
    assert failure.headers["access-control-allow-origin"] == ALLOWED


def test_another_origin_gets_no_cors_headers(make_client) -> None:
    client, auth = make_client(cors_origins=(ALLOWED,))

    response = client.get(
        "/v1/providers", headers=auth | {"Origin": "https://evil.example.test"}
    )

    assert "access-control-allow-origin" not in response.headers


def test_a_preflight_is_answered_for_allowed_origins_only(make_client) -> None:
    client, _ = make_client(cors_origins=(ALLOWED,))
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }

    allowed = client.options("/v1/benchmarks", headers=preflight | {"Origin": ALLOWED})
    refused = client.options(
        "/v1/benchmarks", headers=preflight | {"Origin": "https://evil.example.test"}
    )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"]["message"] == "Disallowed CORS origin"
    # A refusal grants nothing: no origin, method, header or credentials.
    assert [h for h in refused.headers if h.startswith("access-control-")] == []


@pytest.mark.parametrize(
    "path", ["/v1/benchmarks", "/v1/datasets", "/health", "/graphql", "/benchmarks/b1"]
)
def test_without_cors_origins_a_preflight_is_refused_not_a_405(
    make_client, path: str
) -> None:
    client, _ = make_client()

    response = client.options(
        path,
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "BAD_REQUEST",
        "message": "Disallowed CORS origin",
        "details": {},
    }
    assert response.headers["x-request-id"]
    assert [h for h in response.headers if h.startswith("access-control-")] == []


def test_a_wildcard_origin_never_allows_credentials(make_client) -> None:
    client, auth = make_client(cors_origins=("*",))

    response = client.get(
        "/v1/providers", headers=auth | {"Origin": "https://any.example.test"}
    )

    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_without_cors_origins_no_cross_origin_access_is_granted(make_client) -> None:
    client, auth = make_client()

    response = client.get("/v1/providers", headers=auth | {"Origin": ALLOWED})

    assert "access-control-allow-origin" not in response.headers


def test_a_body_over_the_limit_is_a_413_in_the_envelope(make_client) -> None:
    client, auth = make_client(max_body_bytes=2_000)

    response = client.post(
        "/v1/completions",
        headers=auth,
        json={"provider": "openai", "model": "m", "prompt": "x" * 5_000},
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert response.json()["error"]["details"] == {"max_body_bytes": 2_000}


def test_a_chunked_body_over_the_limit_is_a_413_too(make_client) -> None:
    # No Content-Length to check up front: the bytes are counted as they come.
    client, auth = make_client(max_body_bytes=2_000)

    def chunks() -> Iterator[bytes]:
        yield b'{"provider": "openai", "model": "m", "prompt": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    response = client.post(
        "/v1/completions",
        headers=auth | {"Content-Type": "application/json"},
        content=chunks(),
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert response.json()["error"]["details"] == {"max_body_bytes": 2_000}


def test_a_chunked_json_body_within_the_limit_is_read_whole(make_client) -> None:
    client, _ = make_client()

    def chunks() -> Iterator[bytes]:
        yield b'{"username": "admin", '
        yield f'"password": "{PASSWORD}"}}'.encode()

    response = client.post(
        "/v1/auth/login",
        headers={"Content-Type": "application/json"},
        content=chunks(),
    )

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert response.json()["token"].count(".") == 2  # a JWT


def test_a_prompt_over_the_limit_is_a_400_naming_the_field(make_client) -> None:
    client, auth = make_client(max_prompt_chars=100)

    response = client.post(
        "/v1/completions",
        headers=auth,
        json={"provider": "openai", "model": "m", "prompt": "y" * 101},
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"]["errors"][0]["field"] == "prompt"


def test_an_upload_with_too_many_items_is_a_400(make_client) -> None:
    client, auth = make_client(max_dataset_items=3)
    lines = b"\n".join(b'{"input": "q%d", "expected": "a"}' % i for i in range(4))

    response = client.post(
        "/v1/datasets",
        headers=auth,
        data={"name": "big", "format": "jsonl"},
        files=[("file", ("big.jsonl", lines))],
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"]["max_items"] == 3


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"jwt_secret": None}, "JWT_SECRET"),
        ({"jwt_secret": "too-short"}, "JWT_SECRET"),
        ({"jwt_secret": "s" * 40, "admin_password": "admin"}, "LTB_ADMIN_PASSWORD"),
        ({"jwt_secret": "s" * 40, "admin_password": "short"}, "LTB_ADMIN_PASSWORD"),
    ],
)
def test_production_mode_refuses_unsafe_settings(
    tmp_path: Path, settings: dict, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        create_app(
            Settings(
                data_dir=tmp_path, environment="production", environ={}, **settings
            )
        )


def test_production_mode_accepts_safe_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        environment="production",
        jwt_secret="p" * 48,
        admin_password="a-long-and-unguessable-one",
        environ={},
    )

    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200


def test_ltb_serve_refuses_to_start_in_production_without_a_secret(
    tmp_path: Path,
) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in {"JWT_SECRET", "LTB_ENV"}
    } | {"LTB_ENV": "production", "LTB_DATA_DIR": str(tmp_path)}

    result = subprocess.run(
        [str(Path(sys.executable).parent / "ltb"), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr


def test_a_json_body_has_a_smaller_limit_than_an_upload(make_client) -> None:
    client, _ = make_client(max_json_body_bytes=1_000)

    response = client.post(
        "/v1/auth/login", json={"username": "u" * 2_000, "password": "p"}
    )

    assert response.status_code == 413
    assert response.json()["error"]["details"] == {"max_body_bytes": 1_000}


def test_a_refused_preflight_is_in_the_envelope(make_client) -> None:
    client, _ = make_client(cors_origins=(ALLOWED,))

    response = client.options(
        "/v1/benchmarks",
        headers={
            "Origin": "https://evil.example.test",
            "Access-Control-Request-Method": "POST",
        },
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"cors_origins": ("evil.example",)}, "CORS_ORIGINS"),
        ({"trusted_proxies": ("not-an-ip",)}, "TRUSTED_PROXIES"),
        ({"login_rate_limit": "garbage"}, "LOGIN_RATE_LIMIT"),
    ],
)
def test_malformed_settings_are_refused_at_start(
    tmp_path: Path, settings: dict, complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        create_app(Settings(data_dir=tmp_path, environ={}, **settings))


def test_a_documented_example_password_is_refused_in_production(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError, match="LTB_ADMIN_PASSWORD"):
        create_app(
            Settings(
                data_dir=tmp_path,
                environment="production",
                jwt_secret="p" * 48,
                admin_password="change-me-now",
                environ={},
            )
        )


def test_a_redirecting_path_is_a_404_not_a_redirect(make_client) -> None:
    client, auth = make_client()

    response = client.get(
        "/v1/benchmarks//results", headers=auth | {"Host": "evil.example"}
    )

    assert response.status_code == 404
    assert "location" not in response.headers


def test_the_sqlite_database_is_readable_by_its_owner_only(make_client, tmp_path):
    make_client()

    assert (tmp_path / "d0" / "ltb.sqlite3").stat().st_mode & 0o777 == 0o600
