"""The database-backed cache of judged metric values, shared by every worker.

A judged value depends only on the judge, the metric's rubric (its version) and
the case, so the same question is never asked twice. Only values are cached:
a judge reply that could not be used may be a passing failure, and asking again
later is the right thing to do.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from app.evaluators.base import Case, MetricInfo
from app.evaluators.judge import JudgeUsage
from app.store.database import Database
from app.store.models import JudgeVerdict
from app.store.writes import insert_ignoring_duplicates


@dataclass(frozen=True)
class CachedVerdict:
    """A judged value found in the cache, with the usage of its original calls."""

    value: float
    evidence: dict[str, Any]
    original_usage: JudgeUsage


def cache_key(provider: str, model: str, info: MetricInfo, case: Case) -> str:
    """The SHA-256 naming one (judge, metric version, case)."""
    fields = [
        provider,
        model,
        info.name,
        info.version,
        case.input,
        case.output,
        case.expected,
        case.context,
    ]
    encoded = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def lookup(db: Database, key: str) -> CachedVerdict | None:
    """The cached value under ``key``, if any (blocking I/O)."""
    with db.session() as session:
        row = session.get(JudgeVerdict, key)
        if row is None:
            return None
        usage = JudgeUsage(
            calls=0,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            cost_usd=row.cost_usd,
        )
        return CachedVerdict(row.value, dict(row.evidence), usage)


def store(
    db: Database,
    key: str,
    provider: str,
    model: str,
    info: MetricInfo,
    value: float,
    evidence: dict[str, Any],
    usage: JudgeUsage,
) -> None:
    """Remember a judged value; a concurrent identical store is ignored."""
    row = {
        "key": key,
        "metric": info.name,
        "version": info.version,
        "provider": provider,
        "model": model,
        "value": value,
        "evidence": evidence,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
    }
    with db.session() as session:
        insert_ignoring_duplicates(session, JudgeVerdict, [row])
