"""Percentiles over latency samples (nearest-rank, no interpolation)."""

from __future__ import annotations

import math
from collections.abc import Iterable

PERCENTILES = (50.0, 95.0, 99.0)


def summarize(samples: Iterable[float]) -> dict[str, float]:
    """count, p50, p95, p99, max and mean of the samples; zeros when there are none."""
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        return {"count": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    out: dict[str, float] = {"count": n}
    for p in PERCENTILES:
        out[f"p{p:g}"] = ordered[max(0, math.ceil(p / 100 * n) - 1)]
    out["max"] = ordered[-1]
    out["mean"] = sum(ordered) / n
    return out
