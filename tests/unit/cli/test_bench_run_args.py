"""`ltb bench run` refuses counts below 1 as a usage error, before any request."""

from __future__ import annotations

import pytest

from app.cli import main

SERVER = "http://127.0.0.1:9"  # never reached: parsing fails first


@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("--iterations", "0", "must be at least 1, got 0"),
        ("--repeats", "-2", "must be at least 1, got -2"),
        ("--concurrency", "four", "not a whole number: 'four'"),
    ],
)
def test_a_count_below_one_is_a_usage_error(
    option: str, value: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "run", "--server", SERVER, "--token", "t", "--dataset", "d"]
    argv += ["--target", "fake:m", option, value]

    with pytest.raises(SystemExit) as exit_:
        main(argv)

    assert exit_.value.code == 2
    assert f"argument {option}: {why}" in capsys.readouterr().err
