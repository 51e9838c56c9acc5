"""Rate limits with flask-limiter: per user (per address when anonymous), logins apart.

flask-limiter has no token bucket. "R requests per second with bursts of B" (the
original API's 100/s with bursts of 50) becomes two moving windows that such a
bucket (B tokens, refilled at R per second) would also respect: ``R+B per 1 second``
for bursts and ``10*R+B per 10 seconds`` for the steady rate.

Limits apply to requests that reach a handler: Connexion refuses unauthenticated or
invalid requests before Flask runs, so those are never counted.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import flask
from connexion import FlaskApp
from connexion import context as connexion_context
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded, RequestLimit
from limits import RateLimitItem, parse_many

from app.errors import ConfigurationError, ErrorCode
from app.rest.client_address import (
    IPNetwork,
    client_address,
    parse_ip,
    trusted_networks,
)
from app.rest.context import request_id
from app.rest.envelope import envelope
from app.settings import Settings

logger = logging.getLogger(__name__)

# Probes must never be refused; the operationIds of openapi/openapi.yaml.
_EXEMPT_OPERATIONS = frozenset({"get_health", "get_readiness", "get_metrics"})
# The results page's login form checks passwords too: the same budget per address.
_LOGIN_OPERATIONS = frozenset({"login", "benchmark_page_login"})
# Scopes name the counters: one budget per caller for all requests, one for logins.
_REQUESTS_SCOPE = "requests"
_LOGIN_SCOPE = "login"
# An IPv6 client usually holds a whole /64; counting single addresses would let it
# rotate through 2**64 of them.
_IPV6_CLIENT_PREFIX = 64
# Redis must not stall every handler thread when it stops answering.
_REDIS_TIMEOUT_S = 2


def install_rate_limits(app: FlaskApp, settings: Settings) -> None:
    """Limit every handled request per caller, and logins per address, by Settings."""
    proxies = trusted_networks(settings.trusted_proxies)
    steady = _steady_limits(settings.rate_limit, settings.rate_limit_burst)
    login = _checked_limit("LOGIN_RATE_LIMIT", settings.login_rate_limit)
    groups = {_REQUESTS_SCOPE: parse_many(steady), _LOGIN_SCOPE: parse_many(login)}

    def address_key() -> str:
        return "address:" + _client_address(proxies)

    def caller_key() -> str:
        subject = (_connexion_context().get("token_info") or {}).get("sub")
        return f"user:{subject}" if subject else address_key()

    redis = settings.redis_url
    limiter = Limiter(
        caller_key,
        app=app.app,
        application_limits=[
            ApplicationLimit(steady, scope=_REQUESTS_SCOPE),
            ApplicationLimit(
                login,
                key_function=address_key,
                scope=_LOGIN_SCOPE,
                exempt_when=lambda: _operation_id() not in _LOGIN_OPERATIONS,
            ),
        ],
        strategy="moving-window",
        storage_uri=redis or "memory://",
        storage_options=(
            {
                "key_prefix": settings.redis_prefix,
                "socket_timeout": _REDIS_TIMEOUT_S,
                "socket_connect_timeout": _REDIS_TIMEOUT_S,
            }
            if redis
            else {}
        ),
        # If Redis goes away, keep limiting (per process) rather than fail requests.
        in_memory_fallback_enabled=bool(redis),
        # Its own headers put Retry-After on every response and can show a reset in
        # the past; ours are written below.
        headers_enabled=False,
    )
    limiter.request_filter(lambda: _operation_id() in _EXEMPT_OPERATIONS)

    flask_app: flask.Flask = app.app

    @flask_app.after_request
    def add_rate_limit_headers(response: flask.Response) -> flask.Response:
        if "X-RateLimit-Limit" not in response.headers:
            _set_headers(response, limiter.current_limits)
        return response

    # Raised as a werkzeug exception the 429 would lose its headers on the way out
    # of Connexion; a Flask error handler returns a complete response instead.
    def too_many_requests(exc: RateLimitExceeded) -> flask.Response:
        return _too_many_requests(limiter, groups, exc)

    flask_app.register_error_handler(RateLimitExceeded, too_many_requests)
    logger.info(
        "rate limits: %s per caller, %s per address for logins, counted in %s",
        steady,
        login,
        "Redis" if redis else "this process's memory",
    )


def _steady_limits(rate: int, burst: int) -> str:
    if rate < 1 or burst < 0:
        raise ConfigurationError(
            "RATE_LIMIT must be at least 1 and RATE_LIMIT_BURST at least 0, "
            f"got {rate} and {burst}"
        )
    return f"{rate + burst} per 1 second; {10 * rate + burst} per 10 seconds"


def _checked_limit(name: str, value: str) -> str:
    try:
        parse_many(value)
    except ValueError:
        raise ConfigurationError(
            f"{name} must look like '10/minute' or '5 per 30 seconds', got {value!r}"
        ) from None
    return value


def _connexion_context() -> Mapping[str, Any]:
    try:
        found: Mapping[str, Any] = connexion_context.context
    except RuntimeError:  # a Flask route that is not a Connexion operation
        return {}
    return found


def _operation_id() -> str | None:
    try:
        return str(connexion_context.operation.operation_id)
    except RuntimeError:
        return None


def _client_address(proxies: Sequence[IPNetwork]) -> str:
    # One IPv6 client usually holds a whole /64; counting per address would let it
    # rotate through them.
    text = client_address(proxies)
    address = parse_ip(text)
    if address is not None and address.version == 6:
        return str(ipaddress.ip_network((address, _IPV6_CLIENT_PREFIX), strict=False))
    return text


def _set_headers(response: flask.Response, limits: Sequence[RequestLimit]) -> None:
    if not limits:
        return  # exempt, or not a handled operation
    try:
        # The breached limit, or else the one closest to refusing the next request.
        shown = min(limits, key=lambda lim: (not lim.breached, lim.remaining))
        remaining, reset_time = shown.remaining, shown.window.reset_time
    except Exception:
        # The counters were readable a moment ago; a response without the headers
        # is better than a failed request.
        logger.warning("could not read rate-limit counters for headers", exc_info=True)
        return
    _write_headers(response, shown.limit, remaining, reset_time)


def _write_headers(
    response: flask.Response, item: RateLimitItem, remaining: int, reset_time: float
) -> None:
    # A moving window frees a slot when its oldest counted request leaves it;
    # never report a moment in the past.
    reset = max(math.ceil(reset_time), math.ceil(time.time()))
    response.headers["X-RateLimit-Limit"] = str(item.amount)
    response.headers["X-RateLimit-Remaining"] = str(max(remaining, 0))
    response.headers["X-RateLimit-Reset"] = str(reset)


def _too_many_requests(
    limiter: Limiter,
    groups: Mapping[str, Sequence[RateLimitItem]],
    exc: RateLimitExceeded,
) -> flask.Response:
    breached = limiter.current_limit
    item, reset_time = exc.limit.limit, time.time() + exc.limit.limit.get_expiry()
    if breached is not None:
        try:
            item, reset_time = _binding_limit(limiter, breached, groups, exc)
        except Exception:
            # Fall back to a whole window: late but never too early.
            logger.warning("could not read rate-limit counters", exc_info=True)
    retry_after = max(1, math.ceil(reset_time - time.time()))
    rid = request_id()
    # flask-limiter already logs every breach at INFO; this adds the request id.
    logger.debug(
        "rate limit %s exceeded by %s (request %s); retry after %d s",
        item,
        breached.request_args[0] if breached else "?",
        rid,
        retry_after,
    )
    body = envelope(
        ErrorCode.RATE_LIMIT_EXCEEDED,
        f"Too many requests: the limit is {item}; retry after {retry_after} s",
        {"limit": str(item)},
        rid,
    )
    body["error"]["retry_after"] = retry_after
    response = flask.Response(
        json.dumps(body, separators=(",", ":")),
        status=429,
        mimetype="application/json",
    )
    response.headers["Retry-After"] = str(retry_after)
    _write_headers(response, item, 0, reset_time)
    return response


def _binding_limit(
    limiter: Limiter,
    breached: RequestLimit,
    groups: Mapping[str, Sequence[RateLimitItem]],
    exc: RateLimitExceeded,
) -> tuple[RateLimitItem, float]:
    # flask-limiter stops at the first breached window, but a sibling window of the
    # same counter may be exhausted for longer: Retry-After must cover both, or a
    # client that honours it is refused again.
    item, reset_time = breached.limit, breached.window.reset_time
    scope = exc.limit.scope if isinstance(exc.limit.scope, str) else ""
    for sibling in groups.get(scope, ()):
        stats = limiter.limiter.get_window_stats(sibling, *breached.request_args)
        if stats.remaining < 1 and stats.reset_time > reset_time:
            item, reset_time = sibling, stats.reset_time
    return item, reset_time
