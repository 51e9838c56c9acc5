"""Subscriptions over the graphql-transport-ws protocol on the /graphql WebSocket.

The protocol (github.com/enisdenjo/graphql-ws, PROTOCOL.md) in brief: the client
sends ``connection_init`` with a payload, the server answers ``connection_ack``;
then each ``subscribe`` (with an id) gets ``next`` messages and a ``complete``, or
one ``error``; either side may ``complete`` an operation early; ``ping``/``pong``
keep the connection alive. Misbehaviour closes the socket with a 44xx code; so
does a client sending more than WS_MESSAGE_RATE messages per second (bursts of
twice that, the same limit as /ws), as the protocol has no reply for it.

Ariadne's GraphQLTransportWSHandler was not used as it is: it closes a refused
connection_init with 1000 instead of 4403, runs queries and mutations sent over
the socket through the async executor (our resolvers are blocking, and such
operations would skip the HTTP rate limit), and lets a non-JSON frame end the
connection with an exception. This handler speaks the same protocol and leaves
execution to Ariadne's ``subscribe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncGenerator, Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

from ariadne import subscribe
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from app import jsontext
from app.auth.permissions import authorize
from app.auth.service import Principal, refuse_several_credentials
from app.errors import ErrorCode, LTBError, NotFound
from app.graphql.context import GraphQLContext
from app.graphql.errors import ErrorLog, format_error
from app.graphql.execution import validation_rules
from app.graphql.permissions import GRAPHQL_OPERATION
from app.graphql.schema import executable_schema
from app.observability.metrics import OPEN_WEBSOCKETS
from app.rest.context import runtime_of_scope
from app.runtime import Runtime
from app.settings import Settings
from app.websocket.rate import MessageRate

logger = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"
SUBPROTOCOL = "graphql-transport-ws"

# Message types, by direction.
CONNECTION_INIT = "connection_init"  # client -> server: credentials in payload
CONNECTION_ACK = "connection_ack"  # server -> client: authenticated
PING = "ping"  # either way: are you there?
PONG = "pong"  # either way: the answer to ping
SUBSCRIBE = "subscribe"  # client -> server: start an operation
NEXT = "next"  # server -> client: one result of an operation
ERROR = "error"  # server -> client: the operation failed before any result
COMPLETE = "complete"  # either way: the operation is over

# Close codes of the protocol, sent by the server.
CLOSE_BAD_MESSAGE = 4400  # a message that is not JSON or not of a known shape
CLOSE_UNAUTHORIZED = 4401  # subscribe before the connection was acknowledged
CLOSE_FORBIDDEN = 4403  # connection_init refused: no or a bad credential, or role
CLOSE_SUBPROTOCOL = 4406  # the client did not offer graphql-transport-ws
CLOSE_INIT_TIMEOUT = 4408  # no connection_init in time
CLOSE_DUPLICATE_ID = 4409  # subscribe with the id of a running operation
CLOSE_TOO_MANY_INITS = 4429  # a second connection_init
# Not of the protocol: the same "too many" code, told apart by its reason.
CLOSE_TOO_MANY_MESSAGES = 4429  # more than WS_MESSAGE_RATE messages per second

CONNECTION_INIT_TIMEOUT_S = 10.0
# Running operations per connection: each holds an event listener and a queue.
MAX_OPERATIONS = 16


class GraphQLGateMiddleware:
    """ASGI middleware for /graphql outside Connexion's HTTP routing.

    A WebSocket to /graphql is served here; every other scope goes on. With
    ENABLE_GRAPHQL=false, HTTP requests to /graphql (and its assets) are a 404 in
    the envelope and the WebSocket is refused.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        ours = path == GRAPHQL_PATH or path.startswith(GRAPHQL_PATH + "/")
        if not ours:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send, path)
        elif scope["type"] == "http" and not self.settings.enable_graphql:
            raise NotFound("No such endpoint")
        else:
            await self.app(scope, receive, send)

    async def _websocket(
        self, scope: Scope, receive: Receive, send: Send, path: str
    ) -> None:
        websocket = WebSocket(scope, receive, send)
        if path != GRAPHQL_PATH or not self.settings.enable_graphql:
            await websocket.close()  # before accepting: the handshake fails (403)
            return
        if not origin_allowed(scope, self.settings.cors_origins):
            logger.info("GraphQL WebSocket refused: origin not allowed")
            await websocket.close()
            return
        if scope.get("query_string"):
            # As on /ws: a credential there would be written to access logs.
            logger.info("GraphQL WebSocket refused: a query string")
            await websocket.close()
            return
        await TransportWSConnection(websocket, runtime_of_scope(scope)).serve()


