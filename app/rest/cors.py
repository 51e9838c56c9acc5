"""CORS from CORS_ORIGINS, with refused preflights in the error envelope."""

from __future__ import annotations

import json
import uuid

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from app.errors import ErrorCode
from app.rest.envelope import envelope


class EnvelopeCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, answering a refused preflight in the envelope.

    A refusal grants nothing: Starlette lists the allowed methods and headers (and
    credentials) even on it; those ``Access-Control-*`` headers are left out.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        # This middleware is outermost, before request ids are assigned: make one.
        request_id = request_headers.get("x-request-id") or str(uuid.uuid4())
        body = envelope(
            ErrorCode.BAD_REQUEST,
            bytes(response.body).decode("utf-8", "replace"),
            {},
            request_id,
        )
        headers = {
            k: v
            for k, v in response.headers.items()
            # The refusal's length and text/plain type were those of its text.
            if k not in ("content-length", "content-type")
            and not k.startswith("access-control-")
        }
        return Response(
            json.dumps(body, separators=(",", ":")),
            status_code=response.status_code,
            headers=headers | {"X-Request-ID": request_id},
            media_type="application/json",
        )
