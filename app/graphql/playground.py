"""The GraphiQL playground: one HTML page and files vendored in static/.

Nothing is loaded from a CDN, so the playground works on a machine without
internet; scripts/vendor_graphiql.py reproduces the vendored files from the npm
registry and static/SHA256SUMS pins them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from app.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSET_PATH = "/graphql/assets/"
# The files are fixed for a release: browsers may keep them for a day.
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=86400",
    "X-Content-Type-Options": "nosniff",
}
_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LLM Test Bench GraphQL playground</title>
<link rel="stylesheet" href="{assets}graphiql.min.css">
<style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading the GraphiQL playground...</div>
<script src="{assets}react.production.min.js"></script>
<script src="{assets}react-dom.production.min.js"></script>
<script src="{assets}graphql-ws.min.js"></script>
<script src="{assets}graphiql.min.js"></script>
<script src="{assets}playground.js"></script>
</body>
</html>
"""


def page() -> str:
    """The HTML page that loads GraphiQL from this server."""
    return _PAGE.format(assets=ASSET_PATH)


def served_assets() -> frozenset[str]:
    """The names of the files the playground may load (those SHA256SUMS pins)."""
    return frozenset(_pinned())


def asset(name: str) -> tuple[bytes, str]:
    """A vendored file and its media type; NotFound for any other name."""
    if name not in _pinned():
        raise NotFound("No such playground asset")
    return _read(name), _MEDIA_TYPES[Path(name).suffix]


@cache
def _pinned() -> dict[str, str]:
    lines = (STATIC_DIR / "SHA256SUMS").read_text(encoding="ascii").splitlines()
    return {name: digest for digest, name in (line.split() for line in lines)}


@cache
def _read(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()
