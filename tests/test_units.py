"""app/units.py writes sizes exactly as the page's glue/format.js does (one convention, two languages)."""
from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
from pathlib import Path

from ifealid.units import format_bytes

ROOT = Path(__file__).resolve().parents[1]

# Every unit's boundaries and the decimals' switches, with their neighbours.
EDGES = [0, 1, 999, 1000, 1001, 9999, 10000, 10001, 99999, 999499, 999500, 999999, 10 ** 6,
         10 ** 7 - 1, 10 ** 7, 10 ** 7 + 1, 999_949_999, 999_950_000, 10 ** 9 - 1, 10 ** 9, 10 ** 9 + 1,
         10 ** 12 - 1, 10 ** 12, 10 ** 12 + 1, 10 ** 15, 2 ** 53, 2 ** 53 + 1, 10 ** 21, 10 ** 33, 10 ** 34,
         1024, 64 * 1024, 64 * 1024 ** 2, 1024 ** 3, 2 * 1024 ** 3, 1.5 * 1024 ** 2]
# Exact binary ties, where JavaScript rounds up and Python's format would round to even.
TIES = [0.5, 1.5, 2.5, 998.5, 999.5, 1250, 1350, 2500, 9950, 1_125_000, 1_375_000, 2_625_000,
        12_250_000, 1_005_000_000, 1_125_000_000, 1_125_000_000_000]
ODD = [0.4, 0.49999999999999994, 1e-300, 123.456, 1e300, 1.7976931348623157e308, -0.0,
       -1, -1000, -123.456, -1e-7, -1e21, -2 ** 53 - 1, math.nan, math.inf, -math.inf, 10 ** 400, -10 ** 400]


def _values() -> list:
    rng = random.Random(12)
    values = [*EDGES, *TIES, *ODD]
    values += [int(10 ** rng.uniform(0, 16)) for _ in range(250)]  # every unit, at every digit count
    values += [10 ** rng.uniform(-3, 20) for _ in range(150)]       # and fractions of bytes
    return values


def _js_literal(x) -> str:
    """x as a string that JavaScript's Number() reads as the same double."""
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    return repr(x) if isinstance(x, float) else str(x)


NODE_SCRIPT = """
import { formatBytes } from './glue/format.js';
let input = '';
for await (const chunk of process.stdin) input += chunk;
process.stdout.write(JSON.stringify(JSON.parse(input).map((s) => formatBytes(Number(s)))));
"""


def test_format_bytes_writes_what_the_page_writes():
    node = shutil.which("node")
    assert node, "node (Node.js) is needed to run glue/format.js"
    values = _values()
    result = subprocess.run([node, "--input-type=module", "-e", NODE_SCRIPT], cwd=ROOT, capture_output=True,
                            text=True, input=json.dumps([_js_literal(v) for v in values]), timeout=60)
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    mismatches = [(v, py, js) for v, py, js in zip(values, map(format_bytes, values), page) if py != js]
    assert not mismatches, mismatches[:10]
    assert len(values) >= 300


def test_format_bytes_examples():
    # The convention, readable without node: SI units, decimals by size, ties rounded up.
    assert [format_bytes(n) for n in (0, 999, 1000, 1250, 9999, 10_000, 999_999, 10 ** 6, 10 ** 7 - 1,
                                      10 ** 7, 10 ** 9, 10 ** 12)] == [
        "0 B", "999 B", "1.0 kB", "1.3 kB", "10.0 kB", "10 kB", "1000 kB", "1.00 MB", "10.00 MB",
        "10.0 MB", "1.00 GB", "1.00 TB"]
    assert format_bytes(-1) == "-1 bytes" and format_bytes(math.nan) == "NaN bytes"
