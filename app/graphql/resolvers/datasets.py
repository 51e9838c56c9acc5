"""datasets and dataset(id), as GET /v1/datasets and GET /v1/datasets/{id}."""

from __future__ import annotations

from typing import Any

from ariadne import QueryType, SchemaBindable

from app.datasets import service
from app.graphql.context import Info
from app.graphql.contract import check_page_arguments, check_parameter
from app.rest.pagination import offset_of, page_of

query = QueryType()


@query.field("datasets")
def resolve_datasets(
    _obj: Any,
    info: Info,
    page: int,
    page_size: int,
    name: str | None = None,
) -> dict[str, Any]:
    """A page of datasets, newest first; an empty name filters nothing (as REST)."""
    check_page(page, page_size)
    items, total = service.list_datasets(
        info.context.runtime.db, offset_of(page, page_size), page_size, name
    )
    return page_of(items, total, page, page_size)


@query.field("dataset")
def resolve_dataset(
    _obj: Any,
    info: Info,
    id: str,
) -> dict[str, Any]:
    """One dataset version by id, or the newest of a name; NOT_FOUND otherwise."""
    check_parameter("ResourceId", id, "id")
    return service.get_dataset(info.context.runtime.db, id)


def check_page(page: int, page_size: int) -> None:
    """Hold page arguments to the bounds of the REST list operations.

    The operation's validation (app/graphql/limits.py) refuses the same values
    with the same error when the document or its variables give them.
    """
    check_page_arguments({"page": page, "pageSize": page_size})


BINDABLES: list[SchemaBindable] = [query]
