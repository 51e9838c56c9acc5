"""The GraphQL contract itself: graphql/*.graphql parses, is whole, keeps the original.

These read the SDL files only, with graphql-core; no server runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

graphql = pytest.importorskip("graphql")

from graphql import (  # noqa: E402 (after the skip when graphql-core is absent)
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_ast_schema,
    get_named_type,
    parse,
    validate_schema,
)

SDL_DIR = Path(__file__).resolve().parents[2] / "graphql"

# The original interface (reference/original-api.md, "GraphQL API"), verbatim but for
# the DateTime scalar it uses without declaring. It must stay as it is.
ORIGINAL_SDL = """
scalar DateTime
type Query {
  version: String!
  health: Boolean!
  plugins: [PluginNode!]!
  plugin(id: String!): PluginNode
}
type Mutation {
  createCompletion(input: CompletionInput!): CompletionResult!
  createEvaluation(input: EvaluationInput!): EvaluationResult!
}
input CompletionInput {
  provider: String!
  model: String!
  prompt: String!
  maxTokens: Int
  temperature: Float
}
type CompletionResult {
  text: String!
  model: String!
  requestId: String!
  createdAt: DateTime!
}
input EvaluationInput {
  provider: String!
  model: String!
  input: String!
  output: String!
  expected: String
  metrics: [String!]!
}
type EvaluationResult {
  score: Float!
  evaluationId: String!
  createdAt: DateTime!
}
type PluginNode {
  id: String!
  name: String!
  version: String!
  pluginType: String!
  status: String!
}
"""


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    """Every graphql/*.graphql file, built into one schema."""
    files = sorted(SDL_DIR.glob("*.graphql"))
    assert files, f"no SDL in {SDL_DIR}"
    return build_ast_schema(
        parse("\n".join(f.read_text(encoding="utf-8") for f in files))
    )


def test_the_sdl_builds_a_valid_schema(schema: GraphQLSchema) -> None:
    assert validate_schema(schema) == []
    assert schema.query_type is not None
    assert schema.mutation_type is not None
    assert schema.subscription_type is not None


def test_every_type_is_reachable_from_an_operation(schema: GraphQLSchema) -> None:
    defined = {name for name in schema.type_map if not name.startswith("__")}
    builtin = {"String", "Int", "Float", "Boolean", "ID"}

    reachable = _reachable(schema)

    assert defined - builtin - reachable == set()


def test_the_original_interface_is_kept_unchanged(schema: GraphQLSchema) -> None:
    original = build_ast_schema(parse(ORIGINAL_SDL))

    for name, original_type in original.type_map.items():
        if name.startswith("__"):
            continue
        ours = schema.get_type(name)
        assert ours is not None, f"{name} is gone"
        assert type(ours) is type(original_type), name
        if isinstance(original_type, GraphQLObjectType | GraphQLInputObjectType):
            assert isinstance(ours, GraphQLObjectType | GraphQLInputObjectType)
            for field_name, field in original_type.fields.items():
                assert field_name in ours.fields, f"{name}.{field_name} is gone"
                assert _signature(ours.fields[field_name]) == _signature(field), (
                    f"{name}.{field_name} changed"
                )
            if name not in ("Query", "Mutation"):
                assert set(ours.fields) == set(original_type.fields), name


def _signature(field: object) -> tuple[str, dict[str, str]]:
    args = getattr(field, "args", {}) or {}
    return str(field.type), {n: str(a.type) for n, a in args.items()}  # type: ignore[attr-defined]


def _reachable(schema: GraphQLSchema) -> set[str]:
    roots = [schema.query_type, schema.mutation_type, schema.subscription_type]
    seen: set[str] = set()
    pending = [t for t in roots if t is not None]
    while pending:
        named = get_named_type(pending.pop())
        if named.name in seen:
            continue
        seen.add(named.name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field in named.fields.values():
                pending.append(field.type)
                pending.extend(arg.type for arg in field.args.values())
            pending.extend(getattr(named, "interfaces", []))
        elif isinstance(named, GraphQLInputObjectType):
            pending.extend(field.type for field in named.fields.values())
        elif isinstance(named, GraphQLUnionType):
            pending.extend(named.types)
        elif isinstance(named, GraphQLEnumType):
            pass
    return seen
