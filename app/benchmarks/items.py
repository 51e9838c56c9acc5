"""Conversion between stored dataset items and the items prompts are built from."""

from __future__ import annotations

from app.datasets.formats import DatasetItem as Item
from app.store.models import DatasetItem


def item_from_row(row: DatasetItem) -> Item:
    """The parsed-item form of a stored dataset item."""
    return Item(
        key=row.key,
        input=row.input,
        expected=row.expected,
        choices=row.choices,
        answer_type=row.answer_type,
        subject=row.subject,
        reference=row.reference,
    )
