"""Every root field of the schema is guarded by an operation of the permission table."""

from __future__ import annotations

import pytest

from app.auth.permissions import PERMISSIONS
from app.errors import Forbidden
from app.graphql.permissions import ROOT_FIELD_OPERATIONS, authorize_root_field
from app.graphql.schema import executable_schema


def root_fields() -> set[tuple[str, str]]:
    schema = executable_schema()
    roots = [schema.query_type, schema.mutation_type, schema.subscription_type]
    return {(root.name, name) for root in roots if root for name in root.fields}


def test_every_root_field_and_no_other_has_an_operation() -> None:
    assert set(ROOT_FIELD_OPERATIONS) == root_fields()


def test_every_operation_named_is_in_the_permission_table() -> None:
    assert set(ROOT_FIELD_OPERATIONS.values()) - set(PERMISSIONS) == set()


@pytest.mark.parametrize(
    ("field", "role", "allowed"),
    [
        (("Query", "benchmarks"), "viewer", True),
        (("Mutation", "createBenchmark"), "viewer", False),
        (("Mutation", "createBenchmark"), "service", True),
        (("Mutation", "createCompletion"), "viewer", False),
        (("Query", "version"), "viewer", True),
        (("Subscription", "benchmarkProgress"), "viewer", True),
        (("Query", "unknownField"), "admin", False),
    ],
)
def test_roles_follow_the_rest_twin_of_each_field(
    field: tuple[str, str], role: str, allowed: bool
) -> None:
    if allowed:
        authorize_root_field(*field, role)
    else:
        with pytest.raises(Forbidden):
            authorize_root_field(*field, role)
