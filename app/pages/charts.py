"""The page's charts as SVG geometry: interval bars, latency histograms and the
cost-accuracy scatter. Templates draw what these functions place; no script is
needed to read a chart, and a missing figure leaves out its mark, not the chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# One colour per target, in order (ColorBrewer Dark2: distinct, colour-blind safe).
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")

WIDTH = 640
LEFT = 180  # room for the target's label
RIGHT = 24
ROW = 28
TOP = 20
BOTTOM = 36
HISTOGRAM_BINS = 12
HISTOGRAM_ROW = 70


def colour(index: int) -> str:
    """The colour of a target."""
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True)
class Axis:
    """A linear scale from figures to pixels, with a few round ticks."""

    low: float
    high: float
    start: float
    end: float

    def at(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return round(
            self.start + (value - self.low) / span * (self.end - self.start), 2
        )

    def ticks(self, count: int = 5) -> list[tuple[float, float]]:
        """(value, pixel) of evenly spaced ticks, ends included."""
        step = (self.high - self.low) / count
        values = [self.low + i * step for i in range(count + 1)]
        return [(v, self.at(v)) for v in values]


def interval_bars(targets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy per target: a bar to the point estimate and its interval's whisker."""
    height = TOP + ROW * len(targets) + BOTTOM
    x = Axis(0.0, 1.0, LEFT, WIDTH - RIGHT)
    rows = []
    for i, target in enumerate(targets):
        y = TOP + i * ROW
        accuracy = target.get("accuracy")
        interval = target.get("accuracy_interval")
        rows.append(
            {
                "index": target["target_index"],
                "label": label(target),
                "colour": colour(target["target_index"]),
                "y": y,
                "mid": y + ROW / 2,
                "bar_width": None if accuracy is None else x.at(accuracy) - LEFT,
                "accuracy": accuracy,
                "low": None if not interval else x.at(interval["low"]),
                "high": None if not interval else x.at(interval["high"]),
            }
        )
    return {
        "width": WIDTH,
        "height": height,
        "left": LEFT,
        "axis_y": height - BOTTOM + 6,
        "ticks": [(f"{v:.0%}", px) for v, px in x.ticks()],
        "rows": rows,
        "row_height": ROW - 8,
    }


def latency_histograms(
    targets: Sequence[dict[str, Any]], latencies: dict[int, list[float]]
) -> dict[str, Any] | None:
    """One histogram per target over shared bins; None when no cell has a latency."""
    every = [v for values in latencies.values() for v in values]
    if not every:
        return None
    low, high = min(every), max(every)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / HISTOGRAM_BINS
    x = Axis(low, high, LEFT, WIDTH - RIGHT)
    rows = []
    for i, target in enumerate(targets):
        index = target["target_index"]
        counts = [0] * HISTOGRAM_BINS
        for value in latencies.get(index, []):
            counts[min(HISTOGRAM_BINS - 1, int((value - low) / width))] += 1
        top = TOP + i * HISTOGRAM_ROW
        tallest = max(counts) or 1
        bins = []
        for b, count in enumerate(counts):
            bar = (HISTOGRAM_ROW - 12) * count / tallest
            bins.append(
                {
                    "x": x.at(low + b * width),
                    "width": max(
                        1.0, x.at(low + (b + 1) * width) - x.at(low + b * width) - 1
                    ),
                    "y": round(top + HISTOGRAM_ROW - 6 - bar, 2),
                    "height": round(bar, 2),
                    "count": count,
                    "from_ms": low + b * width,
                    "to_ms": low + (b + 1) * width,
                }
            )
        rows.append(
            {
                "index": index,
                "label": label(target),
                "colour": colour(index),
                "mid": top + HISTOGRAM_ROW / 2,
                "base": top + HISTOGRAM_ROW - 6,
                "n": len(latencies.get(index, [])),
                "bins": bins,
            }
        )
    height = TOP + HISTOGRAM_ROW * len(targets) + BOTTOM
    return {
        "width": WIDTH,
        "height": height,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "axis_y": height - BOTTOM + 6,
        "ticks": [(_ms(v), px) for v, px in x.ticks(4)],
        "rows": rows,
    }


def cost_accuracy(
    targets: Sequence[dict[str, Any]], frontier: Sequence[int] | None
) -> dict[str, Any] | None:
    """Accuracy against cost per priced target; None when no target has both."""
    placed = [
        t
        for t in targets
        if t.get("cost_usd") is not None and t.get("accuracy") is not None
    ]
    if not placed:
        return None
    height = 300
    most = max(t["cost_usd"] for t in placed)
    high = _round_up(most) if most > 0 else 1.0
    x = Axis(0.0, high, 70, WIDTH - RIGHT)
    y = Axis(0.0, 1.0, height - BOTTOM, TOP)
    on_frontier = set(frontier or ())
    points = []
    for target in placed:
        interval = target.get("accuracy_interval")
        points.append(
            {
                "index": target["target_index"],
                "label": label(target),
                "colour": colour(target["target_index"]),
                "cx": x.at(target["cost_usd"]),
                "cy": y.at(target["accuracy"]),
                "low": None if not interval else y.at(interval["low"]),
                "high": None if not interval else y.at(interval["high"]),
                "frontier": target["target_index"] in on_frontier,
                "cost_usd": target["cost_usd"],
                "accuracy": target["accuracy"],
            }
        )
    frontier_points = sorted(
        (p for p in points if p["frontier"]), key=lambda p: p["cx"]
    )
    return {
        "width": WIDTH,
        "height": height,
        "x0": 70,
        "x1": WIDTH - RIGHT,
        "y0": height - BOTTOM,
        "y1": TOP,
        "x_ticks": [(_usd(v), px) for v, px in x.ticks(4)],
        "y_ticks": [(f"{v:.0%}", px) for v, px in y.ticks(4)],
        "points": points,
        "frontier_path": " ".join(f"{p['cx']},{p['cy']}" for p in frontier_points)
        if len(frontier_points) > 1
        else None,
        "unpriced": [label(t) for t in targets if t not in placed],
    }


def label(target: dict[str, Any]) -> str:
    """How the page names a target."""
    return f"#{target['target_index']} {target['provider']}:{target['model']}"


def _round_up(value: float) -> float:
    # The next 1, 2 or 5 times a power of ten: axis ends people can read.
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _usd(value: float) -> str:
    return f"${value:.2g}" if value else "$0"
