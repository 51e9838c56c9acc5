"""Turning what an upstream said, or failed to say, into a ProviderError."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from app.providers.base import ProviderError, ProviderRejected, ProviderUnavailable

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 300
REDACTED = "[redacted]"


def logged(error: ProviderError) -> ProviderError:
    """Log a failed call at the level its outcome deserves and return the error."""
    # A rejected request is the caller's to fix; the rest degrade the service.
    level = logging.INFO if isinstance(error, ProviderRejected) else logging.WARNING
    logger.log(level, "provider %s call failed: %s", error.provider, error.message)
    return error


def missing_key(provider: str, env_var: str) -> ProviderUnavailable:
    """The provider needs a key and the variable that should hold it is unset."""
    return ProviderUnavailable(
        f"Provider '{provider}' is not configured: environment variable {env_var} "
        "is unset or empty",
        provider=provider,
        details={"reason": "not_configured", "api_key_env": env_var},
    )


def from_status(
    provider: str, status: int, body: object, secret: str | None
) -> ProviderError:
    """The upstream answered with an error status (after the SDK's retries)."""
    message = upstream_message(body, secret)
    details: dict[str, object] = {"upstream_status": status}
    if message:
        details["upstream_message"] = message
    if status == 429:
        return ProviderUnavailable(
            f"Provider '{provider}' is rate limiting requests (HTTP 429)",
            provider=provider,
            details={"reason": "rate_limited", **details},
        )
    if status in (401, 403):
        # The key is the server's (its providers file and environment), not the
        # caller's: the operator must fix it, as a missing key (missing_key).
        suffix = f": {message}" if message else ""
        return ProviderUnavailable(
            f"Provider '{provider}' refused this server's credentials (HTTP "
            f"{status}){suffix}",
            provider=provider,
            details={"reason": "credentials_refused", **details},
        )
    # 408 is the upstream giving up on us, like our own timeout; < 400 covers an
    # unfollowed redirect, which no retry or request change will cure either.
    if status >= 500 or status == 408 or status < 400:
        return ProviderUnavailable(
            f"Provider '{provider}' failed with HTTP {status}",
            provider=provider,
            details={"reason": "upstream_error", **details},
        )
    suffix = f": {message}" if message else ""
    return ProviderRejected(
        f"Provider '{provider}' rejected the request (HTTP {status}){suffix}",
        provider=provider,
        details={"reason": "rejected", **details},
    )


def unreachable(
    provider: str,
    *,
    timed_out: bool,
    timeout_s: float,
    cause: BaseException,
    attempts: int = 1,
) -> ProviderUnavailable:
    """No usable reply arrived: refused, reset, unresolvable, or too slow."""
    if timed_out:
        # Each attempt waits the full timeout: say so, or the wait looks wrong.
        tries = f" on any of {attempts} attempts" if attempts > 1 else ""
        message = f"Provider '{provider}' did not reply within {timeout_s:g} s{tries}"
    else:
        message = f"Provider '{provider}' is unreachable"
    return ProviderUnavailable(
        message,
        provider=provider,
        details={
            "reason": "timeout" if timed_out else "unreachable",
            # The class name only: transport error texts can quote request headers.
            "cause": type(_root_cause(cause)).__name__,
        },
    )


def invalid_response(provider: str, problem: str) -> ProviderUnavailable:
    """The upstream replied with something that is not a usable completion."""
    return ProviderUnavailable(
        f"Provider '{provider}' sent an unusable response: {problem}",
        provider=provider,
        details={"reason": "invalid_response"},
    )


def unusable_reply(provider: str, exc: Exception) -> ProviderError:
    """A reply that parsed as HTTP but not as a completion (bad JSON, types, counts).

    Only the exception's class is reported: its text can quote the upstream body.
    """
    return logged(invalid_response(provider, type(exc).__name__))


def upstream_message(body: object, secret: str | None) -> str | None:
    """Return the upstream's own short error message, with the key redacted."""
    text = _message_of(body)
    if not text:
        return None
    # Redact before trimming so that no prefix of the key can survive the cut.
    if secret:
        text = text.replace(secret, REDACTED)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text or None


def _message_of(body: object) -> str | None:
    """Find the message in the error shapes of OpenAI, Anthropic and local servers."""
    if isinstance(body, str):
        return body
    if not isinstance(body, Mapping):
        return None
    error = body.get("error", body)
    if isinstance(error, str):
        return error
    if isinstance(error, Mapping):
        for field in ("message", "detail"):
            value = error.get(field)
            if isinstance(value, str):
                return value
    return None


def _root_cause(error: BaseException) -> BaseException:
    """Follow __cause__ to the transport error that started it all."""
    seen: set[int] = set()
    while error.__cause__ is not None and id(error) not in seen:
        seen.add(id(error))
        error = error.__cause__
    return error
