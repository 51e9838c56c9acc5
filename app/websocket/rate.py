"""The per-connection message rate limit shared by /ws and the /graphql WebSocket."""

from __future__ import annotations

import time


class MessageRate:
    """A token bucket: ``rate`` messages per second on average, bursts of twice that.

    Each WebSocket connection keeps one (WS_MESSAGE_RATE); what happens to a
    message beyond it is the transport's choice (/ws answers RATE_LIMIT_EXCEEDED,
    /graphql closes the connection with 4429).
    """

    def __init__(self, rate: float) -> None:
        self._rate = float(rate)
        self._allowance = 2 * self._rate
        self._last_message = time.monotonic()

    def allow(self) -> bool:
        """Count one message; False when it is beyond the rate."""
        now = time.monotonic()
        elapsed = now - self._last_message
        self._allowance = min(2 * self._rate, self._allowance + elapsed * self._rate)
        self._last_message = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True
