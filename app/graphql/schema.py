"""The executable schema: the SDL of graphql/ with the resolvers bound to it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ariadne import SchemaBindable, load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema

from app.graphql import scalars
from app.graphql.resolvers import (
    benchmarks,
    completions,
    datasets,
    evaluations,
    plugins,
    system,
)

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "graphql"


@cache
def executable_schema() -> GraphQLSchema:
    """Load graphql/*.graphql once and bind every resolver to it.

    Field and argument names are camelCase in the SDL and snake_case in the
    services (as in the REST API's JSON); Ariadne converts between the two.
    """
    return make_executable_schema(
        load_schema_from_path(SCHEMA_DIR), *bindables(), convert_names_case=True
    )


def bindables() -> list[SchemaBindable]:
    """Scalars, enums and the resolvers of every domain."""
    return [
        *scalars.BINDABLES,
        *system.BINDABLES,
        *completions.BINDABLES,
        *datasets.BINDABLES,
        *benchmarks.BINDABLES,
        *plugins.BINDABLES,
        *evaluations.BINDABLES,
    ]
