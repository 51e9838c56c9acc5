"""Running an evaluation: what every transport does, in one place.

An evaluation is validated against the registry, scored (judge calls on the
event loop), stored, and announced on ``evaluation.results``. REST handlers and
GraphQL resolvers both call ``evaluate`` so the two can never drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.auth.service import Principal
from app.evaluations import service
from app.events import Topic

if TYPE_CHECKING:
    from app.runtime import Runtime


def evaluate(runtime: Runtime, body: dict[str, Any], who: Principal) -> dict[str, Any]:
    """Score an output with the requested metrics; the stored evaluation's view."""
    request = service.validate_request(runtime.evaluators, runtime.providers, body)
    view: dict[str, Any] = runtime.call(
        service.run_evaluation(runtime.db, runtime.providers, request, who)
    )
    runtime.events.publish(Topic.EVALUATION_RESULTS, service.results_event(view))
    return view
