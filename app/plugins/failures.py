"""How a plugin execution fails, as errors of the documented envelope.

The envelope has no code of its own for a failing plugin; each failure travels
with the nearest code and its own HTTP status (documented in openapi.yaml), and
``details.reason`` says exactly what happened.
"""

from __future__ import annotations

from typing import Any

from app.errors import ErrorCode, LTBError


class PluginFailed(LTBError):
    """A plugin execution that did not produce a usable output."""

    reason = "failed"

    def __init__(self, plugin_id: str, message: str, **details: Any) -> None:
        super().__init__(
            message, details={"plugin_id": plugin_id, "reason": self.reason, **details}
        )


class PluginRaised(PluginFailed):
    """The plugin's execute raised: it refused this input (422)."""

    code = ErrorCode.BAD_REQUEST
    reason = "raised"

    def __init__(self, plugin_id: str, message: str, **details: Any) -> None:
        super().__init__(plugin_id, message, **details)
        self._status = 422


class PluginBroke(PluginFailed):
    """The plugin's process crashed, exited or answered nonsense (502)."""

    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(
        self, plugin_id: str, message: str, reason: str = "crashed", **details: Any
    ) -> None:
        self.reason = reason
        super().__init__(plugin_id, message, **details)
        self._status = 502


class PluginTimedOut(PluginFailed):
    """The plugin ran past its time limit and was killed (504)."""

    code = ErrorCode.SERVICE_UNAVAILABLE
    reason = "timeout"

    def __init__(self, plugin_id: str, message: str, **details: Any) -> None:
        super().__init__(plugin_id, message, **details)
        self._status = 504
