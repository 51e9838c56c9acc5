"""Users, password login, JWTs and API keys."""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth import audit
from app.auth.audit import AuditAction
from app.auth.permissions import Role, outranks
from app.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from app.store.database import Database
from app.store.models import ApiKey, User, utcnow

logger = logging.getLogger(__name__)

JWT_ALGORITHM = "HS256"  # pinned: tokens signed any other way are refused
JWT_REQUIRED_CLAIMS = ["exp", "iat", "sub", "role"]
JWT_LEEWAY_SECONDS = 30
API_KEY_PREFIX = "ltb_"
API_KEY_ALPHABET = string.ascii_letters + string.digits
API_KEY_RANDOM_LENGTH = 32
ADMIN_USERNAME = "admin"

_hasher = PasswordHasher()


@functools.cache
def _unused_hash() -> str:
    """A hash of nothing: verifying against it keeps a login for an unknown user
    as slow as a real one. Made when an AuthService is (not at import: every
    `ltb` client command imports this module for API_KEY_PREFIX)."""
    return _hasher.hash(secrets.token_urlsafe(16))


ONE_CREDENTIAL = (
    "Send one credential: a single Authorization: Bearer <token> or X-API-Key"
)


def refuse_several_credentials(*credentials: Sequence[str]) -> None:
    """Refuse a request carrying more than one credential (all values given of
    each kind: Authorization, X-API-Key).

    Two tokens, two keys or one of each: taking whichever is valid would hide a
    wrong, revoked or expired credential from the client that believes it is
    using it. A blank value counts as none (a client blanking a default header).
    """
    given = [value for values in credentials for value in values if value.strip()]
    if len(given) > 1:
        raise Unauthorized(ONE_CREDENTIAL)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the authenticated user and the role they act with."""

    user_id: str
    username: str
    role: str
    api_key_id: str | None = None

    def as_token_info(self) -> dict[str, Any]:
        """The form Connexion keeps in the request context."""
        return {
            "sub": self.user_id,
            "username": self.username,
            "role": self.role,
            "api_key_id": self.api_key_id,
        }


class AuthService:
    """Everything about proving who a caller is."""

    def __init__(self, db: Database, jwt_secret: str, jwt_expiration: int) -> None:
        self.db = db
        self._jwt_secret = jwt_secret
        self.jwt_expiration = jwt_expiration
        _unused_hash()  # before the first login, which must not pay for it

    def ensure_admin(self, password: str | None) -> None:
        """On first start (no users at all), create the admin user."""
        with self.db.session() as session:
            if session.scalar(select(func.count()).select_from(User)):
                admin = session.scalar(
                    select(User).where(User.username == ADMIN_USERNAME)
                )
                if password is not None and not _matches(admin, password):
                    logger.warning(
                        "LTB_ADMIN_PASSWORD differs from the admin's password and was "
                        "ignored: it is used only on first start"
                    )
                return
        generated = password is None
        password = password or secrets.token_urlsafe(18)
        try:
            with self.db.session() as session:
                admin = User(
                    username=ADMIN_USERNAME,
                    password_hash=_hasher.hash(password),
                    role=Role.ADMIN,
                )
                session.add(admin)
        except IntegrityError:
            # Another process created it between our count and our insert.
            return
        audit.record(
            self.db,
            AuditAction.USER_CREATED,
            actor_id=None,
            actor="system (first start)",
            target=admin.id,
            details={"username": ADMIN_USERNAME, "role": Role.ADMIN.value},
        )
        if generated:
            # Printed once, on purpose: there is no other way to learn it.
            logger.warning(
                "Created user 'admin' with generated password: %s "
                "(set LTB_ADMIN_PASSWORD to choose it)",
                password,
            )
        else:
            logger.info(
                "Created user 'admin' with the password from LTB_ADMIN_PASSWORD"
            )

    def create_user(self, username: str, password: str, role: str) -> User:
        """Create a user; a taken username is a Conflict."""
        try:
            with self.db.session() as session:
                # Names that differ only in case are one name: "Admin" beside
                # "admin" would be an impersonation waiting to happen.
                taken = select(User).where(
                    func.lower(User.username) == username.lower()
                )
                if session.scalar(taken):
                    raise _username_taken(username)
                user = User(
                    username=username,
                    password_hash=_hasher.hash(password),
                    role=Role(role),
                )
                session.add(user)
                session.flush()
                return user
        except IntegrityError as e:
            # A concurrent request created the same username between our check and
            # our insert; the unique constraint is the real check, the SELECT only
            # the common case. The username is the only unique column we set.
            raise _username_taken(username) from e

    def list_users(self, offset: int, limit: int) -> tuple[list[User], int]:
        """A page of users, oldest first."""
        with self.db.session() as session:
            total = session.scalar(select(func.count()).select_from(User))
            rows = session.scalars(
                select(User)
                .order_by(User.created_at, User.id)
                .offset(offset)
                .limit(limit)
            ).all()
        return list(rows), total or 0

    def update_user(
        self, user_id: str, role: str | None, disabled: bool | None
    ) -> tuple[User, dict[str, Any]]:
        """Change a user's role or disabled flag; return the user and what changed.

        The last active admin can be neither demoted nor disabled: nobody could
        manage the server afterwards.
        """
        with self.db.session() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"User '{user_id}' not found")
            changes: dict[str, Any] = {}
            if role is not None and role != user.role:
                changes["role"] = {"from": user.role, "to": role}
            if disabled is not None and disabled != user.disabled:
                changes["disabled"] = {"from": user.disabled, "to": disabled}
            loses_admin = (
                user.role == Role.ADMIN
                and not user.disabled
                and ("role" in changes or disabled is True)
            )
            if loses_admin and self._active_admins(session) <= 1:
                raise Conflict("The last active admin cannot be demoted or disabled")
            if role is not None:
                user.role = Role(role)
            if disabled is not None:
                user.disabled = disabled
        return user, changes

    def login(
        self, username: str, password: str, address: str | None = None
    ) -> tuple[str, datetime]:
        """Check a password and issue a JWT; return the token and its expiry."""
        with self.db.session() as session:
            # Names are unique whatever their case (create_user), so a login
            # names its user in any case; the exact spelling first, for users
            # made before that rule.
            user = session.scalar(
                select(User).where(User.username == username)
            ) or session.scalar(
                select(User)
                .where(func.lower(User.username) == username.lower())
                .order_by(User.created_at)
                .limit(1)
            )
        stored = user.password_hash if user else _unused_hash()
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            user = None
        if user is None or user.disabled:
            audit.record(
                self.db,
                AuditAction.LOGIN_FAILED,
                actor_id=None,
                actor=username,
                address=address,
            )
            raise Unauthorized("Invalid username or password")
        audit.record(
            self.db,
            AuditAction.LOGIN_SUCCEEDED,
            actor_id=user.id,
            actor=user.username,
            target=user.id,
            address=address,
        )
        return self.issue_token(user.id, user.role)

    def issue_token(self, user_id: str, role: str) -> tuple[str, datetime]:
        """Sign a JWT for the user."""
        now = datetime.now(UTC).replace(microsecond=0)
        expires_at = now + timedelta(seconds=self.jwt_expiration)
        claims = {"sub": user_id, "role": role, "iat": now, "exp": expires_at}
        token = jwt.encode(claims, self._jwt_secret, algorithm=JWT_ALGORITHM)
        return token, expires_at

    def principal_from_token(self, token: str) -> Principal:
        """Decode a bearer JWT and load its user; any failure is Unauthorized."""
        try:
            claims = jwt.decode(
                token,
                self._jwt_secret,
                algorithms=[JWT_ALGORITHM],
                options={"require": JWT_REQUIRED_CLAIMS},
                leeway=JWT_LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError as e:
            raise Unauthorized("Token has expired") from e
        except jwt.PyJWTError as e:
            raise Unauthorized("Token is not valid") from e
        if not _is_clean_text(claims.get("sub")):
            raise Unauthorized("Token is not valid")
        user = self._active_user(claims["sub"])
        return Principal(user.id, user.username, user.role)

    def principal_from_api_key(self, key: str) -> Principal:
        """Look up an API key by its hash; any failure is Unauthorized."""
        if not _looks_like_api_key(key):
            raise Unauthorized("API key is not valid")
        digest = _hash_key(key)
        with self.db.session() as session:
            api_key = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            # The lookup is by hash; compare again in constant time all the same.
            if (
                api_key is None
                or api_key.revoked_at is not None
                or not hmac.compare_digest(api_key.key_hash, digest)
            ):
                raise Unauthorized("API key is not valid")
            if api_key.expires_at and _aware(api_key.expires_at) <= datetime.now(UTC):
                raise Unauthorized("API key has expired")
            api_key.last_used_at = utcnow()
            key_id, user_id, role = api_key.id, api_key.user_id, api_key.role
        user = self._active_user(user_id)
        # A key never carries more power than its owner has now: demoting a user
        # demotes their keys on the next request too.
        effective = role if not outranks(role, user.role) else user.role
        return Principal(user.id, user.username, effective, api_key_id=key_id)

    def create_api_key(
        self,
        owner: Principal,
        name: str,
        role: str | None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """Mint a key for the caller; return the stored row and the key, shown once."""
        role = role or owner.role
        if expires_at is not None:
            # Stored in UTC: SQLite keeps no offset, so a local time would shift.
            expires_at = _aware(expires_at).astimezone(UTC)
        if expires_at is not None and expires_at <= datetime.now(UTC):
            raise BadRequest(
                "expires_at must be in the future",
                details={"errors": [{"field": "expires_at", "message": "in the past"}]},
            )
        if outranks(role, owner.role):
            raise Forbidden(
                f"A '{owner.role}' may not create a key with role '{role}'",
                details={"role": role},
            )
        random_part = "".join(
            secrets.choice(API_KEY_ALPHABET) for _ in range(API_KEY_RANDOM_LENGTH)
        )
        key = API_KEY_PREFIX + random_part
        row = ApiKey(
            user_id=owner.user_id,
            name=name,
            role=role,
            key_hash=_hash_key(key),
            prefix=key[:8],
            expires_at=expires_at,
        )
        with self.db.session() as session:
            session.add(row)
        return row, key

    def list_api_keys(
        self, owner: Principal, offset: int, limit: int
    ) -> tuple[list[ApiKey], int]:
        """The caller's keys (every key for an admin), newest first."""
        query = select(ApiKey)
        if owner.role != Role.ADMIN:
            query = query.where(ApiKey.user_id == owner.user_id)
        with self.db.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            rows = session.scalars(
                query.order_by(ApiKey.created_at.desc(), ApiKey.id)
                .offset(offset)
                .limit(limit)
            ).all()
        return list(rows), total or 0

    def revoke_api_key(self, owner: Principal, key_id: str) -> tuple[ApiKey, bool]:
        """Revoke a key of the caller's (any key for an admin)."""
        with self.db.session() as session:
            row = session.get(ApiKey, key_id)
            if row is None or (
                owner.role != Role.ADMIN and row.user_id != owner.user_id
            ):
                raise NotFound(f"API key '{key_id}' not found")
            if row.revoked_at is not None:
                return row, False
            row.revoked_at = utcnow()
            return row, True

    @staticmethod
    def _active_admins(session: Session) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.role == Role.ADMIN, User.disabled.is_(False))
            )
            or 0
        )

    def _active_user(self, user_id: str) -> User:
        with self.db.session() as session:
            user = session.get(User, user_id)
        if user is None or user.disabled:
            raise Unauthorized("The user of this credential is disabled or gone")
        return user


def _username_taken(username: str) -> Conflict:
    return Conflict(f"User '{username}' already exists")


def _matches(user: User | None, password: str) -> bool:
    if user is None:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _is_clean_text(value: object) -> bool:
    # A signed claim is trusted, but must still be storable text (no lone
    # surrogates, no NUL) before it reaches a database query.
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _looks_like_api_key(key: str) -> bool:
    body = key[len(API_KEY_PREFIX) :]
    return (
        key.startswith(API_KEY_PREFIX)
        and len(body) == API_KEY_RANDOM_LENGTH
        and all(ch in API_KEY_ALPHABET for ch in body)
    )


def _hash_key(key: str) -> str:
    # Keys carry ~190 bits of randomness, so a fast hash is safe (no stretching
    # needed) and lets us look a key up by its digest.
    return hashlib.sha256(key.encode("ascii")).hexdigest()
