"""Server settings: from the environment, or built in code for embedding and tests."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.errors import ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_BIND_ADDRESS = "127.0.0.1:3000"
JWT_SECRET_FILE = "jwt_secret"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know about its environment."""

    bind_address: str = DEFAULT_BIND_ADDRESS
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str | None = None
    jwt_secret: str | None = None
    jwt_expiration: int = 3600
    admin_password: str | None = None
    providers_file: str | None = None
    enable_swagger: bool = True
    workers: int = 1
    # How many Flask handlers may block at once (Connexion's default pool is 10).
    handler_threads: int = 32
    # Check every response against the spec (tests turn this on; it costs time).
    validate_responses: bool = False
    # Provider environment (API keys) is read from here, so tests can pass their own.
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables, with embedded-mode defaults."""
        env = dict(os.environ if environ is None else environ)
        return cls(
            bind_address=env.get("BIND_ADDRESS") or DEFAULT_BIND_ADDRESS,
            data_dir=Path(env.get("LTB_DATA_DIR") or "data"),
            database_url=env.get("DATABASE_URL") or None,
            jwt_secret=env.get("JWT_SECRET") or None,
            jwt_expiration=_positive_int(env, "JWT_EXPIRATION", 3600),
            admin_password=env.get("LTB_ADMIN_PASSWORD") or None,
            providers_file=env.get("LTB_PROVIDERS_FILE") or None,
            enable_swagger=_boolean(env, "ENABLE_SWAGGER", True),
            workers=_positive_int(env, "LTB_WORKERS", 1),
            handler_threads=_positive_int(env, "LTB_HANDLER_THREADS", 32),
            environ=env,
        )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return _sqlalchemy_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'ltb.sqlite3').resolve()}"

    def with_jwt_secret(self) -> Settings:
        """Return settings with a JWT secret, generating and storing one if needed.

        The embedded mode must survive restarts without logging everybody out, so a
        generated secret is kept in the data directory, readable by its owner only.
        """
        if self.jwt_secret:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / JWT_SECRET_FILE
        if path.exists():
            secret = path.read_text(encoding="ascii").strip()
        else:
            secret = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as stream:
                stream.write(secret)
            logger.warning(
                "JWT_SECRET is not set: generated one and stored it in %s", path
            )
        return replace(self, jwt_secret=secret)

    def bind_host_port(self) -> tuple[str, int]:
        """Split BIND_ADDRESS into host and port."""
        host, _, port = self.bind_address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(
                f"BIND_ADDRESS must look like HOST:PORT, got {self.bind_address!r}"
            )
        return host.strip("[]"), int(port)


def _sqlalchemy_url(url: str) -> str:
    # Users write the libpq form; SQLAlchemy needs the driver we ship (psycopg 3).
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)
