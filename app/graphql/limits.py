"""Depth and cost limits of an operation, fragments included.

Both are measured over what the operation would really select: inline fragments
and named fragments (and chains of them) count where they are spread. Each named
fragment is measured once and remembered, so a document that spreads fragments
many times, or in a long chain, costs time in proportion to its size; a fragment
cycle is measured as empty here and refused by the spec's own NoFragmentCycles
rule, so it cannot make this loop forever.

The cost model: every selected field costs 1, and a field returning a list
multiplies the cost of what is selected under it by how many objects it may
return: its ``pageSize`` argument when it has one, otherwise the estimate in
LIST_SIZES.

Page arguments the document or its variables give outside the bounds of the REST
parameters they mirror are refused here too, by name and with their range, as
the resolvers would refuse them: otherwise a pageSize of 1000 would read as an
operation that costs too much instead of a page size that is too large. Such a
page is costed at the largest page size allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError
from graphql.language import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from graphql.validation import ASTValidationRule, ValidationContext, ValidationRule

from app.errors import BadRequest, ErrorCode
from app.graphql.contract import (
    PAGE_PARAMETERS,
    check_page_arguments,
    parameter_schema,
)

DEFAULT_PAGE_SIZE = 20
# Fields returning an unpaginated list of objects, and how many they may return:
# benchmarks have at most 16 targets (BenchmarkCreate.providers.maxItems).
LIST_SIZES: Mapping[str, int] = {
    "providers": 10,
    "models": 10,
    "plugins": 10,
    "targets": 16,
    "results": 16,
}
# Fields returning a page of objects, whose size is their pageSize argument.
PAGINATED_FIELDS = frozenset({"datasets", "benchmarks"})
PAGE_SIZE_ARGUMENT = "pageSize"
# GraphQL's Int: larger literals are refused by the spec's own rules.
_INT_RANGE = range(-(2**31), 2**31)


class _Measure:
    """Depth and cost of selection sets within one document."""

    def __init__(
        self, context: ValidationContext, variables: Mapping[str, Any]
    ) -> None:
        self.context = context
        self.variables = variables
        self.fragments: dict[str, tuple[int, int]] = {}
        self.measuring: set[str] = set()
        # Paginated fields whose page arguments are out of bounds, and why.
        self.refused_pages: list[tuple[FieldNode, BadRequest]] = []

    def selection_set(self, selection_set: SelectionSetNode | None) -> tuple[int, int]:
        """(depth in fields, cost) of what a selection set selects."""
        if selection_set is None:
            return 0, 0
        depth = cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                below_depth, below_cost = self.selection_set(selection.selection_set)
                this_depth = 1 + below_depth
                this_cost = 1 + self.list_size(selection) * below_cost
            elif isinstance(selection, InlineFragmentNode):
                this_depth, this_cost = self.selection_set(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                this_depth, this_cost = self.fragment(selection.name.value)
            else:
                continue
            depth = max(depth, this_depth)
            cost += this_cost
        return depth, cost

    def fragment(self, name: str) -> tuple[int, int]:
        """A named fragment's depth and cost, measured once per document."""
        if name in self.fragments:
            return self.fragments[name]
        definition = self.context.get_fragment(name)
        if definition is None or name in self.measuring:
            return 0, 0  # unknown, or a cycle: other rules report both
        self.measuring.add(name)
        measured = self.selection_set(definition.selection_set)
        self.measuring.discard(name)
        self.fragments[name] = measured
        return measured

    def list_size(self, field: FieldNode) -> int:
        """How many objects the field may return (1 for a single object)."""
        name = field.name.value
        if name in PAGINATED_FIELDS:
            return self.page_size(field)
        return LIST_SIZES.get(name, 1)

    def page_size(self, field: FieldNode) -> int:
        """The page size a paginated field asks for (at most the largest allowed).

        Page arguments out of bounds are noted in ``refused_pages``.
        """
        values = self.page_arguments(field)
        try:
            check_page_arguments(values)
        except BadRequest as error:
            self.refused_pages.append((field, error))
        size = values.get(PAGE_SIZE_ARGUMENT)
        if size is None or size < 1:
            return DEFAULT_PAGE_SIZE
        largest: int = parameter_schema(PAGE_PARAMETERS[PAGE_SIZE_ARGUMENT])["maximum"]
        return min(size, largest)

    def page_arguments(self, field: FieldNode) -> dict[str, int]:
        """The page arguments of a field whose integer values are known."""
        values: dict[str, int] = {}
        for argument in field.arguments or ():
            name = argument.name.value
            if name not in PAGE_PARAMETERS:
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            # Anything else (a bool, a string, an Int too large) is refused by
            # the spec's rules or by variable coercion, with their own errors.
            if type(value) is int and value in _INT_RANGE:
                values[name] = value
        return values


