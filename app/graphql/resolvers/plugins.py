"""plugins and plugin(id): the installed plugins, as GET /v1/plugins lists them.

The services' snake_case keys become the SDL's camelCase (pluginType) in Ariadne.
"""

from __future__ import annotations

from typing import Any

from ariadne import QueryType, SchemaBindable

from app.graphql.context import Info
from app.graphql.contract import check_parameter

# Root field -> the REST operation whose roles guard it.
OPERATIONS: dict[tuple[str, str], str] = {
    ("Query", "plugins"): "list_plugins",
    ("Query", "plugin"): "get_plugin",
}

query = QueryType()


@query.field("plugins")
def resolve_plugins(_obj: Any, info: Info) -> list[dict[str, Any]]:
    """Every installed plugin, ordered by name (the original has no paging)."""
    plugins = info.context.runtime.plugins
    _, total = plugins.list_plugins(0, 0)
    items, _ = plugins.list_plugins(0, total)
    return [_node(item) for item in items]


@query.field("plugin")
def resolve_plugin(_obj: Any, info: Info, id: str) -> dict[str, Any]:
    """One plugin; NOT_FOUND (the field null) when no plugin has this id.

    As GET /v1/plugins/{id} and the other lookups (dataset, benchmark) do.
    """
    check_parameter("ResourceId", id, "id")
    return _node(info.context.runtime.plugins.get_plugin(id))


BINDABLES: list[SchemaBindable] = [query]


def _node(plugin: dict[str, Any]) -> dict[str, Any]:
    # The original type has a non-null pluginType; a plugin whose manifest could
    # not be read has none, and says so rather than borrowing another's type.
    return plugin | {"plugin_type": plugin["plugin_type"] or "unknown"}
