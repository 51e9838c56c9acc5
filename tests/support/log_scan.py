"""Collect every log line the suite produces, to prove no secret is ever logged."""

from __future__ import annotations

import logging
import re
from pathlib import Path

# What a leaked credential looks like.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
API_KEY = re.compile(r"ltb_[A-Za-z0-9]{32}")
# The one line that prints a password on purpose: the generated admin password,
# shown once because there is no other way to learn it (README, "The two commands").
ONE_TIME_ADMIN_NOTICE = "Created user 'admin' with generated password"


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is not a leak
            self.handleError(record)


RECORDER = _Recorder()
SERVER_LOGS: list[Path] = []
# Passwords the tests use; any of them in a log line is a leak.
PASSWORDS: set[str] = set()


def install() -> None:
    """Record every log record of the test process, from DEBUG up."""
    root = logging.getLogger()
    root.addHandler(RECORDER)
    root.setLevel(logging.DEBUG)


def leaks() -> list[str]:
    """Every recorded or server log line that carries a secret."""
    lines = list(RECORDER.lines)
    for path in SERVER_LOGS:
        if path.exists():
            lines += path.read_text(errors="replace").splitlines()
    return [line for line in lines if _carries_secret(line)]


def _carries_secret(line: str) -> bool:
    if ONE_TIME_ADMIN_NOTICE in line:
        return False
    if JWT.search(line) or API_KEY.search(line):
        return True
    return any(password in line for password in PASSWORDS)
