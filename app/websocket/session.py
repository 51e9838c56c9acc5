"""One client's session on /ws: admission, authentication, then its messages.

Admission happens before anything else: a credential in the query string (it
would be written to access logs) and a browser Origin that CORS_ORIGINS does not
allow are refused. Then the client authenticates, by header, by the results
page's session cookie (from a page of this server only), or by an ``auth``
message within a few seconds; before that only ``auth`` and ``ping`` are
accepted. Every message the server sends goes through the connection's outbox, so
replies and events keep their order and a stuck client costs bounded memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from asyncio import FIRST_COMPLETED
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from app.auth.permissions import authorize_topic
from app.auth.service import Principal, refuse_several_credentials
from app.errors import Forbidden, Unauthorized
from app.pages.session import WS_COOKIE, same_origin
from app.runtime import Runtime
from app.websocket import messages
from app.websocket.hub import CLOSE_TIMEOUT_S, Connection, Hub, close_quietly
from app.websocket.messages import CloseCode, ErrorCode, InvalidMessage
from app.websocket.rate import MessageRate

logger = logging.getLogger(__name__)


class Session:
    """Serves one WebSocket connection until either side closes it."""

    def __init__(self, websocket: WebSocket, runtime: Runtime, hub: Hub) -> None:
        self.ws = websocket
        self.runtime = runtime
        self.settings = runtime.settings
        self.hub = hub
        self.connection = Connection(
            uuid.uuid4().hex[:12], websocket.send_text, self.settings.ws_queue_size
        )
        self.principal: Principal | None = None
        # Kept to check again later (a key revoked, a user disabled, a token expired).
        self._credential: tuple[str, str] | None = None
        # Beyond the rate, messages get RATE_LIMIT_EXCEEDED.
        self._rate = MessageRate(self.settings.ws_message_rate)

    async def run(self) -> None:
        """Admit, authenticate and serve the client; returns when it is gone."""
        refusal = self._admission_refusal()
        await self.ws.accept()
        if refusal is not None:
            await self._refuse(ErrorCode.UNAUTHORIZED, refusal)
            return

        sender = asyncio.create_task(self.connection.send_forever())
        serving = asyncio.create_task(self._serve())
        closing = asyncio.create_task(self.connection.must_close.wait())
        self.hub.add(self.connection)
        try:
            await asyncio.wait({serving, closing}, return_when=FIRST_COMPLETED)
        finally:
            self.hub.remove(self.connection)
            for task in (serving, closing, sender):
                task.cancel()
            await asyncio.gather(serving, closing, sender, return_exceptions=True)
        if self.connection.must_close.is_set():
            # Too slow to read (1013) or gone: a stuck client may not even take the
            # close frame, so the session ends whether or not it was sent.
            await close_quietly(self.ws.close, self.connection.close_code)

    async def _serve(self) -> None:
        try:
            if await self._authenticate_by_header():
                await self._serve_messages()
        except WebSocketDisconnect:
            pass

    def _admission_refusal(self) -> str | None:
        if self.ws.scope.get("query_string"):
            return (
                "The query string is refused on /ws (it would be logged): send the "
                "credential in the Authorization or X-API-Key header, or in an "
                "'auth' message"
            )
        origin = self.ws.headers.get("origin")
        if origin is not None and not self._origin_allowed(origin):
            return f"Origin '{origin[:200]}' is not allowed (see CORS_ORIGINS)"
        return None

    def _origin_allowed(self, origin: str) -> bool:
        allowed = self.settings.cors_origins
        if "*" in allowed or origin in allowed:
            return True
        # A page of this server itself (same host and port) may always connect.
        host = self.ws.headers.get("host", "")
        return bool(host) and urlsplit(origin).netloc == host

    async def _authenticate_by_header(self) -> bool:
        # Blank values count as none, as on REST (a client blanking a default).
        headers = [v for v in self.ws.headers.getlist("authorization") if v.strip()]
        api_keys = [v for v in self.ws.headers.getlist("x-api-key") if v.strip()]
        if not headers and not api_keys:
            page_token = self._page_session()
            if page_token is None:
                return True  # an 'auth' message must follow
            return await self._authenticate(("token", page_token), None)
        try:
            refuse_several_credentials(headers, api_keys)
        except Unauthorized as e:
            await self._refuse(ErrorCode.UNAUTHORIZED, e.message)
            return False
        if headers:
            scheme, _, token = headers[0].partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                await self._refuse(
                    ErrorCode.UNAUTHORIZED, "Authorization must be 'Bearer <token>'"
                )
                return False
            credential = ("token", token.strip())
        else:
            credential = ("api_key", api_keys[0])
        return await self._authenticate(credential, None)

    def _page_session(self) -> str | None:
        """The results page's session cookie, from a page of this server only.

        A cookie is ambient: any page could open a socket and have the browser
        attach it (cross-site WebSocket hijacking). So it counts only when the
        handshake's Origin is this server itself, whatever CORS_ORIGINS allows;
        the cookie is also SameSite=Strict and Path=/ws, and what it opens is
        read-only (the topics its user's role may subscribe to).
        """
        token = self.ws.cookies.get(WS_COOKIE)
        if not token or not same_origin(
            self.ws.headers.get("origin"), self.ws.headers.get("host")
        ):
            return None
        return token

    async def _authenticate(
        self, credential: tuple[str, str], request_id: str | None
    ) -> bool:
        try:
            principal = await asyncio.to_thread(self._principal, credential)
        except Unauthorized as e:
            await self._refuse(ErrorCode.UNAUTHORIZED, e.message, request_id)
            return False
        self.principal = principal
        self._credential = credential
        logger.info(
            "websocket %s authenticated as %s (%s)",
            self.connection.id,
            principal.username,
            principal.role,
        )
        return True

    def _principal(self, credential: tuple[str, str]) -> Principal:
        kind, secret = credential
        if kind == "token":
            return self.runtime.auth.principal_from_token(secret)
        return self.runtime.auth.principal_from_api_key(secret)

    async def _serve_messages(self) -> None:
        auth_deadline = time.monotonic() + self.settings.ws_auth_timeout_s
        recheck_at = time.monotonic() + self.settings.ws_reauth_interval_s
        while True:
            now = time.monotonic()
            wait = (auth_deadline if self.principal is None else recheck_at) - now
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                # cancellation that arrives as the frame does.
                async with asyncio.timeout(max(wait, 0.0)):
                    frame = await self.ws.receive()
            except TimeoutError:
                if self.principal is None:
                    await self._refuse(
                        ErrorCode.UNAUTHORIZED,
                        "No 'auth' message within "
                        f"{self.settings.ws_auth_timeout_s:g} seconds",
                    )
                    return
                if not await self._still_authorized():
                    return
                recheck_at = time.monotonic() + self.settings.ws_reauth_interval_s
                continue
            if frame["type"] == "websocket.disconnect":
                return
            if not await self._handle_frame(frame):
                return

    async def _handle_frame(self, frame: Mapping[str, Any]) -> bool:
        """Answer one frame; False once the connection is closed."""
        if not self._rate.allow():
            self._reply(
                messages.error(ErrorCode.RATE_LIMIT_EXCEEDED, "Too many messages")
            )
            return True
        text = frame.get("text")
        if not isinstance(text, str):
            self._reply(
                messages.error(
                    ErrorCode.INVALID_MESSAGE,
                    "Binary frames are refused: send JSON text",
                )
            )
            return True
        try:
            message = messages.parse(text)
        except InvalidMessage as e:
            self._reply(messages.error(e.code, e.message, e.request_id))
            return True
        return await self._handle(message)

    async def _handle(self, message: messages.ClientMessage) -> bool:
        if isinstance(message, messages.Ping):
            self._reply(messages.pong(message.timestamp))
            return True
        if isinstance(message, messages.Auth):
            if self.principal is not None:
                self._reply(
                    messages.error(
                        ErrorCode.INVALID_MESSAGE,
                        "Already authenticated",
                        message.request_id,
                    )
                )
                return True
            credential = (
                ("token", message.token)
                if message.token is not None
                else ("api_key", message.api_key or "")
            )
            if not await self._authenticate(credential, message.request_id):
                return False
            assert self.principal is not None
            self._reply(
                messages.ack(
                    message.request_id,
                    f"Authenticated as {self.principal.username} "
                    f"({self.principal.role})",
                    self._topics(),
                )
            )
            return True
        if self.principal is None:
            self._reply(
                messages.error(
                    ErrorCode.UNAUTHORIZED,
                    "Authenticate first: send an 'auth' message",
                    message.request_id,
                )
            )
            return True
        if isinstance(message, messages.Subscribe):
            self._subscribe(message)
        else:
            self._unsubscribe(message)
        return True

    def _subscribe(self, message: messages.Subscribe) -> None:
        assert self.principal is not None
        try:
            for topic in message.topics:
                authorize_topic(topic, self.principal.role)
        except Forbidden as e:
            self._reply(
                messages.error(ErrorCode.FORBIDDEN, e.message, message.request_id)
            )
            return
        connection = self.connection
        for topic in message.topics:
            if topic == "benchmark.progress":
                if message.benchmark_id is None:
                    connection.benchmark_ids.clear()  # every benchmark
                elif topic not in connection.topics or connection.benchmark_ids:
                    connection.benchmark_ids.add(message.benchmark_id)
            connection.topics.add(topic)
        count = len(message.topics)
        self._reply(
            messages.ack(
                message.request_id,
                f"Subscribed to {count} topic{'s' if count != 1 else ''}",
                self._topics(),
            )
        )

    def _unsubscribe(self, message: messages.Unsubscribe) -> None:
        # The count says what changed: a topic not subscribed to is not counted.
        count = 0
        for topic in message.topics:
            if topic in self.connection.topics:
                count += 1
                self.connection.topics.discard(topic)
            if topic == "benchmark.progress":
                self.connection.benchmark_ids.clear()
        self._reply(
            messages.ack(
                message.request_id,
                f"Unsubscribed from {count} topic{'s' if count != 1 else ''}",
                self._topics(),
            )
        )

    async def _still_authorized(self) -> bool:
        assert self._credential is not None
        try:
            principal = await asyncio.to_thread(self._principal, self._credential)
        except Unauthorized as e:
            await self._refuse(ErrorCode.UNAUTHORIZED, e.message)
            return False
        # A role lowered since: drop the topics it no longer allows.
        for topic in list(self.connection.topics):
            try:
                authorize_topic(topic, principal.role)
            except Forbidden:
                self.connection.topics.discard(topic)
        self.principal = principal
        return True

    def _topics(self) -> list[str]:
        return sorted(self.connection.topics)

    def _reply(self, text: str) -> None:
        # A full outbox asks for a close (1013), which ends the session.
        self.connection.offer(text)

    async def _refuse(
        self, code: ErrorCode, message: str, request_id: str | None = None
    ) -> None:
        """Say why, then close with 1008 (policy violation)."""
        logger.info("websocket %s refused: %s", self.connection.id, code)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.ws.send_text(messages.error(code, message, request_id))
        await close_quietly(self.ws.close, CloseCode.POLICY_VIOLATION)
