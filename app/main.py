"""The application factory: one ASGI application serving the REST contract."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from a2wsgi import WSGIMiddleware
from connexion import FlaskApp
from connexion import context as connexion_context
from connexion.exceptions import ProblemException
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from starlette.exceptions import HTTPException

from app.auth.service import AuthService
from app.benchmarks.claims import RunClaims
from app.benchmarks.engine import BenchmarkEngine
from app.benchmarks.executor import Executor
from app.errors import LTBError, NotFound
from app.evaluators.registry import EvaluatorRegistry, builtin_registry
from app.events import EventBus
from app.graphql import install as install_graphql
from app.observability.logs import configure_logging
from app.observability.requests import RequestLogMiddleware, RequestStats
from app.observability.sampler import MetricsSampler
from app.plugins.metrics import register_plugin_metrics
from app.plugins.service import PluginService
from app.providers.config import load_provider_configs
from app.providers.limiter import SharedSlots
from app.providers.registry import ProviderRegistry
from app.rest import envelope
from app.rest.authorization import AuthorizationMiddleware
from app.rest.context import RuntimeMiddleware
from app.rest.cors import EnvelopeCORSMiddleware
from app.rest.disconnect import DisconnectWatchMiddleware
from app.rest.hygiene import MediaTypeMiddleware, PathMiddleware
from app.rest.json import UTCJSONEncoder
from app.rest.limits import BodySizeLimitMiddleware, ChunkedBodyMiddleware
from app.rest.methods import AllowedMethodsMiddleware, allowed_methods
from app.rest.rate_limits import install_rate_limits
from app.rest.request_id import RequestIdMiddleware
from app.rest.resolver import PermissionResolver
from app.rest.validation import (
    AllErrorsFormDataValidator,
    AllErrorsJSONBodyValidator,
    AllErrorsParameterValidator,
    ClosingMultiPartFormDataValidator,
)
from app.runtime import Runtime
from app.settings import Settings
from app.store.database import Database, PoolSize
from app.websocket.endpoint import WebSocketEndpoint
from app.websocket.hub import Hub

logger = logging.getLogger(__name__)

SPEC_DIR = Path(__file__).resolve().parent.parent / "openapi"
SPEC_FILE = "openapi.yaml"


def create_app(settings: Settings | None = None) -> FlaskApp:
    """Build the server for the given settings (from the environment by default)."""
    settings = settings or Settings.from_env()
    settings.check()
    settings = settings.with_jwt_secret()
    runtime = build_runtime(settings)
    hub = Hub(runtime.events)
    stats = RequestStats()
    sampler = MetricsSampler(
        runtime.events,
        stats,
        open_connections=lambda: hub.open_connections,
        running_benchmarks=lambda: runtime.engine.running_count,
        interval_s=settings.metrics_interval_s,
    )

    app = FlaskApp(
        __name__,
        lifespan=_lifespan(runtime, hub, sampler),
        specification_dir=str(SPEC_DIR),
        # The default pretty-prints every response.
        jsonifier=Jsonifier(json, cls=UTCJSONEncoder, separators=(",", ":")),
        validator_map=_validators(),
        swagger_ui_options=SwaggerUIOptions(
            serve_spec=settings.enable_swagger,
            swagger_ui=settings.enable_swagger,
            swagger_ui_path="/swagger-ui",
            spec_path="/api-docs/openapi.json",
        ),
    )
    app.add_api(
        SPEC_FILE,
        resolver=PermissionResolver(),
        pythonic_params=True,
        strict_validation=True,
        validate_responses=settings.validate_responses,
    )
    install_rate_limits(app, settings)
    install_graphql(app, settings)
    # First of all Flask hooks (the rate limiter puts its own first; it reads the
    # operation this guard checks for).
    app.app.before_request_funcs.setdefault(None, []).insert(
        0, _require_connexion_operation
    )
    app.app.extensions["ltb"] = runtime
    app.app.extensions["ltb.websocket_hub"] = hub
    _size_handler_pool(app, settings.handler_threads)

    # Middlewares added earlier at one position wrap those added later. This one
    # wraps all the others: it sees the final status of every request.
    app.add_middleware(
        RequestLogMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        events=runtime.events,
        stats=stats,
        routes=_contract_routes(),
    )
    _add_cors(app, settings)
    app.add_middleware(
        RequestIdMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION
    )
    app.add_middleware(
        RuntimeMiddleware,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        runtime=runtime,
    )
    # Inside the exception middleware, so that their errors render as the envelope.
    app.add_middleware(PathMiddleware, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(
        AllowedMethodsMiddleware,
        position=MiddlewarePosition.BEFORE_SWAGGER,
        methods=_contract_methods(),
    )
    app.add_middleware(MediaTypeMiddleware, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(
        BodySizeLimitMiddleware,
        position=MiddlewarePosition.BEFORE_SWAGGER,
        max_body_bytes=settings.max_body_bytes,
        max_json_body_bytes=settings.max_json_body_bytes,
    )
    app.add_middleware(
        AuthorizationMiddleware, position=MiddlewarePosition.BEFORE_VALIDATION
    )
    # After security and roles: a chunked body is read whole for validation only
    # for a caller who may call the operation.
    app.add_middleware(
        ChunkedBodyMiddleware, position=MiddlewarePosition.BEFORE_VALIDATION
    )
    # Lets a streamed export stop when its client hangs up (see the module).
    app.add_middleware(
        DisconnectWatchMiddleware,
        position=MiddlewarePosition.BEFORE_VALIDATION,
        path_suffixes=("/export",),
    )
    if settings.enable_websocket:
        app.add_middleware(
            WebSocketEndpoint,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            runtime=runtime,
            hub=hub,
        )
    app.add_error_handler(LTBError, envelope.render_project_error)
    app.add_error_handler(ProblemException, envelope.render_problem)
    app.add_error_handler(HTTPException, envelope.render_http_error)
    app.add_error_handler(Exception, envelope.render_unexpected)
    return app


def build_runtime(settings: Settings) -> Runtime:
    """Connect and migrate the database, ensure an admin, load providers and plugins.

    Without ``auto_migrate`` (production) the database must already be at the
    schema of this code (`ltb db upgrade`); otherwise this refuses to go on.
    """
    db = Database(settings.resolved_database_url, pool_size(settings))
    db.prepare(settings.auto_migrate)
    assert settings.jwt_secret, "with_jwt_secret() always sets it"
    auth = AuthService(db, settings.jwt_secret, settings.jwt_expiration)
    configs = load_provider_configs(settings.providers_file, settings.environ)
    # With Redis, provider limits hold across every process (API and Celery).
    shared_slots = (
        SharedSlots(settings.redis_url, settings.redis_prefix)
        if settings.redis_url
        else None
    )
    providers = ProviderRegistry(configs, settings.environ, shared_slots)
    events = EventBus(settings.redis_url, settings.redis_prefix)
    evaluators = builtin_registry()
    engine = _executor(settings, db, providers, events, evaluators)
    plugins = PluginService.load(db, events, settings)
    register_plugin_metrics(evaluators, plugins)
    # Last: a start that fails on a setting, the providers file or a plugin must
    # not use up the one-time admin password (a restart would keep the first one).
    auth.ensure_admin(settings.admin_password)
    return Runtime(settings, db, auth, providers, engine, events, evaluators, plugins)


def pool_size(settings: Settings) -> PoolSize:
    """The database connection pool of one process, from the settings."""
    return PoolSize(
        settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_s
    )


def _executor(
    settings: Settings,
    db: Database,
    providers: ProviderRegistry,
    events: EventBus,
    evaluators: EvaluatorRegistry,
) -> Executor:
    if settings.executor == "celery":
        from app.jobs.celery_app import make_celery
        from app.jobs.dispatch import CeleryExecutor

        celery = make_celery(settings)
        return CeleryExecutor(db, celery, settings.celery_chunk_size, events)
    # Several API workers: each benchmark is run by the one that claims it.
    claims = RunClaims(settings.resolved_database_url) if settings.workers > 1 else None
    return BenchmarkEngine(db, providers, events, evaluators, claims)


def asgi_app() -> FlaskApp:
    """Entry point for gunicorn/uvicorn: the app configured from the environment."""
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    # The SDKs' HTTP client logs every call at INFO: a line per benchmark cell, and
    # 4% of the event loop's CPU in a benchmark (bench/engine_bench.py --profile).
    # Failures reach the log through app.providers.failures.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    return create_app(settings)


def _lifespan(runtime: Runtime, hub: Hub, sampler: MetricsSampler) -> Any:
    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        runtime.loop = asyncio.get_running_loop()
        await runtime.events.start()
        runtime.engine.watch_cancels()
        hub.start()
        sampler.start()
        runtime.plugins.announce()
        resumed = await runtime.engine.resume_unfinished()
        if resumed:
            logger.info("resumed %d unfinished benchmark(s)", len(resumed))
        try:
            yield
        finally:
            await sampler.stop()
            hub.stop()
            await runtime.engine.shutdown()
            runtime.engine.unwatch_cancels()
            await runtime.providers.aclose()
            await runtime.events.stop()
            runtime.loop = None
            runtime.db.dispose()

    return lifespan


def _require_connexion_operation() -> None:
    # Flask's router and Connexion's can disagree (a path parameter holding a
    # newline matches Flask's rule but no Connexion route). A request Connexion did
    # not route skipped its security and validation: it must not reach a handler.
    try:
        connexion_context.operation  # noqa: B018 (raises when not routed)
    except RuntimeError as e:
        raise NotFound("No such endpoint") from e


def _add_cors(app: FlaskApp, settings: Settings) -> None:
    # Installed even without CORS_ORIGINS: no origin is then allowed, but a
    # browser's preflight still gets the CORS refusal instead of the 405 an
    # OPTIONS request would get from the contract's methods.
    allowed = bool(settings.cors_origins)
    wildcard = "*" in settings.cors_origins
    app.add_middleware(
        EnvelopeCORSMiddleware,
        # Outside the exception middleware, so error responses carry CORS headers.
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        allow_origins=list(settings.cors_origins),
        # Credentials are never combined with "any origin".
        allow_credentials=allowed and not wildcard,
        allow_methods=["GET", "POST", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
        expose_headers=[
            "X-Request-ID",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "Retry-After",
        ]
        if allowed
        else [],
        max_age=600,
    )


@functools.cache
def _contract_paths() -> dict[str, Any]:
    with (SPEC_DIR / SPEC_FILE).open(encoding="utf-8") as f:
        paths: dict[str, Any] = yaml.safe_load(f)["paths"]
    return paths


def _contract_methods() -> dict[str, frozenset[str]]:
    return allowed_methods(_contract_paths())


def _contract_routes() -> dict[str, str]:
    # operationId -> path template: the route label of the request metrics.
    return {
        operation["operationId"]: path
        for path, item in _contract_paths().items()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def _validators() -> dict[str, Any]:
    from connexion.validators import VALIDATOR_MAP

    validators = dict(VALIDATOR_MAP)
    body = type(VALIDATOR_MAP["body"])(VALIDATOR_MAP["body"])
    body["*/*json"] = AllErrorsJSONBodyValidator
    body["application/x-www-form-urlencoded"] = AllErrorsFormDataValidator
    body["multipart/form-data"] = ClosingMultiPartFormDataValidator
    validators["body"] = body
    validators["parameter"] = AllErrorsParameterValidator
    return validators


def _size_handler_pool(app: FlaskApp, threads: int) -> None:
    # FlaskApp runs handlers in a pool of 10 threads with no public setting; handlers
    # that wait on providers would starve /health, so the pool is sized here.
    bridge = app._middleware_app
    bridge.asgi_app = WSGIMiddleware(bridge.app.wsgi_app, workers=threads)
