"""Server settings: from the environment, or built in code for embedding and tests."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import limits

from app.errors import ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_BIND_ADDRESS = "127.0.0.1:3000"
MAX_PORT = 65535
JWT_SECRET_FILE = "jwt_secret"
MIN_JWT_SECRET_LENGTH = 32
MIN_ADMIN_PASSWORD_LENGTH = 12
# Defaults people copy: common ones, and every example password of our own docs.
WELL_KNOWN_PASSWORDS = frozenset(
    {
        "admin",
        "password",
        "changeme",
        "change-me",
        "change-me-now",
        "secret",
        "admin123",
        "letmein",
        "password1234",
        "changeme1234",
        "adminadmin12",
        "administrator",
        "correct-horse-battery",
    }
)
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
    # "development" (the embedded default) or "production" (refuses unsafe settings).
    environment: str = "development"
    redis_url: str | None = None
    # The Celery broker (Redis or RabbitMQ; REDIS_URL when unset). /health/ready
    # checks it when set.
    celery_broker_url: str | None = None
    # Prefix of every Redis key the server writes (rate-limit counters).
    redis_prefix: str = "ltb"
    # Who runs benchmark cells: "embedded" (tasks on each API worker's event loop)
    # or "celery" (chunks of cells as Celery tasks, run by `ltb worker`).
    executor: str = "embedded"
    # Cells per Celery task: small enough that a lost worker costs little.
    celery_chunk_size: int = 16
    # Seconds before Redis redelivers a chunk whose worker never acknowledged it
    # (a worker killed mid-chunk); longer than a chunk takes (README).
    celery_visibility_timeout_s: int = 600
    # Steady requests per second per user (per address when anonymous), and how
    # many more a client may send at once above it.
    rate_limit: int = 100
    rate_limit_burst: int = 50
    login_rate_limit: str = "10/minute"
    # Addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For we trust.
    trusted_proxies: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 32 * 1024 * 1024
    max_json_body_bytes: int = 1024 * 1024
    max_prompt_chars: int = 100_000
    max_dataset_items: int = 100_000
    # The WebSocket at /ws (asyncapi/asyncapi.yaml).
    enable_websocket: bool = True
    # Messages waiting for one client; a client this far behind is disconnected.
    ws_queue_size: int = 1000
    ws_auth_timeout_s: float = 10.0
    # How often a connection's credential is checked again (revoked, expired).
    ws_reauth_interval_s: float = 60.0
    # Protocol-level keep-alive: a client that does not answer is disconnected.
    ws_ping_interval_s: float = 20.0
    ws_ping_timeout_s: float = 20.0
    ws_max_message_bytes: int = 64 * 1024
    # Messages a client may send per second on average (bursts of twice that), on
    # each /ws and each /graphql WebSocket connection.
    ws_message_rate: int = 20
    # How often each worker publishes system.metrics.
    metrics_interval_s: float = 5.0
    # A plugin execution (its whole worker process) is killed after this long.
    plugin_time_limit_s: float = 10.0
    # Bytes a plugin may answer (its JSON output) before its process is killed.
    plugin_max_output_bytes: int = 1024 * 1024
    # Plugin processes that may run at once in this worker.
    plugin_concurrency: int = 4
    # GraphQL at /graphql: on or off, introspection, and the limits every operation
    # (fragments included) must stay within (app/graphql/limits.py).
    enable_graphql: bool = True
    graphql_introspection: bool = True
    graphql_max_depth: int = 15
    graphql_max_cost: int = 5000
    # Mutation fields one request may hold (each may call a provider).
    graphql_max_mutations: int = 5
    # When set, GET /metrics needs "Authorization: Bearer <this token>".
    metrics_token: str | None = None
    # "json" (one object a line, with the request id) or "text".
    log_format: str = "text"
    # SQLAlchemy's pool per worker process (PostgreSQL): connections kept open, and
    # how many more may be opened at busy times. Together they cover the handler
    # threads; the whole server may open workers x (size + overflow) connections.
    db_pool_size: int = 10
    db_max_overflow: int = 22
    # Seconds a handler waits for a pooled connection before failing.
    db_pool_timeout_s: float = 30.0
    # Apply pending migrations at start-up. Off in production, where `ltb db
    # upgrade` runs once per release and a server refuses a database behind it.
    auto_migrate: bool = True
    # Provider environment (API keys) is read from here, so tests can pass their own.
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables, with embedded-mode defaults."""
        env = dict(os.environ if environ is None else environ)
        environment = _choice(env, "LTB_ENV", ("development", "production"))
        production = environment == "production"
        handler_threads = _positive_int(env, "LTB_HANDLER_THREADS", 32)
        db_pool_size = _positive_int(env, "LTB_DB_POOL_SIZE", 10)
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
            handler_threads=handler_threads,
            environment=environment,
            redis_url=env.get("REDIS_URL") or None,
            celery_broker_url=env.get("CELERY_BROKER_URL") or None,
            redis_prefix=env.get("LTB_REDIS_PREFIX") or "ltb",
            executor=_choice(env, "LTB_EXECUTOR", ("embedded", "celery")),
            celery_chunk_size=_positive_int(env, "LTB_CELERY_CHUNK_SIZE", 16),
            celery_visibility_timeout_s=_positive_int(
                env, "LTB_CELERY_VISIBILITY_TIMEOUT", 600
            ),
            rate_limit=_positive_int(env, "RATE_LIMIT", 100),
            rate_limit_burst=_non_negative_int(env, "RATE_LIMIT_BURST", 50),
            login_rate_limit=env.get("LOGIN_RATE_LIMIT") or "10/minute",
            trusted_proxies=_list(env, "TRUSTED_PROXIES"),
            cors_origins=_list(env, "CORS_ORIGINS"),
            max_body_bytes=_positive_int(env, "MAX_BODY_BYTES", 32 * 1024 * 1024),
            max_json_body_bytes=_positive_int(env, "MAX_JSON_BODY_BYTES", 1024 * 1024),
            max_prompt_chars=_positive_int(env, "MAX_PROMPT_CHARS", 100_000),
            max_dataset_items=_positive_int(env, "MAX_DATASET_ITEMS", 100_000),
            enable_websocket=_boolean(env, "ENABLE_WEBSOCKET", True),
            ws_queue_size=_positive_int(env, "WS_QUEUE_SIZE", 1000),
            ws_auth_timeout_s=_positive_float(env, "WS_AUTH_TIMEOUT", 10.0),
            ws_reauth_interval_s=_positive_float(env, "WS_REAUTH_INTERVAL", 60.0),
            ws_ping_interval_s=_positive_float(env, "WS_PING_INTERVAL", 20.0),
            ws_ping_timeout_s=_positive_float(env, "WS_PING_TIMEOUT", 20.0),
            ws_max_message_bytes=_positive_int(env, "WS_MAX_MESSAGE_BYTES", 64 * 1024),
            ws_message_rate=_positive_int(env, "WS_MESSAGE_RATE", 20),
            metrics_interval_s=_positive_float(env, "SYSTEM_METRICS_INTERVAL", 5.0),
            plugin_time_limit_s=_positive_float(env, "LTB_PLUGIN_TIME_LIMIT", 10.0),
            plugin_max_output_bytes=_positive_int(
                env, "LTB_PLUGIN_MAX_OUTPUT_BYTES", 1024 * 1024
            ),
            plugin_concurrency=_positive_int(env, "LTB_PLUGIN_CONCURRENCY", 4),
            enable_graphql=_boolean(env, "ENABLE_GRAPHQL", True),
            graphql_introspection=_boolean(env, "GRAPHQL_INTROSPECTION", True),
            graphql_max_depth=_positive_int(env, "GRAPHQL_MAX_DEPTH", 15),
            graphql_max_cost=_positive_int(env, "GRAPHQL_MAX_COST", 5000),
            graphql_max_mutations=_positive_int(env, "GRAPHQL_MAX_MUTATIONS", 5),
            metrics_token=env.get("METRICS_TOKEN") or None,
            log_format=_choice(
                env,
                "LTB_LOG_FORMAT",
                ("json", "text") if production else ("text", "json"),
            ),
            db_pool_size=db_pool_size,
            db_max_overflow=_non_negative_int(
                env, "LTB_DB_MAX_OVERFLOW", max(handler_threads - db_pool_size, 0)
            ),
            db_pool_timeout_s=_positive_float(env, "LTB_DB_POOL_TIMEOUT", 30.0),
            auto_migrate=_boolean(env, "LTB_AUTO_MIGRATE", not production),
            environ=env,
        )

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return _sqlalchemy_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'ltb.sqlite3').resolve()}"

    @property
    def broker_url(self) -> str | None:
        """Where Celery tasks are queued: CELERY_BROKER_URL, else REDIS_URL."""
        return self.celery_broker_url or self.redis_url

    @property
    def readiness_broker_url(self) -> str | None:
        """The broker /health/ready checks: the one Celery uses (LTB_EXECUTOR=celery),
        else one CELERY_BROKER_URL names (embedded mode queues nothing)."""
        return self.broker_url if self.executor == "celery" else self.celery_broker_url

    def check_shared_state(self) -> None:
        """Refuse a deployment whose processes would silently keep separate state.

        Several API workers, or Celery workers beside them, must share one database,
        one event bus and one set of rate-limit counters and provider slots.
        """
        sqlite = self.resolved_database_url.startswith("sqlite")
        if self.workers > 1 and sqlite:
            raise ConfigurationError(
                "Several workers cannot share an SQLite database: set DATABASE_URL to "
                "a PostgreSQL URL, or use --workers 1"
            )
        if self.workers > 1 and not self.redis_url:
            raise ConfigurationError(
                "Several workers cannot share rate-limit counters kept in memory: set "
                "REDIS_URL to a Redis server, or use --workers 1"
            )
        if self.executor != "celery":
            return
        if sqlite:
            raise ConfigurationError(
                "LTB_EXECUTOR=celery needs a database every worker reaches: set "
                "DATABASE_URL to a PostgreSQL URL, or LTB_EXECUTOR=embedded"
            )
        if not self.redis_url:
            raise ConfigurationError(
                "LTB_EXECUTOR=celery needs Redis for events, provider limits and "
                "cancellation: set REDIS_URL, or LTB_EXECUTOR=embedded"
            )

    def check(self) -> None:
        """Refuse malformed settings, and unsafe ones in production (LTB_ENV)."""
        problems = [
            *_origin_problems(self.cors_origins),
            *_proxy_problems(self.trusted_proxies),
            *_limit_problems("LOGIN_RATE_LIMIT", self.login_rate_limit),
        ]
        if problems:
            raise ConfigurationError("; ".join(problems))
        if self.environment == "production":
            self._check_production()

    def _check_production(self) -> None:
        problems = []
        if not self.jwt_secret or len(self.jwt_secret) < MIN_JWT_SECRET_LENGTH:
            problems.append(
                f"JWT_SECRET must be set to at least {MIN_JWT_SECRET_LENGTH} characters"
            )
        if self.admin_password is not None and (
            self.admin_password.lower() in WELL_KNOWN_PASSWORDS
            or len(self.admin_password) < MIN_ADMIN_PASSWORD_LENGTH
        ):
            problems.append(
                "LTB_ADMIN_PASSWORD is a default or shorter than "
                f"{MIN_ADMIN_PASSWORD_LENGTH} characters"
            )
        if problems:
            raise ConfigurationError(
                "Refusing to start with LTB_ENV=production: " + "; ".join(problems)
            )

    def with_jwt_secret(self) -> Settings:
        """Return settings with a JWT secret, generating and storing one if needed.

        The embedded mode must survive restarts without logging everybody out, so a
        generated secret is kept in the data directory, readable by its owner only.
        """
        if self.jwt_secret:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / JWT_SECRET_FILE
        if not path.exists():
            _create_secret_file(path)
        secret = path.read_text(encoding="ascii").strip()
        return replace(self, jwt_secret=secret)

    def bind_host_port(self) -> tuple[str, int]:
        """Split BIND_ADDRESS into host and port."""
        host, _, port = self.bind_address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(
                f"BIND_ADDRESS must look like HOST:PORT, got {self.bind_address!r}"
            )
        if int(port) > MAX_PORT:
            raise ConfigurationError(
                f"BIND_ADDRESS port must be 0 to {MAX_PORT}, got {self.bind_address!r}"
            )
        return host.strip("[]"), int(port)


