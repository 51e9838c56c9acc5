"""The ``ltb`` command: serve the API, migrate the database, manage users, and run
benchmarks on a server (``ltb bench``)."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from app.auth import audit
from app.auth.audit import AuditAction
from app.auth.permissions import Role
from app.auth.service import AuthService
from app.auth.user_rules import check_password, check_username
from app.cli_bench import OutputError
from app.cli_bench import add_commands as add_bench_commands
from app.client import ClientError
from app.errors import ConfigurationError, LTBError
from app.observability.logs import configure_logging
from app.settings import Settings
from app.store.database import Database

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from app.jobs.dispatch import CeleryExecutor

GUNICORN_CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        log_format = Settings.from_env().log_format
    except ConfigurationError:
        log_format = "text"  # the command reports the bad setting itself
    # The client commands print for a person; the HTTP library's request log
    # would only interleave with the progress bar.
    client_command = args.command.__module__ == "app.cli_bench"
    configure_logging(log_format, logging.WARNING if client_command else logging.INFO)
    try:
        result: int = args.command(args)
        # Flushed here rather than at exit, so that a closed pipe is handled below.
        sys.stdout.flush()
    except BrokenPipeError:
        # Whoever read our output stopped early (`ltb bench export ID | head`).
        # As Python's documentation advises (signal module, "Note on SIGPIPE"):
        # what is still buffered goes to devnull, so that the flush at exit does
        # not fail again, and the exit code is 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ConfigurationError, LTBError) as e:
        print(f"ltb: {e.message}", file=sys.stderr)
        return 2
    except (ClientError, OutputError) as e:
        print(f"ltb: {e.message}", file=sys.stderr)
        return 1
    except OperationalError as e:
        print(f"ltb: {_database_unreachable(e)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, EOFError):
        print("ltb: interrupted", file=sys.stderr)
        return 130
    return result


def _database_unreachable(error: OperationalError) -> str:
    # The driver's first line says why (refused, timed out, bad password); the
    # URL is shown without its password, which is removed from the reason too in
    # case a driver ever echoes it.
    reason = str(error.orig or error).strip().splitlines()[0]
    try:
        url = make_url(Settings.from_env().resolved_database_url)
    except (ConfigurationError, ArgumentError):
        return f"cannot use the database (DATABASE_URL): {reason}"
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return f"cannot use the database {url.render_as_string()}: {reason}"


def serve(args: argparse.Namespace) -> int:
    """Run the API under gunicorn with uvicorn workers (replaces this process)."""
    if args.bind:
        os.environ["BIND_ADDRESS"] = args.bind
    if args.workers:
        os.environ["LTB_WORKERS"] = str(args.workers)
    settings = Settings.from_env()
    settings.check()
    settings.bind_host_port()  # a malformed address fails here, clearly
    settings.check_shared_state()

    # Make the JWT secret and the first admin once here, before any worker starts,
    # and migrate (development) or check that `ltb db upgrade` did (production):
    # workers doing it themselves would race (and a loser would crash).
    from app.jobs.dispatch import CeleryExecutor
    from app.main import build_runtime

    runtime = build_runtime(settings.with_jwt_secret())
    _warn_if_pools_exceed_server(settings, runtime.db)
    if isinstance(runtime.engine, CeleryExecutor):
        _requeue(runtime.engine)
    runtime.db.dispose()

    # The workers only check that the schema is current; they never migrate.
    os.environ["LTB_AUTO_MIGRATE"] = "false"
    argv = ["gunicorn", "--config", str(GUNICORN_CONF), "app.main:asgi_app()"]
    os.execvp(sys.executable, [sys.executable, "-m", *argv])


def _requeue(executor: CeleryExecutor) -> None:
    # Before any API worker starts, so that they do not all queue the same chunks.
    # A broker away now costs only the delay: chunks still in it run anyway, and
    # the next start queues the rest.
    try:
        executor.requeue_unfinished()
    except Exception:
        logger.exception("cannot queue the unfinished benchmarks' chunks now")


def worker(args: argparse.Namespace) -> int:
    """Run a Celery worker that runs benchmark chunks (LTB_EXECUTOR=celery)."""
    settings = Settings.from_env()
    settings.check()
    if settings.executor != "celery":
        raise ConfigurationError(
            "ltb worker runs benchmarks queued by LTB_EXECUTOR=celery: set "
            "LTB_EXECUTOR=celery here and on the API server"
        )
    settings.check_shared_state()
    # As `ltb serve` does: chunks written against another schema would fail one by
    # one, and an empty database has no benchmarks to run at all.
    db = Database(settings.resolved_database_url)
    try:
        db.require_current_schema()
    finally:
        db.dispose()

    from app.jobs.celery_app import make_celery

    celery = make_celery(settings)
    # Threads, not processes: a chunk waits on providers, and every chunk of the
    # process shares one event loop and its connection pools (app/jobs/tasks.py).
    celery.worker_main(
        [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(args.concurrency),
            "--loglevel",
            os.environ.get("LTB_LOG_LEVEL", "info"),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
    return 0


def _warn_if_pools_exceed_server(settings: Settings, db: Database) -> None:
    # Each worker may open its pool plus overflow; PostgreSQL refuses connections
    # past max_connections (less those reserved for superusers).
    if db.dialect != "postgresql":
        return
    with db.engine.connect() as connection:
        allowed = int(connection.execute(text("SHOW max_connections")).scalar_one())
        reserved = int(
            connection.execute(text("SHOW superuser_reserved_connections")).scalar_one()
        )
    wanted = settings.workers * (settings.db_pool_size + settings.db_max_overflow)
    if wanted > allowed - reserved:
        logger.warning(
            "%d workers may open %d database connections (LTB_DB_POOL_SIZE + "
            "LTB_DB_MAX_OVERFLOW each) but PostgreSQL allows %d: lower them or "
            "raise max_connections",
            settings.workers,
            wanted,
            allowed - reserved,
        )


def db_upgrade(_args: argparse.Namespace) -> int:
    """Apply pending migrations to DATABASE_URL (once per release, before serving)."""
    db = Database(Settings.from_env().resolved_database_url)
    try:
        applied = db.upgrade()
    finally:
        db.dispose()
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print("database is up to date: no migration to apply")
    return 0


def user_add(args: argparse.Namespace) -> int:
    """Create a user; the password comes from LTB_NEW_USER_PASSWORD or a prompt."""
    # The API's rules for a new user (UserCreate), checked before anything is
    # asked for or created; the role is one of the roles through argparse.
    check_username(args.username)
    password = os.environ.get("LTB_NEW_USER_PASSWORD") or _read_password(args.username)
    check_password(password)
    db, auth = _open_users(Settings.from_env().with_jwt_secret())
    try:
        user = auth.create_user(args.username, password, args.role)
        audit.record(
            db,
            AuditAction.USER_CREATED,
            actor_id=None,
            actor="ltb user add",
            target=user.id,
            details={"username": user.username, "role": user.role},
        )
    finally:
        db.dispose()
    print(f"created user {args.username} with role {args.role}")
    return 0


def _open_users(settings: Settings) -> tuple[Database, AuthService]:
    """The database and users of build_runtime(), without the rest of a server.

    Importing app.main (provider SDKs, evaluators, the web stack) and starting
    the plugins made `ltb user add` take seconds where creating the user takes a
    password hash.
    """
    db = Database(settings.resolved_database_url)
    try:
        db.prepare(settings.auto_migrate)
        assert settings.jwt_secret, "with_jwt_secret() always sets it"
        auth = AuthService(db, settings.jwt_secret, settings.jwt_expiration)
        # As the server's first start would: once any user exists, the server no
        # longer creates its admin, so a first user made here must not be alone.
        auth.ensure_admin(settings.admin_password)
    except BaseException:
        db.dispose()
        raise
    return db, auth


def _read_password(username: str) -> str:
    # A prompt on a terminal; otherwise the first line of standard input (a pipe).
    if sys.stdin.isatty():
        return getpass.getpass(f"Password for {username}: ")
    return sys.stdin.readline().rstrip("\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltb", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve_cmd = commands.add_parser("serve", help="run the API server")
    serve_cmd.add_argument("--bind", help="HOST:PORT (default: BIND_ADDRESS)")
    serve_cmd.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve_cmd.set_defaults(command=serve)

    worker_cmd = commands.add_parser(
        "worker", help="run a Celery worker for benchmarks (LTB_EXECUTOR=celery)"
    )
    worker_cmd.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="chunks run at once by this worker (default 4)",
    )
    worker_cmd.set_defaults(command=worker)

    db_cmd = commands.add_parser("db", help="database maintenance")
    db_sub = db_cmd.add_subparsers(required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(
        command=db_upgrade
    )

    user_cmd = commands.add_parser("user", help="manage users")
    user_sub = user_cmd.add_subparsers(required=True, metavar="ACTION")
    add = user_sub.add_parser(
        "add",
        help="create a user (password from LTB_NEW_USER_PASSWORD, a prompt, or stdin)",
    )
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], default="user")
    add.set_defaults(command=user_add)

    add_bench_commands(commands)
    return parser
