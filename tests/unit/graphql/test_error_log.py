"""What the GraphQL error log keeps of a refused document: the message only."""

from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError, parse

from app.graphql.errors import ErrorLog


def test_a_syntax_error_is_logged_without_the_documents_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    document = '{ benchmarks(filter: {name: "private-prompt-text"}) { items( } }'
    with pytest.raises(GraphQLError) as refused:
        parse(document)

    with caplog.at_level(logging.INFO, logger="app.graphql.errors"):
        ErrorLog("req-1").error(refused.value)

    assert caplog.messages == [
        "GraphQL request req-1 refused: 'Syntax Error: Expected Name, found ...'"
    ]


@pytest.mark.parametrize(
    ("message", "logged"),
    [
        (
            "Variable '$i' has invalid value: {'prompt': 'my password is SECRET'}.",
            "Variable '$i' has invalid value ...",
        ),
        (
            "Expected value of type 'Int', found \"SECRET\".",
            "Expected value of type 'Int', found ...",
        ),
        (
            'Int cannot represent non-integer value: "SECRET"',
            "Int cannot represent non-integer value: ...",
        ),
        ("Cannot query field 'nope' on type 'Query'.", None),
    ],
)
def test_values_in_graphql_cores_messages_are_left_out_of_the_log(
    caplog: pytest.LogCaptureFixture, message: str, logged: str | None
) -> None:
    with caplog.at_level(logging.INFO, logger="app.graphql.errors"):
        ErrorLog("req-2").error(GraphQLError(message))

    assert caplog.messages == [f"GraphQL request req-2 refused: {logged or message!r}"]
