"""Reading the results page's HTML in tests: its target table and chart marks."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.table: dict[int, dict[str, dict[str, str]]] = {}
        self.marks: dict[str, list[dict[str, str]]] = {}
        self._row: int | None = None
        self._chart: str | None = None
        self.status: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section" and a.get("id") == "results":
            self.status = a.get("data-status")
        if tag == "svg":
            self._chart = a.get("id")
        elif self._chart and tag in ("rect", "circle", "g", "line") and "class" in a:
            self.marks.setdefault(self._chart, []).append({"tag": tag, **a})
        if tag == "tr" and "data-target-index" in a:
            self._row = int(a["data-target-index"])
            self.table[self._row] = {}
        if tag == "td" and self._row is not None and "data-field" in a:
            self.table[self._row][a["data-field"]] = a

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._chart = None
        if tag == "tr":
            self._row = None


def parse_page(html: str) -> dict[str, Any]:
    """The table ({target: {field: attributes}}), chart marks and status."""
    parser = _PageParser()
    parser.feed(html)
    return {"table": parser.table, "marks": parser.marks, "status": parser.status}


def value(cell: dict[str, str]) -> float | None:
    """A table cell's exact figure (its data-value), None when it has none."""
    text = cell.get("data-value", "")
    return None if text == "" else float(text)
