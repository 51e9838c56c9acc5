"""The DateTime scalar and the enums whose values are the REST API's strings."""

from __future__ import annotations

from datetime import datetime

from ariadne import EnumType, ScalarType, SchemaBindable

from app.auth.permissions import Role
from app.benchmarks.lifecycle import BenchmarkStatus
from app.rest.json import utc_isoformat
from app.rest.validation import parse_date_time

date_time = ScalarType("DateTime")


@date_time.serializer
def serialize_date_time(value: datetime) -> str:
    """RFC 3339 in UTC with a Z, exactly as the REST API writes timestamps."""
    return utc_isoformat(value)


@date_time.value_parser
def parse_date_time_value(value: str) -> datetime:
    """An RFC 3339 date-time, as the REST API accepts them."""
    return parse_date_time(value)


BINDABLES: list[SchemaBindable] = [
    date_time,
    # GraphQL enum values are upper case; the services speak the REST strings.
    EnumType(
        "BenchmarkStatus", {status.name: status.value for status in BenchmarkStatus}
    ),
    EnumType("Role", {role.name: role.value for role in Role}),
]
