"""Rate limits: burst and steady rate per user, logins per address, proxies, Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.testclient import TestClient

from app.errors import ConfigurationError
from app.main import create_app
from app.settings import Settings
from tests.support.llm_server import free_loopback_port
from tests.support.redis import REDIS_URL, redis_prefix

PASSWORD = "rate-limit-admin-pass"
# The endpoint the tests spend their budget on: authenticated, cheap, no side effect.
ENDPOINT = "/v1/providers"


@dataclass
class Limited:
    """A running app, a client logged in as admin, and a way to call from elsewhere."""

    app: Any
    client: TestClient
    auth: dict[str, str]
    stack: ExitStack

    def get(self, auth: dict[str, str] | None = None) -> httpx.Response:
        """Spend one request of a user's budget (the admin's by default)."""
        return self.client.get(ENDPOINT, headers=auth or self.auth)

    def peer(self, address: str) -> TestClient:
        """A client whose requests arrive from ``address`` (the TCP peer)."""
        client = TestClient(self.app, client=(address, 40000))
        self.stack.callback(client.close)
        return client

    def login(self, client: TestClient, username: str, password: str) -> int:
        """Try a login; return the status."""
        return client.post(
            "/v1/auth/login", json={"username": username, "password": password}
        ).status_code


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Limited]]:
    """Start servers with the given Settings fields; all stop at the end of the test."""
    with ExitStack() as stack:

        def start_one(**settings: Any) -> Limited:
            settings.setdefault("data_dir", tmp_path / f"data-{uuid.uuid4().hex[:8]}")
            app = create_app(
                Settings(
                    admin_password=PASSWORD,
                    environ={},
                    validate_responses=True,
                    **settings,
                )
            )
            client = stack.enter_context(TestClient(app))
            token = client.post(
                "/v1/auth/login", json={"username": "admin", "password": PASSWORD}
            ).json()["token"]
            return Limited(app, client, {"Authorization": f"Bearer {token}"}, stack)

        yield start_one


def test_a_burst_of_rate_plus_burst_requests_passes_and_the_next_is_refused(
    start: Callable[..., Limited],
) -> None:
    server = start(rate_limit=5, rate_limit_burst=3)

    statuses = [server.get().status_code for _ in range(9)]

    assert statuses == [200] * 8 + [429]


def test_the_steady_rate_caps_requests_over_ten_seconds(
    start: Callable[..., Limited],
) -> None:
    # 1/s with bursts of 4: 5 per second, but only 10*1+4 = 14 per 10 seconds.
    server = start(rate_limit=1, rate_limit_burst=4)

    responses = []
    for batch in range(3):
        if batch:
            time.sleep(1.1)  # the one-second window is empty again
        responses += [server.get() for _ in range(5)]

    assert [r.status_code for r in responses] == [200] * 14 + [429]
    refused = responses[-1]
    assert refused.headers["X-RateLimit-Limit"] == "14"
    # The ten-second window started with the first batch, some 2.2 s ago.
    assert 7 <= refused.json()["error"]["retry_after"] <= 10


def test_a_normal_response_carries_consistent_rate_limit_headers(
    start: Callable[..., Limited],
) -> None:
    server = start(rate_limit=5, rate_limit_burst=3)
    before = time.time()

    first, second = server.get(), server.get()

    assert first.headers["X-RateLimit-Limit"] == "8"
    assert second.headers["X-RateLimit-Limit"] == "8"
    assert first.headers["X-RateLimit-Remaining"] == "7"
    assert second.headers["X-RateLimit-Remaining"] == "6"
    # The first request leaves the one-second window within two epoch seconds.
    reset = int(second.headers["X-RateLimit-Reset"])
    assert time.time() <= reset <= before + 2
    assert "Retry-After" not in second.headers


def test_a_refused_request_gets_the_envelope_with_retry_after(
    start: Callable[..., Limited],
) -> None:
    server = start(rate_limit=5, rate_limit_burst=3)

    refused = [server.get() for _ in range(9)][-1]

    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == {
        "code": "RATE_LIMIT_EXCEEDED",
        "message": "Too many requests: the limit is 8 per 1 second; retry after 1 s",
        "details": {"limit": "8 per 1 second"},
        "retry_after": 1,
    }
    assert body["request_id"] == refused.headers["X-Request-ID"]
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["X-RateLimit-Limit"] == "8"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) >= time.time()


def test_a_client_that_waits_retry_after_seconds_gets_through(
    start: Callable[..., Limited],
) -> None:
    server = start(rate_limit=5, rate_limit_burst=3)
    refused = [server.get() for _ in range(9)][-1]
    assert refused.status_code == 429

    time.sleep(int(refused.headers["Retry-After"]))

    assert server.get().status_code == 200


def test_each_user_has_a_budget_of_their_own(start: Callable[..., Limited]) -> None:
    server = start(rate_limit=5, rate_limit_burst=3)
    server.app.app.extensions["ltb"].auth.create_user(
        "bob", "bob-password-1234", "user"
    )
    token = server.client.post(
        "/v1/auth/login", json={"username": "bob", "password": "bob-password-1234"}
    ).json()["token"]
    bob = {"Authorization": f"Bearer {token}"}

    admin = [server.get().status_code for _ in range(9)]
    after = server.get(bob)

    assert admin == [200] * 8 + [429]
    assert after.status_code == 200
    assert after.headers["X-RateLimit-Remaining"] == "7"


def test_anonymous_logins_are_counted_per_client_address(
    start: Callable[..., Limited],
) -> None:
    server = start(login_rate_limit="1/minute")
    first, second = server.peer("192.0.2.10"), server.peer("192.0.2.20")

    from_first = [server.login(first, "admin", "wrong-password") for _ in range(2)]
    from_second = server.login(second, "admin", "wrong-password")

    assert from_first == [401, 429]
    assert from_second == 401


def test_logins_are_held_to_a_stricter_limit_than_other_requests(
    start: Callable[..., Limited],
) -> None:
    server = start(rate_limit=5, rate_limit_burst=3, login_rate_limit="2/minute")
    guesser = server.peer("192.0.2.10")

    statuses = [server.login(guesser, "admin", "wrong-password") for _ in range(3)]
    refused = guesser.post(
        "/v1/auth/login", json={"username": "admin", "password": PASSWORD}
    )

    # Three requests are well within 8 per second: the login limit refused them.
    assert statuses == [401, 401, 429]
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Limit"] == "2"
    assert refused.json()["error"]["details"] == {"limit": "2 per 1 minute"}
    assert 50 <= refused.json()["error"]["retry_after"] <= 60
    assert server.get().status_code == 200


def test_health_is_never_rate_limited(start: Callable[..., Limited]) -> None:
    server = start(rate_limit=1, rate_limit_burst=0)

    probes = [server.client.get("/health") for _ in range(20)]
    spent = server.get()

    assert [p.status_code for p in probes] == [200] * 20
    assert [p.headers.get("X-RateLimit-Limit") for p in probes] == [None] * 20
    # The probes did not touch the budget of one request per second.
    assert spent.status_code == 200
    assert spent.headers["X-RateLimit-Remaining"] == "0"


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_escape_the_limit(
    start: Callable[..., Limited],
) -> None:
    server = start(login_rate_limit="1/minute", trusted_proxies=("10.0.0.0/8",))
    attacker = server.peer("192.0.2.66")

    statuses = [
        attacker.post(
            "/v1/auth/login",
            json={"username": "admin", "password": "wrong-password"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(3)
    ]

    assert statuses == [401, 429, 429]


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(
    start: Callable[..., Limited],
) -> None:
    server = start(login_rate_limit="1/minute", trusted_proxies=("10.0.0.0/8",))
    proxy = server.peer("10.0.0.1")

    def login_from(forwarded_for: str) -> int:
        return proxy.post(
            "/v1/auth/login",
            json={"username": "admin", "password": "wrong-password"},
            headers={"X-Forwarded-For": forwarded_for},
        ).status_code

    assert login_from("198.51.100.7") == 401
    assert login_from("198.51.100.7") == 429
    # What the client wrote left of the address our proxy saw proves nothing.
    assert login_from("203.0.113.9, 198.51.100.7") == 429
    # Hops through further proxies of ours are skipped.
    assert login_from("198.51.100.7, 10.0.0.2") == 429
    # Another client behind the same proxy has its own budget.
    assert login_from("198.51.100.8") == 401


def test_ipv6_clients_are_counted_per_64_network(start: Callable[..., Limited]) -> None:
    server = start(login_rate_limit="1/minute")

    statuses = [
        server.login(server.peer(address), "admin", "wrong-password")
        for address in ("2001:db8:1:2::1", "2001:db8:1:2::99", "2001:db8:1:3::1")
    ]

    assert statuses == [401, 429, 401]


def test_an_invalid_trusted_proxy_is_refused_at_start(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, environ={}, trusted_proxies=("10.0.0.1", "proxy.local")
    )

    with pytest.raises(ConfigurationError, match="TRUSTED_PROXIES"):
        create_app(settings)


def test_two_servers_with_one_redis_share_one_budget(
    start: Callable[..., Limited], tmp_path: Path
) -> None:
    with redis_prefix() as prefix:
        # One database and secret too, so that one token names one user on both.
        shared = {
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "data_dir": tmp_path / "shared",
        }
        one = start(rate_limit=5, rate_limit_burst=3, **shared)
        other = start(rate_limit=5, rate_limit_burst=3, **shared)

        statuses = [one.get().status_code for _ in range(5)]
        statuses += [other.get(one.auth).status_code for _ in range(4)]
        with redis.Redis.from_url(REDIS_URL) as connection:
            keys = connection.keys(f"{prefix}:*")

    assert statuses == [200] * 8 + [429]
    assert keys


def test_requests_are_still_limited_when_redis_is_unreachable(
    start: Callable[..., Limited],
) -> None:
    # Nothing listens on this loopback port: every Redis call fails at once.
    server = start(
        rate_limit=5,
        rate_limit_burst=3,
        redis_url=f"redis://127.0.0.1:{free_loopback_port()}/0",
    )

    statuses = [server.get().status_code for _ in range(9)]

    assert statuses == [200] * 8 + [429]
