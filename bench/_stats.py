"""Small statistics the benchmarks share (the underscore keeps `python -m bench` off this module)."""

from __future__ import annotations


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values sorted ascending, nearest rank; NaN when there are none."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]
