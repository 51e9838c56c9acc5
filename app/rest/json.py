"""JSON encoding of responses: compact, and every timestamp in UTC with a Z."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connexion.jsonifier import JSONEncoder


class UTCJSONEncoder(JSONEncoder):  # type: ignore[misc]
    """Render datetimes as ISO 8601 in UTC, the same whatever the database returned.

    SQLite hands back naive datetimes (stored in UTC), PostgreSQL aware ones; clients
    see one format either way.
    """

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return utc_isoformat(o)
        return super().default(o)


def utc_isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z; a naive datetime is taken to be UTC already."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
