"""Importing, listing and reading datasets."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.datasets.formats import DatasetItem as ParsedItem
from app.datasets.formats import ParsedDataset, parse_dataset
from app.errors import BadRequest, Conflict, NotFound
from app.store.database import Database
from app.store.models import Dataset, DatasetItem

logger = logging.getLogger(__name__)

MAX_ITEMS_PER_UPLOAD = 100_000
# How many times an upload tries for the next version of its name before a 409.
VERSION_ATTEMPTS = 8
# The form of the ids datasets get (str(uuid4())), which lookups match exactly.
_ID_FORM = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def import_dataset(
    db: Database,
    name: str,
    format: str,
    files: list[tuple[str, bytes]],
    created_by: str | None,
    max_items: int = MAX_ITEMS_PER_UPLOAD,
) -> dict[str, Any]:
    """Parse uploaded files and store them as the newest version of ``name``."""
    _refuse_id_like(name)
    parsed = parse_dataset(format, files, max_items=max_items)
    _refuse_nul(parsed.items)

    # Uploads under one name that run at once all read the same newest version;
    # the unique (name, version) lets one of them store it, and each other one
    # starts over from the version that won. An attempt is lost only to an upload
    # that was stored, so up to VERSION_ATTEMPTS uploads of one name at once each
    # get a version of their own; beyond that a 409 rather than waiting on.
    for _attempt in range(VERSION_ATTEMPTS):
        try:
            dataset = _store_next_version(db, name, parsed, created_by)
            break
        except _VersionTaken:
            logger.info("dataset %s: version taken by a concurrent upload", name)
    else:
        raise Conflict(
            f"Dataset '{name}' is being uploaded by too many requests at once; "
            "try again",
            details={"name": name},
        )
    subjects = _subjects(parsed.items)

    logger.info(
        "imported dataset %s v%d: %d items", name, dataset.version, dataset.item_count
    )
    return dataset_view(dataset, subjects)


def _refuse_id_like(name: str) -> None:
    """Refuse a name that has the form of a dataset id.

    Wherever a dataset is named (``dataset`` of a benchmark, GET by id or name)
    an id is looked up first: a dataset named like one could be shadowed by, or
    shadow, the dataset of that id.
    """
    if not _ID_FORM.fullmatch(name):
        return
    raise BadRequest(
        "Dataset name has the form of a dataset id (a lower-case UUID), which is "
        "looked up first wherever a dataset is named: choose another name",
        details={"errors": [{"field": "name", "message": "is a UUID"}]},
    )


class _VersionTaken(Exception):
    """Another upload stored the version this one was about to store."""


def _store_next_version(
    db: Database, name: str, parsed: ParsedDataset, created_by: str | None
) -> Dataset:
    """Store ``parsed`` as the version after the newest stored one of ``name``."""
    with db.session() as session:
        dataset = Dataset(
            name=name,
            version=_newest_version(session, name) + 1,
            format=parsed.format,
            content_hash=parsed.content_hash,
            item_count=len(parsed.items),
            created_by=created_by,
        )
        session.add(dataset)
        try:
            session.flush()
        except IntegrityError as e:
            # Only (name, version) can clash: the id is a fresh UUID.
            raise _VersionTaken from e
        rows = [_item_row(dataset.id, i, item) for i, item in enumerate(parsed.items)]
        if rows:
            session.execute(insert(DatasetItem), rows)
    return dataset


def _newest_version(session: Session, name: str) -> int:
    """The highest stored version of ``name``; 0 when there is none."""
    newest = session.scalar(
        select(func.max(Dataset.version)).where(Dataset.name == name)
    )
    return newest or 0


def list_datasets(
    db: Database, offset: int, limit: int, name: str | None
) -> tuple[list[dict[str, Any]], int]:
    """A page of datasets, newest first."""
    query = select(Dataset)
    if name:
        query = query.where(Dataset.name == name)
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(
            query.order_by(Dataset.created_at.desc(), Dataset.version.desc())
            .offset(offset)
            .limit(limit)
        ).all()
        subjects = _stored_subjects_of(session, [row.id for row in rows])
        views = [dataset_view(row, subjects.get(row.id, [])) for row in rows]
    return views, total or 0


def get_dataset(db: Database, ref: str) -> dict[str, Any]:
    """One dataset version by id, or the newest version of a name."""
    row = resolve_dataset(db, ref)
    with db.session() as session:
        return dataset_view(row, _stored_subjects(session, row.id))


def resolve_dataset(db: Database, ref: str) -> Dataset:
    """Find a dataset by id, or by name (its newest version)."""
    with db.session() as session:
        row = session.get(Dataset, ref)
        if row is None:
            row = session.scalar(
                select(Dataset)
                .where(Dataset.name == ref)
                .order_by(Dataset.version.desc())
                .limit(1)
            )
    if row is None:
        raise NotFound(
            f"Dataset '{ref}' not found: give a dataset id or the name of an "
            "imported dataset",
            details={"dataset": ref},
        )
    return row


def dataset_view(row: Dataset, subjects: list[str]) -> dict[str, Any]:
    """The API representation of a dataset."""
    return {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "format": row.format,
        "content_hash": row.content_hash,
        "item_count": row.item_count,
        "subjects": subjects,
        "created_at": row.created_at,
    }


def _refuse_nul(items: list[ParsedItem]) -> None:
    # PostgreSQL text cannot hold NUL; refuse it for every database alike.
    for item in items:
        texts = [item.input, item.expected, item.reference or "", *(item.choices or [])]
        if any("\x00" in text for text in texts):
            raise BadRequest(
                f"Item '{item.key}' contains a NUL character",
                details={"item": item.key},
            )


def _item_row(dataset_id: str, position: int, item: ParsedItem) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "position": position,
        "key": item.key,
        "input": item.input,
        "expected": item.expected,
        "choices": item.choices,
        "answer_type": item.answer_type,
        "subject": item.subject,
        "reference": item.reference,
    }


def _subjects(items: list[ParsedItem]) -> list[str]:
    return sorted({item.subject for item in items if item.subject})


def _stored_subjects(session: Any, dataset_id: str) -> list[str]:
    return _stored_subjects_of(session, [dataset_id]).get(dataset_id, [])


def _stored_subjects_of(session: Any, dataset_ids: list[str]) -> dict[str, list[str]]:
    # One query for a whole page of datasets, not one per dataset.
    if not dataset_ids:
        return {}
    rows = session.execute(
        select(DatasetItem.dataset_id, DatasetItem.subject)
        .where(
            DatasetItem.dataset_id.in_(dataset_ids),
            DatasetItem.subject.is_not(None),
        )
        .distinct()
    )
    subjects: dict[str, list[str]] = {}
    for dataset_id, subject in rows:
        subjects.setdefault(dataset_id, []).append(subject)
    return {dataset_id: sorted(names) for dataset_id, names in subjects.items()}
