"""Dialect-aware writes that the portable SQLAlchemy core does not offer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def insert_ignoring_duplicates(
    session: Session, model: type[DeclarativeBase], rows: list[dict[str, Any]]
) -> None:
    """Insert rows, silently skipping any that would break a unique constraint.

    This is what makes cell writes idempotent: a cell written twice (a retry, a
    resume racing a late flush) is stored once.
    """
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        pg = postgresql.insert(table).on_conflict_do_nothing()
        session.execute(pg, rows)
    else:
        lite = sqlite.insert(table).on_conflict_do_nothing()
        session.execute(lite, rows)
