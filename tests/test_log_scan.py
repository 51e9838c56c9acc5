"""After the whole suite: no log line holds a password, a JWT or an API key."""

from __future__ import annotations

import pytest

from tests.support import log_scan


@pytest.mark.log_scan
def test_no_log_line_of_the_suite_contains_a_secret() -> None:
    leaked = log_scan.leaks()

    assert log_scan.RECORDER.lines, "the recorder saw no log line at all"
    assert leaked == [], "\n".join(leaked[:20])
