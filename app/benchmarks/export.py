"""Exports of a benchmark's cells (CSV, JSON Lines, JSON) and its run manifest.

An export is a generator of byte chunks: cells are read a page at a time by
keyset pagination on (target, item, repeat), the order of the cells' unique
index, each page in a session of its own. No transaction stays open while the
client reads, and memory holds one page whatever the size of the benchmark.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import threading
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from app import __version__
from app.benchmarks import prompts
from app.benchmarks.items import item_from_row
from app.benchmarks.prompts import build_prompt
from app.benchmarks.service import benchmark_view, check_target
from app.datasets.formats import DatasetItem as Item
from app.errors import NotFound
from app.evaluators.registry import EvaluatorRegistry
from app.store.database import Database
from app.store.models import Benchmark, BenchmarkCell, Dataset, DatasetItem

logger = logging.getLogger(__name__)

# Cells read and written per page: a few MB of text at most.
EXPORT_PAGE = 500

EXPORT_COLUMNS = (
    "target_index",
    "provider",
    "model",
    "item_position",
    "item_id",
    "repeat",
    "prompt",
    "output",
    "extracted",
    "expected",
    "correct",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "error",
    "metrics",
    "metric_reasons",
    "finish_reason",
)
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV
# injection"); a leading tab or carriage return can hide such a start.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    JSON = "json"

    @property
    def media_type(self) -> str:
        return {
            ExportFormat.CSV: "text/csv",
            ExportFormat.JSONL: "application/jsonl",
            ExportFormat.JSON: "application/json",
        }[self]


def check_exportable(db: Database, benchmark_id: str, target: int | None) -> None:
    """Raise NotFound or BadRequest now, before a stream starts and can no longer
    say so."""
    with db.session() as session:
        benchmark = session.get(Benchmark, benchmark_id)
        if benchmark is None:
            raise NotFound(f"Benchmark '{benchmark_id}' not found")
        check_target(benchmark, target)


def export_chunks(
    db: Database,
    benchmark_id: str,
    export_format: ExportFormat,
    target: int | None = None,
    page_size: int = EXPORT_PAGE,
    stop: threading.Event | None = None,
) -> Iterator[bytes]:
    """The export of a benchmark's stored cells, as chunks of UTF-8 bytes.

    ``stop``, once set (the client went away), ends the export after the page
    being written.
    """
    rows = export_rows(db, benchmark_id, target, page_size, stop)
    if export_format == ExportFormat.CSV:
        return _csv_chunks(rows)
    if export_format == ExportFormat.JSONL:
        return _jsonl_chunks(rows)
    return _json_chunks(rows)


def export_rows(
    db: Database,
    benchmark_id: str,
    target: int | None,
    page_size: int = EXPORT_PAGE,
    stop: threading.Event | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of export rows, in (target, item, repeat) order."""
    after: tuple[int, int, int] | None = None
    while True:
        if stop is not None and stop.is_set():
            logger.info("export of benchmark %s stopped: client gone", benchmark_id)
            return
        with db.session() as session:
            benchmark = session.get(Benchmark, benchmark_id)
            if benchmark is None:
                return  # deleted while exporting: the export ends there
            cells = _page(session, benchmark_id, target, after, page_size)
            if not cells:
                return
            items = _items(
                session, benchmark.dataset_id, {c.item_position for c in cells}
            )
            page = [_row(benchmark.targets, cell, items) for cell in cells]
        yield page
        last = cells[-1]
        after = (last.target_index, last.item_position, last.repeat)
        if len(cells) < page_size:
            return


def _page(
    session: Session,
    benchmark_id: str,
    target: int | None,
    after: tuple[int, int, int] | None,
    page_size: int,
) -> list[BenchmarkCell]:
    key = (
        BenchmarkCell.target_index,
        BenchmarkCell.item_position,
        BenchmarkCell.repeat,
    )
    query = select(BenchmarkCell).where(BenchmarkCell.benchmark_id == benchmark_id)
    if target is not None:
        query = query.where(BenchmarkCell.target_index == target)
    if after is not None:
        query = query.where(tuple_(*key) > tuple_(*after))
    return list(session.scalars(query.order_by(*key).limit(page_size)))


