"""Parsing uploaded dataset files (MMLU CSV, GSM8K JSONL, generic JSONL) into items.

Files are parsed in file-name order, so the items, their keys and the content hash
do not depend on the order in which files were uploaded. Every problem with the
input is a ``BadRequest`` whose details name the file, the 1-based line and the
reason, so a user can fix the file without guessing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from app import jsontext
from app.benchmarks.extraction import normalise_number
from app.errors import BadRequest

FORMATS = ("mmlu-csv", "gsm8k-jsonl", "jsonl")

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MMLU_COLUMNS = 6  # question, A, B, C, D, answer
_MMLU_SPLIT_SUFFIX = re.compile(r"_(?:dev|test|val)$")
# GSM8K puts the final answer on a last line of the form "#### 2,125".
_GSM8K_FINAL = re.compile(r"####\s*(?P<answer>[^\n]*?)\s*\Z")


@dataclass(frozen=True)
class DatasetItem:
    """One question of a dataset, with its expected answer."""

    key: str
    input: str
    expected: str
    choices: list[str] | None
    answer_type: str
    subject: str | None
    reference: str | None = None


@dataclass(frozen=True)
class ParsedDataset:
    """The items of a set of uploaded files, with a hash of their content."""

    format: str
    items: list[DatasetItem]
    content_hash: str


class _Source:
    """Where a record came from, to name it in errors and to count items."""

    def __init__(self, file: str, max_items: int, count: int) -> None:
        self.file = file
        self.max_items = max_items
        self.count = count  # items admitted so far, in all files

    def error(self, line: int, reason: str) -> BadRequest:
        """Return the error for a problem found at a line of the current file."""
        return BadRequest(
            f"{self.file}, line {line}: {reason}",
            details={"file": self.file, "line": line, "reason": reason},
        )

    def admit(self, line: int) -> None:
        """Count one more item, refusing to go past the item limit."""
        self.count += 1
        if self.count > self.max_items:
            raise BadRequest(
                f"{self.file}, line {line}: more than {self.max_items} items",
                details={
                    "file": self.file,
                    "line": line,
                    "reason": f"more than {self.max_items} items",
                    "max_items": self.max_items,
                },
            )


def _decode(source: _Source, data: bytes) -> str:
    """Decode UTF-8 (with or without a BOM), refusing empty files."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise source.error(
            line, f"not UTF-8 text (byte 0x{data[exc.start]:02x})"
        ) from None
    if not text.strip():
        raise source.error(1, "empty file")
    return text


# --- MMLU CSV --------------------------------------------------------------------


def _mmlu_subject(source: _Source) -> str:
    """Return the subject in an MMLU file name: abstract_algebra_dev.csv -> ..."""
    name = PurePosixPath(source.file.replace("\\", "/")).name
    stem = name[:-4] if name.lower().endswith(".csv") else name
    subject = _MMLU_SPLIT_SUFFIX.sub("", stem)
    if not subject:
        raise source.error(1, "cannot take an MMLU subject from the file name")
    return subject


