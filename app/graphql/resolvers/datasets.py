"""datasets and dataset(id), as GET /v1/datasets and GET /v1/datasets/{id}."""

from __future__ import annotations

from typing import Any

from ariadne import QueryType, SchemaBindable

from app.datasets import service
from app.graphql.context import Info
from app.graphql.contract import check_parameter
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
    """A page of datasets, newest first."""
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
    """Hold page arguments to the bounds of the REST list operations."""
    check_parameter("Page", page, "page")
    check_parameter("PageSize", page_size, "pageSize")


BINDABLES: list[SchemaBindable] = [query]
