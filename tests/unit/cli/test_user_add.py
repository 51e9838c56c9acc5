"""`ltb user add` creates a user whose password can log in, from a pipe too, and
only a user the API would create."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft4Validator

from app.auth import user_rules
from app.auth.permissions import Role
from app.auth.service import AuthService
from app.cli import main
from app.errors import BadRequest
from app.store.database import Database

LTB = Path(sys.executable).parent / "ltb"


def test_a_password_piped_on_stdin_creates_a_working_user(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in {"LTB_NEW_USER_PASSWORD"}
    } | {"LTB_DATA_DIR": str(tmp_path), "JWT_SECRET": "j" * 40}

    result = subprocess.run(
        [str(LTB), "user", "add", "piper", "--role", "viewer"],
        input="piped-password-1234\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "created user piper with role viewer" in result.stdout
    db = Database(f"sqlite:///{tmp_path / 'ltb.sqlite3'}")
    token, _ = AuthService(db, "j" * 40, 60).login("piper", "piped-password-1234")
    db.dispose()
    assert token.count(".") == 2


# `ltb user add` holds a new user to the API's rules (openapi.yaml, UserCreate):
# a name the API refuses could be a look-alike of another ('admin ') or could
# never log in (longer than LoginRequest allows).

SPEC = Path(__file__).resolve().parents[3] / "openapi" / "openapi.yaml"
PASSWORD = "new-user-password-1"
ADMIN_PASSWORD = "chosen-admin-password-1"
JWT_SECRET = "j" * 40
ALLOWED = "use letters A-Z and a-z, digits, and . _ @ -"


class _NoStdin(io.StringIO):
    """Standard input that fails the test if anything reads a password from it."""

    def readline(self, *_args: object) -> str:
        raise AssertionError("a password was asked for")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An embedded-mode server's data directory, not created yet."""
    for name in ("DATABASE_URL", "LTB_NEW_USER_PASSWORD", "LTB_ENV", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("LTB_DATA_DIR", str(data))
    monkeypatch.setenv("JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("LTB_ADMIN_PASSWORD", ADMIN_PASSWORD)
    return data


def piped_password(monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))


def login(data: Path, username: str, password: str) -> str:
    db = Database(f"sqlite:///{data / 'ltb.sqlite3'}")
    try:
        token, _ = AuthService(db, JWT_SECRET, 60).login(username, password)
    finally:
        db.dispose()
    return token


@pytest.mark.parametrize(
    ("username", "why"),
    [
        ("", "invalid username '': a username cannot be empty"),
        ("a b", f"invalid username 'a b': ' ' is not allowed; {ALLOWED}"),
        ("../x", f"invalid username '../x': '/' is not allowed; {ALLOWED}"),
        ("admin ", f"invalid username 'admin ': ' ' is not allowed; {ALLOWED}"),
        # JSON Schema's $ (ECMA-262) does not match before a final newline.
        ("admin\n", f"invalid username 'admin\\n': '\\n' is not allowed; {ALLOWED}"),
        ("zoë", f"invalid username 'zoë': 'ë' is not allowed; {ALLOWED}"),
        (
            "a" * 201,
            f"invalid username '{'a' * 40}'...: it has 201 characters, "
            "at most 200 are allowed",
        ),
        (
            "a" * 300,
            f"invalid username '{'a' * 40}'...: it has 300 characters, "
            "at most 200 are allowed",
        ),
    ],
)
def test_a_username_the_api_refuses_is_refused_before_anything_is_asked_or_made(
    username: str,
    why: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", _NoStdin())

    refused = main(["user", "add", username])

    assert refused == 2
    assert capsys.readouterr() == ("", f"ltb: {why}\n")
    # No database, no JWT secret: nothing at all was created.
    assert not data_dir.exists()


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("p" * 11, "Passwords must have at least 12 characters"),
        ("p" * 1025, "Passwords must have at most 1024 characters"),
        ("password-with-\x00-nul", "Passwords cannot contain a NUL character"),
        ("password-\udcff-not-utf8", "Passwords must be UTF-8 text"),
    ],
)
def test_a_password_the_api_refuses_is_refused_and_never_shown(
    password: str,
    why: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    piped_password(monkeypatch, password)

    refused = main(["user", "add", "alice"])

    assert refused == 2
    assert capsys.readouterr() == ("", f"ltb: {why}\n")
    assert not data_dir.exists()


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("a", "p" * 12),  # the shortest of both
        ("x" * 200, "p" * 1024),  # the longest of both
        ("Al.ice_B@example-1", PASSWORD),  # every kind of character allowed
    ],
)
def test_a_user_at_the_api_limits_is_created_and_can_log_in(
    username: str,
    password: str,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    piped_password(monkeypatch, password)

    created = main(["user", "add", username, "--role", "viewer"])

    assert created == 0
    assert capsys.readouterr().out == f"created user {username} with role viewer\n"
    assert login(data_dir, username, password).count(".") == 2


def test_the_first_user_made_on_an_empty_database_leaves_the_admin_to_come(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once any user exists the server never creates its admin, so `ltb user add`
    # creates it first, as build_runtime() did when the command used it.
    piped_password(monkeypatch, PASSWORD)

    assert main(["user", "add", "alice"]) == 0

    assert login(data_dir, "admin", ADMIN_PASSWORD).count(".") == 2


def test_a_role_that_is_not_a_role_is_a_usage_error(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["user", "add", "alice", "--role", "root"])

    assert exit_.value.code == 2
    assert (
        "argument --role: invalid choice: 'root' "
        "(choose from 'admin', 'user', 'service', 'viewer')"
    ) in capsys.readouterr().err
    assert not data_dir.exists()


def test_the_rules_are_those_of_the_api_schema() -> None:
    schemas = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["components"]["schemas"]
    user_create = schemas["UserCreate"]["properties"]

    # Its description aside (a sentence for people).
    username = {k: v for k, v in user_create["username"].items() if k != "description"}

    assert username == {
        "type": "string",
        "minLength": user_rules.USERNAME_MIN_LENGTH,
        "maxLength": user_rules.USERNAME_MAX_LENGTH,
        "pattern": user_rules.USERNAME_PATTERN,
    }
    assert user_create["password"] == {
        "type": "string",
        "minLength": user_rules.PASSWORD_MIN_LENGTH,
        "maxLength": user_rules.PASSWORD_MAX_LENGTH,
    }
    assert user_create["role"] == {"$ref": "#/components/schemas/Role"}
    assert schemas["Role"]["enum"] == [role.value for role in Role]
    # A name longer than login takes could be created but never log in.
    login_name = schemas["LoginRequest"]["properties"]["username"]
    assert login_name["maxLength"] == user_rules.USERNAME_MAX_LENGTH


@pytest.mark.parametrize(
    "username",
    ["a", "x" * 200, "x" * 201, "", "a b", "../x", "admin ", " admin", "a:b",
     "a\tb", "zoë", "Al.ice_B@example-1", "..", "@", "-"],
)  # fmt: skip
def test_a_username_is_accepted_exactly_when_the_api_schema_accepts_it(
    username: str,
) -> None:
    schemas = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["components"]["schemas"]
    api = Draft4Validator(schemas["UserCreate"]["properties"]["username"])

    try:
        user_rules.check_username(username)
        accepted = True
    except BadRequest:
        accepted = False

    assert accepted == api.is_valid(username)


def test_ltb_user_add_loads_no_server_and_no_provider_sdk(tmp_path: Path) -> None:
    # Importing app.main (provider SDKs, evaluators, the web stack) and starting
    # the plugins made the command take 7 s where creating a user takes 0.3 s.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LTB_", "DATABASE"))
    } | {
        "LTB_DATA_DIR": str(tmp_path),
        "JWT_SECRET": JWT_SECRET,
        "LTB_NEW_USER_PASSWORD": PASSWORD,
        "LTB_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    script = (
        "import sys\n"
        "from app.cli import main\n"
        "assert main(['user', 'add', 'alice']) == 0\n"
        "heavy = ['app.main', 'app.plugins.service', 'openai', 'anthropic', 'nltk']\n"
        "print(sorted(set(heavy) & set(sys.modules)))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    assert login(tmp_path, "alice", PASSWORD).count(".") == 2
