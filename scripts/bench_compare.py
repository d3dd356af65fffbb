"""Benchmark of the comparison view (issue 16): hover latency with several panes.

Headless Debian Chromium (software WebGL 2, SwiftShader) against the page on 127.0.0.1, as
scripts/benchmark.py. Rows: 1, 2, 4 and 8 panes of the paper's COCO conv2_x example
(160×106×256 @8, the same file in every pane) and 2 panes of the synthetic 256×512×256 @8, on
each compute path (the CPU's WebAssembly kernel and the GPU's shaders). A move is a pointer
event over pane 0 at a pixel far from the last; its latency is from the event to the full
frame of the LAST pane to draw its new map (every pane shows the new reference), and to pane
0's own frame. Medians and 90th percentiles of --moves moves after one warm-up move, with the
ratio of each row's median to the 1-pane row of its dataset and path, measured in the same run.
Prints a Markdown table; --write puts it into docs/benchmarks.md under "## Comparing datasets
(issue 16)". Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchmark as B  # noqa: E402

SECTION = "## Comparing datasets (issue 16)"
ROWS = [("coco", 1), ("coco", 2), ("coco", 4), ("coco", 8), ("256x512x256-8", 1), ("256x512x256-8", 2)]
VIEWPORT = {"width": 1400, "height": 900}

# The move after `prev` has a full frame in every pane (issued after the event).
ALL_DONE = """
([prev, panes]) => {
  const r = window.ifealid.records, m = r.lastMove;
  if (!m || m.t <= prev) return false;
  for (let k = 0; k < panes; k++) {
    if (!r.frames.some((f) => f.pane === k && f.kind === 'full' && f.issued >= m.t - 0.5 && f.channel === null)) return false;
  }
  return true;
}
"""

ALL_RESULT = """
(panes) => {
  const r = window.ifealid.records, m = r.lastMove;
  const t = [];
  for (let k = 0; k < panes; k++) {
    t.push(r.frames.find((f) => f.pane === k && f.kind === 'full' && f.issued >= m.t - 0.5 && f.channel === null).t - m.t);
  }
  return {all: Math.max(...t), pane0: t[0]};
}
"""

PANE0_POINT = """([x, y]) => {
  const v = window.ifealid.view.state.camera, c = document.getElementById('map');
  const box = c.getBoundingClientRect(), k = c.width / c.clientWidth;
  return [box.left + (v.offsetX + (x + 0.5) * v.scale) / k, box.top + (v.offsetY + (y + 0.5) * v.scale) / k];
}"""


def run_row(playwright, base_url, spec, panes: int, moves: int) -> dict:
    url = f"{base_url}/index.html?" + "&".join([f"d=bench/{spec.filename}"] * panes) + "#matches=1"
    browser = playwright.chromium.launch(executable_path=B.CHROMIUM, headless=True, args=B.CHROMIUM_ARGS)
    out = {}
    try:
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(B.LOAD_TIMEOUT_MS)
        page.goto(url)
        page.wait_for_function(f"() => !!(window.ifealid && window.ifealid.state.loading === null && "
                               f"window.ifealid.records.shownAt !== null && window.ifealid.view.state.others.length === {panes - 1})",
                               polling=100)
        error = page.evaluate("window.ifealid.state.error && window.ifealid.state.error.message")
        if error:
            raise SystemExit(f"{url}: {error}")
        time.sleep(0.5)
        for path in B.paths_of(spec):
            page.evaluate(f"window.ifealid.explorer.setCompute('{path}')")
            targets = B.hover_targets(spec.width, spec.height, moves + 1, (spec.width // 2, spec.height // 2))
            results, lost = [], 0
            for i, (x, y) in enumerate(targets):
                prev = page.evaluate("() => window.ifealid.records.lastMove ? window.ifealid.records.lastMove.t : -1")
                page.mouse.move(*page.evaluate(PANE0_POINT, [x, y]))
                try:
                    page.wait_for_function(ALL_DONE, arg=[prev, panes], timeout=10_000)
                except Exception:  # a move whose frames never all came: counted, reported
                    lost += 1
                    continue
                if i:  # the first move brings the pointer onto the canvas: not counted
                    results.append(page.evaluate(ALL_RESULT, panes))
                time.sleep(0.15)
            all_ = [r["all"] for r in results]
            out[path] = {"median": B.median(all_), "p90": B.percentile(all_, 0.9),
                         "pane0": B.median([r["pane0"] for r in results]), "moves": len(results), "lost": lost}
            print(f"  {spec.key} × {panes} {path}: all panes {out[path]['median']:.1f} ms "
                  f"(p90 {out[path]['p90']:.1f}), pane 0 {out[path]['pane0']:.1f} ms", file=sys.stderr, flush=True)
    finally:
        browser.close()
    return out


def report(rows, info) -> str:
    lines = [SECTION, "",
             f"Machine: {info.get('cpu', '?')}, {info.get('cores', '?')} cores; headless Chromium, software WebGL "
             f"(SwiftShader); {time.strftime('%Y-%m-%d')}. Latency: pointer event over pane 0 → the full frame of "
             "the last pane to draw (every pane shows the new reference); ms, median (p90) of the moves; "
             "ratio: median / the same dataset's 1-pane median on the same path, measured in this run. "
             "Goal: 4 panes within 2× of one pane.", "",
             "| dataset | panes | path | all panes, median (p90) | pane 0 | ratio to 1 pane | moves (lost) |",
             "|---|---|---|---|---|---|---|"]
    base = {}
    for key, panes, result in rows:
        for path, r in result.items():
            if panes == 1:
                base[(key, path)] = r["median"]
            ratio = r["median"] / base[(key, path)] if (key, path) in base else float("nan")
            spec = next(s for s in B.DATASETS if s.key == key)
            lines.append(f"| {spec.shape} | {panes} | {path} | {r['median']:.1f} ({r['p90']:.1f}) | {r['pane0']:.1f} "
                         f"| {ratio:.2f} | {r['moves']} ({r['lost']}) |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=16, help="moves per row and path (default 16)")
    parser.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args(argv)
    info = B.machine()
    specs = {s.key: s for s in B.DATASETS}
    for key in {k for k, _ in ROWS}:
        B.ensure_dataset(specs[key])
    from playwright.sync_api import sync_playwright

    server = B._load_serve_module().make_server(B.ROOT, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    rows = []
    try:
        with sync_playwright() as playwright:
            for key, panes in ROWS:
                rows.append((key, panes, run_row(playwright, base_url, specs[key], panes, args.moves)))
    finally:
        server.shutdown()
    text = report(rows, info)
    print(text)
    if args.write:
        doc = B.DOC.read_text("utf-8")
        if SECTION in doc:
            start = doc.index(SECTION)
            rest = doc[start + len(SECTION):]
            end = rest.find("\n## ")
            doc = doc[:start] + text + (rest[end + 1:] if end >= 0 else "")
        else:
            doc = doc.rstrip("\n") + "\n\n" + text
        B.DOC.write_text(doc, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
