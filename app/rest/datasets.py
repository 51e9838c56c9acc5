"""The /v1/datasets resource."""

from __future__ import annotations

from typing import Any

from flask import request

from app.datasets import service
from app.errors import BadRequest
from app.rest.context import caller, runtime
from app.rest.pagination import offset_of, page_of


def create_dataset(body: dict[str, Any] | None = None) -> tuple[dict[str, Any], int]:
    """Import uploaded files as the newest version of a named dataset."""
    uploads = request.files.getlist("file")
    files = [(upload.filename or "upload", upload.read()) for upload in uploads]
    if not files:
        raise BadRequest(
            "At least one file is required",
            details={"errors": [{"field": "file", "message": "missing"}]},
        )
    rt = runtime()
    dataset = service.import_dataset(
        rt.db,
        request.form["name"],
        request.form["format"],
        files,
        caller().user_id,
        max_items=rt.settings.max_dataset_items,
    )
    return dataset, 201


def list_datasets(
    page: int = 1, page_size: int = 20, name: str | None = None
) -> dict[str, Any]:
    """Datasets, newest first."""
    items, total = service.list_datasets(
        runtime().db, offset_of(page, page_size), page_size, name
    )
    return page_of(items, total, page, page_size)


def get_dataset(id_: str) -> dict[str, Any]:
    """One dataset version."""
    return service.get_dataset(runtime().db, id_)
