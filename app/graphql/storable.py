"""Refuse a NUL written as an escape inside a GraphQL document's string literal.

The HTTP layer refuses NUL in every JSON string of a request (PostgreSQL text
cannot hold it), variables included. A document can still spell one as
``"\\u0000"`` in a literal, which only the GraphQL parser decodes; this rule holds
decoded literals to the same rule, so no argument reaches a service with a NUL.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from graphql.language import StringValueNode
from graphql.validation import ValidationRule

from app.errors import ErrorCode


class NoNulInStringsRule(ValidationRule):
    """Report every string literal that decodes to text holding NUL."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        """Refuse the literal if it holds NUL."""
        if "\x00" in node.value:
            self.report_error(
                GraphQLError(
                    "A string in the document contains a NUL character",
                    node,
                    extensions={
                        "code": str(ErrorCode.BAD_REQUEST),
                        "details": {
                            "errors": [{"field": None, "message": "NUL character"}]
                        },
                    },
                )
            )