def _mmlu_records(source: _Source, text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (starting line, fields) for each CSV record, skipping blank lines."""
    # newline="" keeps CRLF and newlines inside quoted fields for the csv module;
    # strict mode turns a stray or unclosed quote into an error instead of a guess.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise source.error(start, f"invalid CSV: {exc}") from None
        if row:
            yield start, row
        start = reader.line_num + 1


def _parse_mmlu(
    source: _Source, text: str, counters: dict[str, int]
) -> list[DatasetItem]:
    """Parse one header-less MMLU CSV file: question, A, B, C, D, answer letter."""
    subject = _mmlu_subject(source)
    items = []
    for line, row in _mmlu_records(source, text):
        if len(row) != _MMLU_COLUMNS:
            raise source.error(
                line,
                f"expected 6 columns (question, A, B, C, D, answer), got {len(row)}",
            )
        question, *choices, answer = row
        answer = answer.strip()
        if answer not in ("A", "B", "C", "D"):
            raise source.error(line, f"answer must be one of A-D, got {answer!r}")
        if not question.strip():
            raise source.error(line, "empty question")
        source.admit(line)
        # Keys number the items of a subject across its files (dev before test).
        index = counters.get(subject, 0)
        counters[subject] = index + 1
        items.append(
            DatasetItem(
                key=f"{subject}/{index}",
                input=question,
                expected=answer,
                choices=choices,
                answer_type="choice",
                subject=subject,
            )
        )
    return items


# --- JSONL -----------------------------------------------------------------------


_TOO_DEEP = (
    f"invalid JSON: arrays and objects nest deeper than {jsontext.MAX_DEPTH} levels"
)


def _json_lines(source: _Source, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line, object) for each non-blank line, which must be a JSON object."""
    # Split on "\n" only: str.splitlines() would also split on U+2028, which JSON
    # allows unescaped inside strings.
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            # Decimal keeps "2.50" and large numbers exactly as written.
            value = json.loads(raw, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise source.error(
                line, f"invalid JSON: {exc.msg} at column {exc.colno}"
            ) from None
        except RecursionError:
            raise source.error(line, _TOO_DEEP) from None
        except ValueError as exc:  # integers too long to convert
            raise source.error(line, f"invalid JSON: {exc}") from None
        # As for every JSON a client sends (app/jsontext.py): what nests deeper
        # would break whatever walks it later.
        if jsontext.depth(value) > jsontext.MAX_DEPTH:
            raise source.error(line, _TOO_DEEP)
        if not isinstance(value, dict):
            raise source.error(line, "each line must be a JSON object")
        if "\\u" in raw and not _is_utf8_encodable(value):
            raise source.error(line, "a string has an unpaired surrogate escape")
        yield line, value


def _is_utf8_encodable(value: dict[str, Any]) -> bool:
    """Return whether the decoded object's strings can be stored as UTF-8."""
    # JSON escapes such as "\ud800" decode to lone surrogates, which no UTF-8
    # store or hash input accepts.
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _required_text(source: _Source, line: int, obj: dict[str, Any], field: str) -> str:
    """Return a field that must be a non-empty string."""
    if field not in obj:
        raise source.error(line, f"missing field {field!r}")
    value = obj[field]
    if not isinstance(value, str):
        raise source.error(line, f"field {field!r} must be a string")
    if not value.strip():
        raise source.error(line, f"field {field!r} must not be empty")
    return value


def _parse_gsm8k(
    source: _Source, text: str, counters: dict[str, int]
) -> list[DatasetItem]:
    """Parse GSM8K JSONL: question, and a worked answer ending in '#### N'."""
    items = []
    for line, obj in _json_lines(source, text):
        question = _required_text(source, line, obj, "question")
        answer = _required_text(source, line, obj, "answer")
        final = _GSM8K_FINAL.search(answer.rstrip().split("\n")[-1])
        if final is None:
            raise source.error(line, "answer has no final line '#### <number>'")
        expected = normalise_number(final["answer"])
        if expected is None:
            raise source.error(
                line, f"final answer {final['answer']!r} is not a number"
            )
        source.admit(line)
        index = counters.get("gsm8k", 0)
        counters["gsm8k"] = index + 1
        items.append(
            DatasetItem(
                key=f"gsm8k/{index}",
                input=question,
                expected=expected,
                choices=None,
                answer_type="number",
                subject=None,
                reference=answer,
            )
        )
    return items


def _scalar_text(value: Any) -> str | None:
    """Return a JSON string or number as text (numbers as written), else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # bool is an int subclass, and never an answer
        return None
    if isinstance(value, int | Decimal):
        return str(value)
    return None


def _generic_choices(
    source: _Source, line: int, obj: dict[str, Any]
) -> list[str] | None:
    """Return the item's choices, or None when it has none."""
    raw = obj.get("choices")
    if raw is None:
        return None
    if not isinstance(raw, list) or not 2 <= len(raw) <= len(_LETTERS):
        raise source.error(line, "field 'choices' must be a list of 2 to 26 strings")
    choices = [_scalar_text(choice) for choice in raw]
    if any(choice is None for choice in choices):
        raise source.error(line, "field 'choices' must be a list of 2 to 26 strings")
    return [choice for choice in choices if choice is not None]


def _choice_letter(
    source: _Source, line: int, expected: str, choices: list[str]
) -> str:
    """Return the letter of the expected choice, given as a letter or as its text."""
    letters = _LETTERS[: len(choices)]
    wanted = expected.strip()
    # A letter wins over a choice text that happens to be a letter too.
    if len(wanted) == 1 and wanted in letters:
        return wanted
    matches = [i for i, choice in enumerate(choices) if choice.strip() == wanted]
    if len(matches) > 1:
        raise source.error(line, f"expected {expected!r} matches several choices")
    if not matches:
        raise source.error(
            line,
            f"expected must be a letter {letters[0]}-{letters[-1]} "
            f"or one of the choices, got {expected!r}",
        )
    return letters[matches[0]]


def _generic_key(source: _Source, line: int, obj: dict[str, Any]) -> str:
    """Return the item's key: its "id", else the file's stem and the line number."""
    if "id" not in obj:
        stem = PurePosixPath(source.file.replace("\\", "/")).name.split(".")[0]
        return f"{stem}/{line}"
    value = obj["id"]
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise source.error(line, "field 'id' must be a non-empty string or an integer")
    return str(value)


def _generic_item(source: _Source, line: int, obj: dict[str, Any]) -> DatasetItem:
    """Build one item of the generic format: input, expected, optional choices."""
    question = _required_text(source, line, obj, "input")
    if "expected" not in obj:
        raise source.error(line, "missing field 'expected'")
    expected = _scalar_text(obj["expected"])
    if expected is None or not expected.strip():
        raise source.error(
            line, "field 'expected' must be a non-empty string or number"
        )
    choices = _generic_choices(source, line, obj)
    number = normalise_number(expected)
    if choices is not None:
        answer_type, expected = (
            "choice",
            _choice_letter(source, line, expected, choices),
        )
    elif number is not None:
        answer_type, expected = "number", number
    else:
        answer_type = "text"
    return DatasetItem(
        key=_generic_key(source, line, obj),
        input=question,
        expected=expected,
        choices=choices,
        answer_type=answer_type,
        subject=None,
    )


def _parse_generic(
    source: _Source, text: str, counters: dict[str, int]
) -> list[DatasetItem]:
    """Parse generic JSONL: {"input", "expected", optional "choices", "id"}."""
    items = []
    for line, obj in _json_lines(source, text):
        item = _generic_item(source, line, obj)
        source.admit(line)
        # Keys must identify items, so a repeated "id" is an error, not a merge.
        if item.key in counters:
            raise source.error(line, f"duplicate item key {item.key!r}")
        counters[item.key] = line
        items.append(item)
    return items


# --- entry point -----------------------------------------------------------------

_Parser = Callable[[_Source, str, dict[str, int]], list[DatasetItem]]
_PARSERS: dict[str, _Parser] = {
    "mmlu-csv": _parse_mmlu,
    "gsm8k-jsonl": _parse_gsm8k,
    "jsonl": _parse_generic,
}


def _content_hash(items: list[DatasetItem]) -> str:
    """Return the sha256 hex digest of a canonical JSON serialisation of items."""
    canonical = json.dumps(
        [asdict(item) for item in items],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_dataset(
    format: str, files: list[tuple[str, bytes]], *, max_items: int = 100_000
) -> ParsedDataset:
    """Parse uploaded files of one format into items, or raise BadRequest."""
    parser = _PARSERS.get(format)
    if parser is None:
        raise BadRequest(
            f"unknown dataset format {format!r}",
            details={"format": format, "known_formats": list(FORMATS)},
        )
    uses = Counter(name for name, _ in files)
    duplicates = sorted(name for name, count in uses.items() if count > 1)
    if duplicates:
        raise BadRequest(
            f"file {duplicates[0]!r} was uploaded more than once",
            details={"files": duplicates, "reason": "duplicate file name"},
        )
    items: list[DatasetItem] = []
    counters: dict[str, int] = {}
    for name, data in sorted(files):
        source = _Source(name, max_items, len(items))
        items.extend(parser(source, _decode(source, data), counters))
    if not items:
        raise BadRequest("no items: no files were uploaded", details={"files": []})
    return ParsedDataset(format=format, items=items, content_hash=_content_hash(items))
