"""Summaries across seeds for generated tables: mean and range, formatted compactly."""

from __future__ import annotations

import math
from collections.abc import Sequence

from thermo_manifold.reporting import format_cell


def finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and isinstance(v, (int, float))
            and math.isfinite(float(v))]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def spread_cell(values: Sequence[float | None], digits: int = 3) -> str:
    """`mean (min-max)` over the finite values; a single value prints alone; none prints n/a."""
    clean = finite(values)
    if not clean:
        return "n/a"
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in values if v is not None)

    def cell(value: float) -> str:
        return str(round(value)) if integers and value == round(value) else format_cell(value, digits)

    if len(clean) == 1 or min(clean) == max(clean):
        return cell(clean[0])
    return f"{cell(mean(clean))} ({cell(min(clean))}–{cell(max(clean))})"


__all__ = ["finite", "mean", "spread_cell"]