def _origin_problems(origins: tuple[str, ...]) -> list[str]:
    return [
        f"CORS_ORIGINS entry {origin!r} must be '*' or look like https://host[:port]"
        for origin in origins
        if origin != "*"
        and (not origin.startswith(("http://", "https://")) or origin.endswith("/"))
    ]


def _proxy_problems(proxies: tuple[str, ...]) -> list[str]:
    problems = []
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy)
        except ValueError:
            problems.append(
                f"TRUSTED_PROXIES entry {proxy!r} is not an IP address or network"
            )
    return problems


def _limit_problems(name: str, value: str) -> list[str]:
    try:
        limits.parse_many(value)
    except ValueError:
        return [f"{name} must look like '10/minute' or '5 per 30 seconds'"]
    return []


def _create_secret_file(path: Path) -> None:
    # Written whole under a temporary name, then linked into place: a process racing
    # us either wins (and we read its secret) or finds the complete file, never a
    # half-written one.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".jwt_secret.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as stream:
            stream.write(secrets.token_urlsafe(48))
        os.chmod(temporary, 0o600)
        os.link(temporary, path)
        logger.warning("JWT_SECRET is not set: generated one and stored it in %s", path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


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


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name) or choices[0]
    if raw not in choices:
        raise ConfigurationError(
            f"{name} must be one of {', '.join(choices)}, got {raw!r}"
        )
    return raw


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _non_negative_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}")
    return int(raw)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1e9:  # also refuses nan and inf
        raise ConfigurationError(
            f"{name} must be a positive number of seconds, got {raw!r}"
        )
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)
