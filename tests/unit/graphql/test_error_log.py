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
        "GraphQL request req-1 refused: \"Syntax Error: Expected Name, found '}'.\""
    ]
