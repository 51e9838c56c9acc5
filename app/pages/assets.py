"""The page's own script and style sheet, served by this server (no CDN)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from app.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Names are fixed; a release may change the content, so browsers re-check hourly.
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=3600",
    "X-Content-Type-Options": "nosniff",
}
_FILES = {"benchmark.js": "text/javascript", "benchmark.css": "text/css"}


def asset(name: str) -> tuple[bytes, str]:
    """A page asset and its media type; NotFound for any other name."""
    if name not in _FILES:
        raise NotFound("No such page asset")
    return _read(name), _FILES[name]


@cache
def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()
