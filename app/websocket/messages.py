"""The messages of /ws (asyncapi/asyncapi.yaml): parsing what clients send, and
building what the server sends.

Every message is a JSON object with a ``type``. Parsing refuses anything that is
not exactly one of the client messages the document describes, so the session
code only ever sees well-formed requests.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app import jsontext
from app.events import Topic

MAX_TOPICS_PER_MESSAGE = 16
MAX_ID_LENGTH = 128


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` message."""

    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_TOPIC = "UNKNOWN_TOPIC"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"


class CloseCode:
    """WebSocket close codes the server uses (RFC 6455 section 7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the server is shutting down
    POLICY_VIOLATION = 1008  # refused: credentials, Origin, authentication
    TOO_BIG = 1009  # a frame over the size limit (closed by the server library)
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # a client too slow to read its events


class InvalidMessage(Exception):
    """A client message that is not one the document describes."""

    def __init__(self, code: ErrorCode, message: str, request_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True)
class Ping:
    timestamp: int | None


@dataclass(frozen=True)
class Auth:
    request_id: str
    token: str | None = field(repr=False)
    api_key: str | None = field(repr=False)


@dataclass(frozen=True)
class Subscribe:
    request_id: str
    topics: tuple[Topic, ...]
    benchmark_id: str | None


@dataclass(frozen=True)
class Unsubscribe:
    request_id: str
    topics: tuple[Topic, ...]


ClientMessage = Ping | Auth | Subscribe | Unsubscribe


def parse(text: str) -> ClientMessage:
    """The client message in a text frame; raises InvalidMessage."""
    try:
        body = jsontext.loads(text)
    except (jsontext.NonFiniteNumber, jsontext.TooDeep) as e:
        raise InvalidMessage(
            ErrorCode.INVALID_MESSAGE, f"Message is not acceptable JSON: {e}"
        ) from None
    except ValueError:
        raise InvalidMessage(ErrorCode.INVALID_MESSAGE, "Message is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidMessage(ErrorCode.INVALID_MESSAGE, "Message is not a JSON object")

    kind = body.get("type")
    request_id = _request_id(body)
    if kind == "ping":
        _only(body, {"type", "timestamp"}, request_id)
        timestamp = body.get("timestamp")
        if timestamp is not None and not _is_int(timestamp):
            raise _invalid("'timestamp' must be an integer (milliseconds)", request_id)
        return Ping(timestamp)
    if kind == "auth":
        return _auth(body, request_id)
    if kind == "subscribe":
        _only(body, {"type", "topics", "filter", "request_id"}, request_id)
        return Subscribe(
            request_id, _topics(body, request_id), _filter(body, request_id)
        )
    if kind == "unsubscribe":
        _only(body, {"type", "topics", "request_id"}, request_id)
        return Unsubscribe(request_id, _topics(body, request_id))
    if not isinstance(kind, str):
        raise _invalid("Message has no 'type'", request_id)
    raise _invalid(f"Unknown message type '{kind[:64]}'", request_id)


def ack(request_id: str, message: str, topics: list[str]) -> str:
    """The server's acknowledgement of an auth, subscribe or unsubscribe."""
    return _encode(
        {"type": "ack", "request_id": request_id, "message": message, "topics": topics}
    )


def error(code: ErrorCode, message: str, request_id: str | None = None) -> str:
    """An error; the connection stays open unless a close follows."""
    body: dict[str, Any] = {"type": "error", "code": str(code), "message": message}
    if request_id is not None:
        body["request_id"] = request_id
    return _encode(body)


def pong(timestamp: int | None) -> str:
    """The answer to a ping: its timestamp echoed, or the server's time."""
    return _encode(
        {"type": "pong", "timestamp": now_ms() if timestamp is None else timestamp}
    )


def event(payload: str) -> str:
    """An ``event`` message from a bus event's JSON (encoded once for all clients)."""
    return '{"type":"event",' + payload[1:]


def now_ms() -> int:
    """Milliseconds since the epoch, as every timestamp of /ws."""
    return int(time.time() * 1000)


def _auth(body: dict[str, Any], request_id: str) -> Auth:
    _only(body, {"type", "token", "api_key", "request_id"}, request_id)
    token, api_key = body.get("token"), body.get("api_key")
    if (token is None) == (api_key is None):
        raise _invalid("'auth' needs exactly one of 'token' or 'api_key'", request_id)
    for name, value in (("token", token), ("api_key", api_key)):
        if value is not None and (not isinstance(value, str) or not value):
            raise _invalid(f"'{name}' must be a non-empty string", request_id)
    return Auth(request_id, token, api_key)


def _topics(body: dict[str, Any], request_id: str) -> tuple[Topic, ...]:
    topics = body.get("topics")
    if (
        not isinstance(topics, list)
        or not topics
        or len(topics) > MAX_TOPICS_PER_MESSAGE
        or not all(isinstance(t, str) for t in topics)
    ):
        raise _invalid(
            f"'topics' must be a list of 1 to {MAX_TOPICS_PER_MESSAGE} topic names",
            request_id,
        )
    known = {str(t) for t in Topic}
    unknown = [t for t in topics if t not in known]
    if unknown:
        raise InvalidMessage(
            ErrorCode.UNKNOWN_TOPIC,
            f"Unknown topic '{unknown[0][:64]}'; topics are {', '.join(sorted(known))}",
            request_id,
        )
    return tuple(dict.fromkeys(Topic(t) for t in topics))


def _filter(body: dict[str, Any], request_id: str) -> str | None:
    if "filter" not in body:
        return None
    found = body["filter"]
    if not isinstance(found, dict) or set(found) != {"benchmark_id"}:
        raise _invalid('\'filter\' must be {"benchmark_id": "..."}', request_id)
    benchmark_id = found["benchmark_id"]
    if not isinstance(benchmark_id, str) or not 0 < len(benchmark_id) <= MAX_ID_LENGTH:
        raise _invalid("'filter.benchmark_id' must be a benchmark id", request_id)
    if Topic.BENCHMARK_PROGRESS not in body.get("topics", []):
        raise _invalid("'filter' applies to the topic benchmark.progress", request_id)
    return benchmark_id


def _request_id(body: dict[str, Any]) -> str:
    if "request_id" not in body:
        return f"req_{uuid.uuid4().hex[:16]}"
    given = body["request_id"]
    if isinstance(given, str) and 0 < len(given) <= MAX_ID_LENGTH:
        return given
    raise _invalid(
        f"'request_id' must be a string of 1 to {MAX_ID_LENGTH} characters", None
    )


def _only(body: dict[str, Any], allowed: set[str], request_id: str) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise _invalid(f"Unexpected field '{extra[0][:64]}'", request_id)


def _invalid(message: str, request_id: str | None) -> InvalidMessage:
    return InvalidMessage(ErrorCode.INVALID_MESSAGE, message, request_id)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def _encode(body: dict[str, Any]) -> str:
    # ASCII: a lone surrogate echoed from a client cannot make the frame unsendable.
    return json.dumps(body, separators=(",", ":"))