def origin_allowed(scope: Scope, cors_origins: tuple[str, ...]) -> bool:
    """Whether a browser's Origin may open the socket: CORS_ORIGINS or same-origin.

    Browsers send no CORS preflight for WebSockets, so the check is ours; clients
    that are not browsers send no Origin and are judged by their credentials.
    """
    headers = {key.lower(): value for key, value in scope.get("headers", [])}
    origin = headers.get(b"origin")
    if origin is None:
        return True
    text = origin.decode("latin-1")
    if "*" in cors_origins or text in cors_origins:
        return True
    host = headers.get(b"host", b"").decode("latin-1")
    return bool(host) and urlsplit(text).netloc == host


class TransportWSConnection:
    """One client's connection: its state and its running operations."""

    def __init__(self, websocket: WebSocket, runtime: Runtime) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.connection_id = str(uuid.uuid4())
        self.principal: Principal | None = None
        self.credentials: Any = None
        self.init_received = False
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.send_lock = asyncio.Lock()
        self.rate = MessageRate(runtime.settings.ws_message_rate)

    async def serve(self) -> None:
        """Accept, then handle messages until either side closes."""
        offered = self.websocket.scope.get("subprotocols") or []
        if SUBPROTOCOL not in offered:
            await self.websocket.accept()
            await self.websocket.close(CLOSE_SUBPROTOCOL, "Subprotocol not acceptable")
            return
        await self.websocket.accept(SUBPROTOCOL)
        OPEN_WEBSOCKETS.labels("/graphql").inc()
        try:
            await self._first_message()
            while True:
                await self._handle(await self._receive())
        except (WebSocketDisconnect, _Closed):
            pass
        finally:
            OPEN_WEBSOCKETS.labels("/graphql").dec()
            for task in self.operations.values():
                task.cancel()
            await asyncio.gather(*self.operations.values(), return_exceptions=True)

    async def _first_message(self) -> None:
        try:
            text = await asyncio.wait_for(self._receive(), CONNECTION_INIT_TIMEOUT_S)
        except TimeoutError:
            await self._close(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout")
        await self._handle(text)

    async def _receive(self) -> str | None:
        """The next text frame; None for a binary one, which the protocol never uses."""
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text: str | None = message.get("text")
        return text

    async def _handle(self, text: str | None) -> None:
        if not self.rate.allow():
            await self._close(CLOSE_TOO_MANY_MESSAGES, "Too many messages")
        message = _message(text)
        if message is None:
            await self._close(CLOSE_BAD_MESSAGE, "Invalid message")
        kind = message["type"]
        if kind == CONNECTION_INIT:
            await self._connection_init(message.get("payload"))
        elif kind == PING:
            await self._send({"type": PONG})
        elif kind == PONG:
            return
        elif kind == SUBSCRIBE:
            await self._subscribe(message)
        elif kind == COMPLETE:
            task = self.operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            await self._close(CLOSE_BAD_MESSAGE, f"Unknown message type {kind!r}")

    async def _connection_init(self, payload: Any) -> None:
        if self.init_received:
            await self._close(CLOSE_TOO_MANY_INITS, "Too many initialisation requests")
        self.init_received = True
        self.principal = await self._admitted(payload)
        self.credentials = payload
        await self._send({"type": CONNECTION_ACK})

    async def _admitted(self, credentials: Any) -> Principal:
        """The principal of the credentials, or the connection closes with 4403."""
        try:
            principal = await self._authenticate(credentials)
            authorize(GRAPHQL_OPERATION, principal.role)
        except LTBError as e:
            logger.info("GraphQL WebSocket refused: %s %r", e.code, e.message)
            await self._close(CLOSE_FORBIDDEN, "Forbidden")
        return principal

    async def _authenticate(self, payload: Any) -> Principal:
        auth = self.runtime.auth
        # Names differing only in case ("Authorization", "authorization") are the
        # same credential given twice: refused, as two headers are on REST.
        refuse_several_credentials(
            _values_named(payload, "authorization"), _values_named(payload, "x-api-key")
        )
        credentials = _credentials(payload)
        bearer = credentials.get("authorization", "")
        scheme, _, token = bearer.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return await asyncio.to_thread(auth.principal_from_token, token.strip())
        api_key = credentials.get("x-api-key", "")
        if api_key:
            return await asyncio.to_thread(auth.principal_from_api_key, api_key)
        raise LTBError(
            "connection_init needs Authorization or X-API-Key in its payload",
            code=ErrorCode.UNAUTHORIZED,
        )

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if self.principal is None:
            await self._close(CLOSE_UNAUTHORIZED, "Unauthorized")
        operation_id = message.get("id")
        if not isinstance(operation_id, str) or not operation_id:
            await self._close(CLOSE_BAD_MESSAGE, "Invalid message: no id")
        if operation_id in self.operations:
            await self._close(
                CLOSE_DUPLICATE_ID, f"Subscriber for {operation_id} already exists"
            )
        refusal = _refusal(message.get("payload"), len(self.operations))
        if refusal is not None:
            await self._send_error(operation_id, [refusal])
            return

        # As over HTTP, a disabled user, a changed role or a revoked or expired
        # credential counts from the next operation on, not from the next connection.
        self.principal = await self._admitted(self.credentials)
        self.operations[operation_id] = asyncio.create_task(
            self._run(operation_id, message["payload"], self.principal)
        )

    async def _run(
        self, operation_id: str, payload: dict[str, Any], principal: Principal
    ) -> None:
        context = GraphQLContext(
            self.runtime, principal, self.connection_id, self._peer()
        )
        settings = self.runtime.settings
        success, results = await subscribe(
            executable_schema(),
            payload,
            context_value=context,
            introspection=settings.graphql_introspection,
            validation_rules=validation_rules(settings, payload.get("variables")),
            error_formatter=format_error,
            logger=ErrorLog(self.connection_id),
        )
        try:
            if isinstance(results, list):
                await self._send_error(operation_id, results)
            elif success:
                await self._stream(operation_id, results)
        finally:
            self.operations.pop(operation_id, None)

    async def _stream(
        self, operation_id: str, generator: AsyncGenerator[Any, None]
    ) -> None:
        log = ErrorLog(self.connection_id)
        try:
            async for result in generator:
                payload: dict[str, Any] = {"data": result.data}
                if result.errors:
                    for error in result.errors:
                        log.error(error)
                    payload["errors"] = [format_error(e) for e in result.errors]
                await self._send({"type": NEXT, "id": operation_id, "payload": payload})
        except Exception as e:
            # The source failed mid-stream (the database went away): the protocol's
            # error message ends the operation; unexpected causes stay masked.
            error = (
                e
                if isinstance(e, GraphQLError)
                else GraphQLError(str(e), original_error=e)
            )
            log.error(error)
            await self._send_error(operation_id, [error])
            return
        finally:
            await generator.aclose()
        await self._send({"type": COMPLETE, "id": operation_id})

    async def _send_error(self, operation_id: str, errors: list[Any]) -> None:
        formatted = [
            format_error(e) if isinstance(e, GraphQLError) else e for e in errors
        ]
        await self._send({"type": ERROR, "id": operation_id, "payload": formatted})

    async def _send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.websocket.send_text(
                    json.dumps(message, separators=(",", ":"))
                )

    async def _close(self, code: int, reason: str) -> NoReturn:
        # Closing ends the connection; _Closed unwinds serve() from anywhere.
        async with self.send_lock:
            with contextlib.suppress(RuntimeError):
                await self.websocket.close(code, reason)
        raise _Closed

    def _peer(self) -> str:
        client = self.websocket.scope.get("client")
        return str(client[0]) if client else "unknown"


class _Closed(Exception):
    """The server closed the connection; stop serving it."""


def _message(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        message = jsontext.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message


def _credentials(payload: Any) -> dict[str, str]:
    # Header names are case-insensitive over HTTP; keep them so here.
    if not isinstance(payload, Mapping):
        return {}
    return {
        str(key).lower(): value
        for key, value in payload.items()
        if isinstance(value, str)
    }


def _values_named(payload: Any, name: str) -> list[str]:
    """Every string value of ``payload`` under ``name``, in any letter case."""
    if not isinstance(payload, Mapping):
        return []
    return [
        value
        for key, value in payload.items()
        if str(key).lower() == name and isinstance(value, str)
    ]


def _refusal(payload: Any, running: int) -> GraphQLError | None:
    """Why a subscribe payload cannot run, or None when it can."""
    if running >= MAX_OPERATIONS:
        return GraphQLError(
            f"At most {MAX_OPERATIONS} operations may run on one connection"
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return GraphQLError("The payload must be an object with a 'query' string")
    try:
        document = parse(payload["query"])
    except GraphQLError as e:
        return e
    except RecursionError:
        return GraphQLError("The GraphQL document is nested too deeply")
    name = payload.get("operationName")
    operation = get_operation_ast(document, name if isinstance(name, str) else None)
    if operation is not None and operation.operation != OperationType.SUBSCRIPTION:
        return GraphQLError(
            "Only subscriptions run over the WebSocket; send queries and "
            "mutations to POST /graphql"
        )
    return None
