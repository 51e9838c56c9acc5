"""An equivalent FastAPI app, written only to compare HTTP stacks (http_overhead.py).

It serves GET /health and POST /v1/evaluations with the same work as our server:
the same JWT check (AuthService.principal_from_token: HS256 decode and the user
looked up), the same permission table, the body validated (pydantic, the limits
of openapi/openapi.yaml's EvaluationCreate), then the same domain calls
(validate_request, run_evaluation, which scores and stores, and the event). What
it leaves out is our HTTP layer: Connexion, Flask, and our middlewares (request
id, request log, rate limits, body limits). Runs in bench/.peers/fastapi:

    gunicorn -k uvicorn_worker.UvicornWorker -w 1 'bench.fastapi_app:create()'
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from app import __version__
from app.auth.permissions import authorize
from app.auth.service import Principal
from app.errors import LTBError
from app.evaluations import service
from app.events import Topic
from app.main import build_runtime
from app.runtime import Runtime
from app.settings import Settings

Text = Annotated[str, Field(max_length=100_000)]


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    input: Text
    output: Text
    expected: Text | None = None
    context: Text | None = None
    latency_ms: Annotated[float, Field(ge=0, le=86_400_000)] | None = None
    cost_usd: Annotated[float, Field(ge=0, le=1_000_000)] | None = None
    metrics: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=100)]],
        Field(min_length=1, max_length=32),
    ]
    parameters: Annotated[dict[str, dict[str, Any]], Field(max_length=32)] | None = None


class Login(BaseModel):
    username: str
    password: str


def create() -> FastAPI:
    settings = Settings.from_env().with_jwt_secret()
    runtime: Runtime = build_runtime(settings)
    bearer = HTTPBearer()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runtime.loop = asyncio.get_running_loop()
        await runtime.events.start()
        try:
            yield
        finally:
            await runtime.providers.aclose()
            await runtime.events.stop()
            runtime.db.dispose()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    async def caller(
        credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
    ) -> Principal:
        try:
            return await asyncio.to_thread(
                runtime.auth.principal_from_token, credentials.credentials
            )
        except LTBError as e:
            raise HTTPException(401, e.message) from e

    @app.post("/v1/auth/login")
    async def login(body: Login) -> dict[str, Any]:
        # Only to get a token for the benchmark; not part of the comparison.
        token, expires_at = await asyncio.to_thread(
            runtime.auth.login, body.username, body.password, "127.0.0.1"
        )
        return {"token": token, "expires_at": expires_at}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "healthy",
            "version": __version__,
            "timestamp": datetime.now(UTC),
            "uptime_seconds": runtime.uptime_seconds(),
        }

    @app.post("/v1/evaluations", status_code=201)
    async def create_evaluation(
        body: EvaluationCreate, who: Annotated[Principal, Depends(caller)]
    ) -> dict[str, Any]:
        try:
            authorize("create_evaluation", who.role)
            request = service.validate_request(
                runtime.evaluators,
                runtime.providers,
                body.model_dump(exclude_none=True),
            )
            view = await service.run_evaluation(
                runtime.db, runtime.providers, request, who
            )
        except LTBError as e:
            raise HTTPException(int(e.status), e.message) from e
        runtime.events.publish(Topic.EVALUATION_RESULTS, service.results_event(view))
        return view

    return app
