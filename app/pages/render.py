"""Jinja rendering of the pages, with the number formats they use."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

# Scripts, styles and connections (the page's fragment and /ws) from this origin
# only; no inline script or style, no plugins, no framing, forms post here only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with it, Chromium sends "Origin: null" on the login form's
    # POST, which the same-origin check then (rightly) refuses.
    "Referrer-Policy": "same-origin",
    # A page shows one user's view of data that changes: never stored.
    "Cache-Control": "no-store",
}


def render(template: str, **context: Any) -> str:
    """Render one of app/pages/templates."""
    return _environment().get_template(template).render(**context)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("app.pages", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pct=percent, ms=milliseconds, usd=dollars, num=number, interval=interval
    )
    return env


# What a missing figure shows (an en dash, written as an escape for the linter).
MISSING = "\u2013"


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{value * 100:.1f}%"


def milliseconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f} ms"


def dollars(value: float | None) -> str:
    return MISSING if value is None else f"${value:.6f}"


def number(value: float | None, digits: int = 3) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def interval(bounds: dict[str, Any] | None, kind: str = "pct") -> str:
    """``[low, high]`` in the figure's own format; empty when there is none."""
    if not bounds:
        return ""
    fmt = {"pct": percent, "ms": milliseconds, "usd": dollars, "num": number}[kind]
    return f"[{fmt(bounds.get('low'))}, {fmt(bounds.get('high'))}]"
