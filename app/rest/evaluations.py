"""The /v1/evaluations resource."""

from __future__ import annotations

from typing import Any

from app.evaluations import runs, service
from app.rest.context import caller, runtime
from app.rest.pagination import offset_of, page_of


def create_evaluation(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Score an output with the requested metrics, store it and publish the result."""
    return runs.evaluate(runtime(), body, caller()), 201


def list_evaluations(page: int = 1, page_size: int = 20) -> dict[str, Any]:
    """Evaluations, newest first."""
    items, total = service.list_evaluations(
        runtime().db, offset_of(page, page_size), page_size
    )
    return page_of(items, total, page, page_size)


def get_evaluation(id_: str) -> dict[str, Any]:
    """One evaluation with every metric's reason and the judge's cost."""
    return service.get_evaluation(runtime().db, id_)
