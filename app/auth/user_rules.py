"""What a new user's name and password must be: the API's UserCreate schema.

openapi/openapi.yaml states these rules for ``POST /v1/users``, where Connexion
applies them before any handler runs. ``ltb user add`` reaches
``AuthService.create_user`` without that request, so it checks the same rules
here; tests/unit/cli/test_user_add.py holds these values to the schema's, so the
two cannot drift apart.
"""

from __future__ import annotations

import re

from app.errors import BadRequest

USERNAME_MIN_LENGTH = 1
# Login refuses longer usernames (LoginRequest): a longer one could never log in.
USERNAME_MAX_LENGTH = 200
USERNAME_CHARACTERS = "A-Za-z0-9._@-"
USERNAME_PATTERN = f"^[{USERNAME_CHARACTERS}]+$"
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024

_USERNAME = re.compile(USERNAME_PATTERN)
_NOT_USERNAME_CHARACTER = re.compile(f"[^{USERNAME_CHARACTERS}]")
_SHOWN_CHARACTERS = 40


def check_username(username: str) -> None:
    """Raise BadRequest, saying why, unless username meets UserCreate's rules."""
    if len(username) < USERNAME_MIN_LENGTH:
        raise BadRequest("invalid username '': a username cannot be empty")
    if len(username) > USERNAME_MAX_LENGTH:
        raise BadRequest(
            f"invalid username {_shown(username)}: it has {len(username)} "
            f"characters, at most {USERNAME_MAX_LENGTH} are allowed"
        )
    # fullmatch, not match: a JSON Schema pattern is an ECMA-262 expression whose
    # $ matches only at the very end, where Python's would also accept "admin\n".
    if not _USERNAME.fullmatch(username):
        bad = _NOT_USERNAME_CHARACTER.search(username)
        assert bad, "a string of allowed characters matches the pattern"
        raise BadRequest(
            f"invalid username {_shown(username)}: {bad.group()!r} is not allowed; "
            "use letters A-Z and a-z, digits, and . _ @ -"
        )


def check_password(password: str) -> None:
    """Raise BadRequest unless password meets UserCreate's rules (never shown)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise BadRequest(
            f"Passwords must have at least {PASSWORD_MIN_LENGTH} characters"
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise BadRequest(
            f"Passwords must have at most {PASSWORD_MAX_LENGTH} characters"
        )
    # The API refuses both in any request body (app/rest/validation.py,
    # check_storable): no database stores a NUL, and a lone surrogate (the way
    # Python decodes bytes that are not UTF-8, from an environment variable say)
    # is not text at all.
    if "\x00" in password:
        raise BadRequest("Passwords cannot contain a NUL character")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("Passwords must be UTF-8 text") from None


def _shown(username: str) -> str:
    # repr: a space or a control character is visible, and no escape sequence
    # reaches the terminal; a long name is cut, not printed whole.
    if len(username) <= _SHOWN_CHARACTERS:
        return repr(username)
    return f"{username[:_SHOWN_CHARACTERS]!r}..."
