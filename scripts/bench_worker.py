"""Benchmark: time to "worker ready" (cold and warm) and dataset decode, worker vs CPython.

Runs headless Debian Chromium against the page served on 127.0.0.1. "Cold" is a
fresh browser context (empty HTTP and code caches); "warm" reloads the page in a
context that has loaded it before. Prints a Markdown table; --write appends it to
docs/benchmarks.md. Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from conftest import CHROMIUM, CHROMIUM_ARGS, _load_serve_module  # noqa: E402
from pagekit import LOADED, READY  # noqa: E402

import ifealid  # noqa: E402


def _boot(page, url) -> tuple[float, float]:
    start = time.perf_counter()
    page.goto(url)
    # A predicate given as a function is polled in the page without eval, so under the page's
    # policy (an expression string would need eval); in the page, as before, so the time is as exact.
    page.wait_for_function(f"() => {READY}", timeout=120_000)
    wall = (time.perf_counter() - start) * 1000
    boot = page.evaluate("window.ifealid.state.boot")
    if boot["error"]:
        raise SystemExit(f"worker failed: {boot['error']}")
    return wall, boot["bootMs"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dataset", type=Path, default=ROOT / "tests/fixtures/original/000000015746.jpg.C1.npz.8.zip")
    parser.add_argument("--write", action="store_true", help="append the table to docs/benchmarks.md")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    server = _load_serve_module().make_server(ROOT, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    cold, warm, decode_worker = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for _ in range(args.runs):
            context = browser.new_context()
            page = context.new_page()
            cold.append(_boot(page, url))
            warm.append(_boot(page, url))  # same context: caches primed
            page.set_input_files("#file-input", str(args.dataset))
            page.wait_for_function(f"() => {LOADED}", timeout=120_000)
            if page.evaluate("window.ifealid.state.error"):
                raise SystemExit(f"{args.dataset}: {page.evaluate('window.ifealid.state.error.message')}")
            decode_worker.append(page.evaluate("window.ifealid.view.state.dataset.decodeMs"))
            context.close()
        browser.close()
    server.shutdown()

    decode_cpython = []
    data = args.dataset.read_bytes()
    for _ in range(args.runs):
        start = time.perf_counter()
        ifealid.read_dataset(data)
        decode_cpython.append((time.perf_counter() - start) * 1000)

    med = lambda xs: statistics.median(xs)  # noqa: E731
    info = ifealid.read_info(data)
    lines = [
        f"### Worker start-up and decode — {datetime.date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, headless Chromium (SwiftShader), median of {args.runs}",
        "",
        "| measure | median ms | min ms | max ms |",
        "|---|---|---|---|",
        f"| cold: navigation → worker ready | {med([c[0] for c in cold]):.0f} | {min(c[0] for c in cold):.0f} | {max(c[0] for c in cold):.0f} |",
        f"| cold: worker start → ready (in worker) | {med([c[1] for c in cold]):.0f} | {min(c[1] for c in cold):.0f} | {max(c[1] for c in cold):.0f} |",
        f"| warm: navigation → worker ready | {med([w[0] for w in warm]):.0f} | {min(w[0] for w in warm):.0f} | {max(w[0] for w in warm):.0f} |",
        f"| warm: worker start → ready (in worker) | {med([w[1] for w in warm]):.0f} | {min(w[1] for w in warm):.0f} | {max(w[1] for w in warm):.0f} |",
        f"| decode {args.dataset.name} ({info.describe()}) in the worker | {med(decode_worker):.0f} | {min(decode_worker):.0f} | {max(decode_worker):.0f} |",
        f"| decode the same in CPython {platform.python_version()} | {med(decode_cpython):.0f} | {min(decode_cpython):.0f} | {max(decode_cpython):.0f} |",
        "",
        f"Worker / CPython decode ratio: {med(decode_worker) / med(decode_cpython):.1f}×.",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        target = ROOT / "docs" / "benchmarks.md"
        target.parent.mkdir(exist_ok=True)
        if not target.exists():
            target.write_text("# Benchmarks\n\nMeasured by the scripts in `scripts/`; compare ratios within one run.\n\n")
        with target.open("a") as handle:
            handle.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
