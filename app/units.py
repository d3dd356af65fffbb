"""Numbers for people: the one byte formatter of the Python side.

It writes exactly what the page's ``formatBytes`` (glue/format.js) writes for the same number, so a
size reads the same in a refusal from the reader, on the command line and on the page: SI units
(1 kB = 1000 bytes), as browsers and file managers show download sizes. tests/test_units.py runs
both on the same numbers. Standard library only (scripts/build_runtime.py loads it by path).
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["format_bytes"]


def format_bytes(n) -> str:
    """1234 → "1.2 kB", 5_500_000 → "5.50 MB", 1.5e9 → "1.50 GB" (as glue/format.js)."""
    try:
        v = float(n)
    except OverflowError:  # an int beyond any float: as a JavaScript number, ±Infinity
        v = math.inf if n > 0 else -math.inf
    if not math.isfinite(v) or v < 0:
        return f"{_js_string(v)} bytes"
    if v < 1000:
        return f"{_to_fixed(v, 0)} B"
    if v < 1e6:
        return f"{_to_fixed(v / 1e3, 1 if v < 1e4 else 0)} kB"
    if v < 1e9:
        return f"{_to_fixed(v / 1e6, 2 if v < 1e7 else 1)} MB"
    if v < 1e12:
        return f"{_to_fixed(v / 1e9, 2)} GB"
    return f"{_to_fixed(v / 1e12, 2)} TB"


# JavaScript's rounding, not Python's: Number.prototype.toFixed and Math.round take the exact binary
# value and round a tie up (1.25.toFixed(1) is "1.3"), where Python's format rounds it to even ("1.2").

def _to_fixed(x: float, digits: int) -> str:
    """Number.prototype.toFixed for a finite x >= 0."""
    if x >= 1e21:  # toFixed gives up on fixed notation there
        return _js_string(x)
    # + 0.0: -0 becomes 0, which JavaScript writes as "0".
    exact = Decimal(x + 0.0).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{exact:f}"


def _js_string(n: float) -> str:
    """String(n) as JavaScript writes a number: shortest round-trip digits, exponent past 1e21."""
    if math.isnan(n):
        return "NaN"
    if math.isinf(n):
        return "Infinity" if n > 0 else "-Infinity"
    if n == 0:
        return "0"  # -0 too
    sign, digits, exponent = Decimal(repr(n)).normalize().as_tuple()
    text = "".join(map(str, digits))
    k, point = len(text), len(text) + exponent  # the value is 0.<text> × 10^point
    if k <= point <= 21:
        out = text + "0" * (point - k)
    elif 0 < point <= 21:
        out = f"{text[:point]}.{text[point:]}"
    elif -6 < point <= 0:
        out = "0." + "0" * -point + text
    else:
        e = point - 1
        out = (text if k == 1 else f"{text[0]}.{text[1:]}") + f"e{'+' if e >= 0 else '-'}{abs(e)}"
    return ("-" if sign else "") + out
