"""Per-channel statistics from exact integer sums: the one formula that app/analysis.py
channel_stats and the page's own decoders (through app/quickopen.py) share. numpy-free."""
from __future__ import annotations

import math


def stats_from_sums(n: int, sums, squares) -> tuple[list[float], list[float]]:
    """(mean, std) per channel from n pixels and each channel's exact Σq and Σq² (ints):
    mean = Σq / n and var = (n·Σq² - (Σq)²) / n², each the correctly rounded float64 of the
    exact value, std = sqrt(var)."""
    n = int(n)
    if n <= 0:
        raise ValueError("the map has no pixels")
    sums = [int(s) for s in sums]
    squares = [int(q) for q in squares]
    if len(sums) != len(squares):
        raise ValueError(f"{len(sums)} sums but {len(squares)} sums of squares")
    mean = [s / n for s in sums]
    std = []
    for s, q2 in zip(sums, squares):
        spread = n * q2 - s * s
        if s < 0 or q2 < 0 or spread < 0:
            raise ValueError("these sums cannot come from unsigned values")
        std.append(math.sqrt(spread / (n * n)))
    return mean, std
