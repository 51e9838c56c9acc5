"""`ltb bench` arguments: slips are usage errors (exit 2) before any request."""

from __future__ import annotations

import io
import subprocess
import sys

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


def test_an_empty_output_file_name_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # "" would otherwise mean stdout, as if -o had not been given.
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "export", "--server", SERVER, "--token", "t", "b1", "-o", ""])

    assert exit_.value.code == 2
    assert "argument --output/-o: an empty file name" in capsys.readouterr().err


def test_the_client_commands_hash_no_password_at_start() -> None:
    # The decoy hash for unknown users is the server's (made with an AuthService);
    # `ltb bench` imports app.auth.service for API_KEY_PREFIX only.
    probe = (
        "import app.cli, app.auth.service as s; "
        "print(s._unused_hash.cache_info().currsize)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert done.stdout.strip() == "0"


def test_an_empty_password_is_refused_before_any_login(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Standard input at its end (</dev/null): no password line. SERVER is never
    # reached, and a login there would say so instead.
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    code = main(["bench", "status", "--server", SERVER, "--username", "admin", "b1"])

    assert code == 1
    assert capsys.readouterr().err == (
        "ltb: no password for admin: type it at the prompt, or give it as the first "
        "line of standard input\n"
    )