def _items(
    session: Session, dataset_id: str, positions: set[int]
) -> dict[int, tuple[Item, str]]:
    rows = session.scalars(
        select(DatasetItem).where(
            DatasetItem.dataset_id == dataset_id, DatasetItem.position.in_(positions)
        )
    )
    found = {}
    for row in rows:
        item = item_from_row(row)
        found[row.position] = (item, build_prompt(item))
    return found


def _row(
    targets: list[dict[str, Any]],
    cell: BenchmarkCell,
    items: dict[int, tuple[Item, str]],
) -> dict[str, Any]:
    target = targets[cell.target_index]
    item, prompt = items[cell.item_position]
    return {
        "target_index": cell.target_index,
        "provider": target["provider"],
        "model": target["model"],
        "item_position": cell.item_position,
        "item_id": item.key,
        "repeat": cell.repeat,
        "prompt": prompt,
        "output": cell.output,
        "extracted": cell.extracted,
        "expected": item.expected,
        "correct": cell.correct,
        "latency_ms": cell.latency_ms,
        "prompt_tokens": cell.prompt_tokens,
        "completion_tokens": cell.completion_tokens,
        "cost_usd": cell.cost_usd,
        "error": cell.error,
        "metrics": cell.metrics,
        "metric_reasons": cell.metric_reasons,
        "finish_reason": cell.finish_reason,
    }


def csv_safe(value: Any) -> Any:
    """A value as a CSV cell: text that a spreadsheet would run is quoted with '."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        # JSON text starts with "{": never a formula.
        return json.dumps(value, separators=(",", ":"))
    return csv_safe(value)


def _csv_chunks(pages: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    yield _drain(buffer)
    for page in pages:
        for row in page:
            writer.writerow([_csv_value(row[column]) for column in EXPORT_COLUMNS])
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()


def _jsonl_chunks(pages: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    for page in pages:
        yield "".join(_json(row) + "\n" for row in page).encode()


def _json_chunks(pages: Iterator[list[dict[str, Any]]]) -> Iterator[bytes]:
    yield b"["
    first = True
    for page in pages:
        text = ",".join(_json(row) for row in page)
        yield (text if first else "," + text).encode()
        first = False
    yield b"]"


def _json(row: dict[str, Any]) -> str:
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)


def benchmark_manifest(
    db: Database, evaluators: EvaluatorRegistry, benchmark_id: str
) -> dict[str, Any]:
    """What it takes to run a benchmark again, and to tell two runs apart."""
    with db.session() as session:
        benchmark = session.get(Benchmark, benchmark_id)
        if benchmark is None:
            raise NotFound(f"Benchmark '{benchmark_id}' not found")
        dataset = session.get(Dataset, benchmark.dataset_id)
        assert dataset is not None, "a benchmark's dataset is never deleted"
        keys = dict(
            session.execute(
                select(DatasetItem.position, DatasetItem.key).where(
                    DatasetItem.dataset_id == dataset.id,
                    DatasetItem.position.in_(benchmark.item_positions),
                )
            ).all()
        )
    positions = list(benchmark.item_positions)
    item_ids = [keys[p] for p in positions]
    recorded = (benchmark.results or {}).get("evaluators")
    # The settings as GET /v1/benchmarks/{id} shows them, so the two cannot differ.
    view = benchmark_view(benchmark, dataset, completed_cells=0)
    settings = ("judge", "parameters", "iterations", "repeats", "concurrency", "seed")
    return {
        "benchmark_id": benchmark.id,
        "name": benchmark.name,
        "status": benchmark.status,
        "dataset": view["dataset"],
        "item_positions": positions,
        "item_ids": item_ids,
        "item_ids_sha256": hashlib.sha256("\n".join(item_ids).encode()).hexdigest(),
        "targets": view["providers"],
        "prompt_template": {
            "version": prompts.PROMPT_TEMPLATE_VERSION,
            "text": prompts.template_texts(),
        },
        "metrics": recorded
        if recorded is not None
        else [_current_version(evaluators, name) for name in benchmark.metrics],
        "evaluators_recorded": recorded is not None,
        **{name: view[name] for name in settings},
        "server_version": __version__,
        "created_at": benchmark.created_at,
    }


def _current_version(evaluators: EvaluatorRegistry, name: str) -> dict[str, Any]:
    if name not in evaluators.names():
        return {"name": name, "version": None, "kind": None}
    info = evaluators.get(name).info
    return {"name": name, "version": info.version, "kind": info.kind.public}