def limits_rule(
    max_depth: int,
    max_cost: int,
    variables: Mapping[str, Any] | None,
    max_mutations: int = 5,
) -> type[ASTValidationRule]:
    """A validation rule refusing operations deeper or costlier than the limits."""

    class OperationLimitsRule(ValidationRule):
        """Refuse an operation beyond GRAPHQL_MAX_DEPTH or GRAPHQL_MAX_COST."""

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            # A fragment spread in several operations is measured in each.
            self.refused_fields: set[int] = set()

        def enter_operation_definition(
            self, node: OperationDefinitionNode, *_args: Any
        ) -> None:
            measure = _Measure(self.context, _with_defaults(node, variables or {}))
            try:
                depth, cost = measure.selection_set(node.selection_set)
            except RecursionError:
                depth, cost = max_depth + 1, max_cost + 1
            for field, refusal in measure.refused_pages:
                if id(field) in self.refused_fields:
                    continue
                self.refused_fields.add(id(field))
                self.report_error(
                    GraphQLError(
                        refusal.message,
                        field,
                        extensions={
                            "code": str(refusal.code),
                            "details": refusal.details,
                        },
                    )
                )
            name = node.name.value if node.name else "anonymous"
            if node.operation == OperationType.MUTATION:
                count = _root_fields(self.context, node.selection_set, set())
                if count > max_mutations:
                    # Each mutation may call a (paid) provider, and the rate limit
                    # counts the request once: bound how many one request holds.
                    self.report_error(
                        GraphQLError(
                            f"Operation '{name}' has {count} mutation fields; "
                            f"the limit is {max_mutations}",
                            node,
                            extensions=_extensions("mutations", count, max_mutations),
                        )
                    )
            if depth > max_depth:
                self.report_error(
                    GraphQLError(
                        f"Operation '{name}' is {depth} fields deep; "
                        f"the limit is {max_depth}",
                        node,
                        extensions=_extensions("depth", depth, max_depth),
                    )
                )
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"Operation '{name}' costs {cost}; the limit is {max_cost}",
                        node,
                        extensions=_extensions("cost", cost, max_cost),
                    )
                )

    return OperationLimitsRule


def _root_fields(
    context: ValidationContext, selection_set: SelectionSetNode, seen: set[str]
) -> int:
    """How many fields a root selection set selects, fragments spread in."""
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += 1
        elif isinstance(selection, InlineFragmentNode):
            count += _root_fields(context, selection.selection_set, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = context.get_fragment(name)
            if fragment is not None and name not in seen:
                seen.add(name)
                count += _root_fields(context, fragment.selection_set, seen)
    return count


def _with_defaults(
    operation: OperationDefinitionNode, variables: Mapping[str, Any]
) -> Mapping[str, Any]:
    # A variable the request leaves out takes its default from the operation:
    # `query($size: Int = 100)` must cost a page of 100, not of the default 20.
    defaults = {
        definition.variable.name.value: int(definition.default_value.value)
        for definition in operation.variable_definitions or ()
        if isinstance(definition.default_value, IntValueNode)
    }
    return {**defaults, **variables}


def _extensions(measure: str, value: int, limit: int) -> dict[str, Any]:
    return {
        "code": str(ErrorCode.BAD_REQUEST),
        "details": {measure: value, "limit": limit},
    }
