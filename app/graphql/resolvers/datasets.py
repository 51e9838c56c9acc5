"""datasets and dataset(id), as GET /v1/datasets and GET /v1/datasets/{id}."""

from __future__ import annotations

from typing import Any

from ariadne import QueryType, SchemaBindable

from app.datasets import service
from app.graphql.context import Info
from app.graphql.contract import check_page_arguments, check_parameter
from app.graphql.limits import DEFAULT_PAGE_SIZE
from app.rest.pagination import offset_of, page_of

query = QueryType()
# The SDL's defaults, which an explicit null also means.
DEFAULT_PAGE = 1


@query.field("datasets")
def resolve_datasets(
    _obj: Any,
    info: Info,
    page: int | None,
    page_size: int | None,
    name: str | None = None,
) -> dict[str, Any]:
    """A page of datasets, newest first; an empty name filters nothing (as REST)."""
    page, page_size = checked_page(page, page_size)
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


def checked_page(page: int | None, page_size: int | None) -> tuple[int, int]:
    """Page arguments held to the bounds of the REST list operations.

    An explicit null is the default, as an omitted REST parameter is. The
    operation's validation (app/graphql/limits.py) refuses the same values with
    the same error when the document or its variables give them.
    """
    page = DEFAULT_PAGE if page is None else page
    page_size = DEFAULT_PAGE_SIZE if page_size is None else page_size
    check_page_arguments({"page": page, "pageSize": page_size})
    return page, page_size


BINDABLES: list[SchemaBindable] = [query]
