"""Benchmark of the explorer against the original app's measured numbers.

Playwright drives headless Debian Chromium (software WebGL 2, SwiftShader) against the page
served on 127.0.0.1. Per dataset it measures:

- load time: navigation start to the first full-resolution heat map (``records.shownAt``), on a
  first visit, *cold* (a freshly launched browser, a new context: empty HTTP, code and shader
  caches), and on repeat visits, *cached*
  (a new tab in the same context once the cold load and the page's background caching finished:
  HTTP cache and the service worker's copy of the runtime primed) and a 3rd load, median over
  ``--runs`` (run k of every dataset comes before run k + 1 of any, so that each dataset's runs
  are spread over the whole benchmark: the machine's speed drifts over minutes);
- hover latency over single moves to well-separated pixels: (1) pointer event to the first
  frame for the new reference (any kind, a half-resolution preview on large maps) and (2) to
  the full-resolution frame; median and p90;
- frames per second while the pointer moves continuously (all frames, and how many were full);
- peak memory of all Chromium processes (sum of RSS and of PSS from /proc) and the page's JS heap.

The datasets have the shapes of the table in /work/shared/spec/original-behaviour.md; all but the
real COCO fixture are synthetic and are generated once into the git-ignored ``datasets/bench/``.
Larger rows (issue 19: 512×512×1024, 1024×1024×512 and 512×512×2048 @8, 256 MiB to 1 GiB of
channel data) run only when asked for (``--large``, or ``--only`` with their names); a dataset the
page refuses (the device's limits, the memory budget) is recorded with the page's message.
Prints Markdown tables; ``--write`` puts them into docs/benchmarks.md under
"## Explorer (issue 3)" (replacing that section); raw figures go to datasets/bench/results.json.
On a shared machine ``--boost 5`` (root) lets the browser under test get the CPUs first.
Not a test: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from conftest import CHROMIUM, CHROMIUM_ARGS, _load_serve_module  # noqa: E402

BENCH_DIR = ROOT / "datasets" / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Explorer"
COCO_FIXTURE = ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C1.npz.8.zip"
VIEWPORT = {"width": 1000, "height": 700}
LOAD_TIMEOUT_MS = 900_000
FRAME_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Original:
    """The original app's figures (original-behaviour.md): load s, hover median / p90 ms, fps."""
    load_s: float
    hover_median_ms: float
    hover_p90_ms: float
    fps: float


@dataclass(frozen=True)
class Spec:
    key: str
    label: str
    height: int
    width: int
    features: int
    precision: int
    original: Original | None
    fixture: Path | None = None
    opt_in: bool = False  # large: only with --large or --only

    @property
    def filename(self) -> str:
        kind = "coco" if self.fixture else "synthetic"
        return f"{kind}-{self.height}x{self.width}x{self.features}-{self.precision}.zip"

    @property
    def path(self) -> Path:
        return BENCH_DIR / self.filename

    @property
    def shape(self) -> str:
        return f"{self.height}×{self.width}×{self.features} @{self.precision}"


DATASETS = [
    Spec("coco", "COCO conv2_x (real)", 160, 106, 256, 8, Original(3.9, 79, 100, 11.3), COCO_FIXTURE),
    Spec("256x512x256-8", "synthetic", 256, 512, 256, 8, Original(4.5, 184, 218, 4.6)),
    Spec("128x256x512-8", "synthetic", 128, 256, 512, 8, Original(5.7, 121, 154, 6.7)),
    Spec("64x128x1024-8", "synthetic", 64, 128, 1024, 8, Original(9.2, 99, 149, 7.3)),
    Spec("128x256x512-16", "synthetic", 128, 256, 512, 16, Original(8.6, 133, 153, 5.6)),
    Spec("128x256x512-32", "synthetic", 128, 256, 512, 32, None),
    Spec("512x512x512-8", "synthetic", 512, 512, 512, 8, Original(8.6, 570, 611, 1.8)),
    Spec("512x512x1024-8", "synthetic", 512, 512, 1024, 8, None, opt_in=True),
    Spec("1024x1024x512-8", "synthetic", 1024, 1024, 512, 8, None, opt_in=True),
    Spec("512x512x2048-8", "synthetic", 512, 512, 2048, 8, None, opt_in=True),
    # Wider than the largest texture of most GPUs (8192, SwiftShader's; 16384 is common): drawn in tiles.
    Spec("512x9216x32-8", "synthetic, tiled", 512, 9216, 32, 8, None, opt_in=True),
]
QUICK = ("coco", "128x256x512-16")


# --------------------------------------------------------------------------- datasets

def _smooth_fields(rng, n, height, width, cells):
    """n zero-mean, unit-variance smooth random fields: low-resolution noise upsampled bicubically."""
    import numpy as np
    from PIL import Image

    out = np.empty((n, height, width), np.float32)
    for i in range(n):
        cell = cells[i % len(cells)]
        low = rng.standard_normal((max(2, round(height / cell)), max(2, round(width / cell)))).astype(np.float32)
        field = np.asarray(Image.fromarray(low, mode="F").resize((width, height), Image.BICUBIC), np.float32)
        out[i] = (field - field.mean()) / (field.std() + 1e-6)
    return out


def synthetic_features(height, width, features, seed, block=64):
    """(H, W, C) float32 that quantises and compresses like real CNN features.

    Each channel mixes a few of 24 smooth fields (scales from 1.5 to 24 pixels), adds a bias and
    a little noise and goes through a ReLU, then gets its own gain. Tuned on the COCO conv2_x
    fixture: about 38 % exact zeros (real: 33 %), 8-bit percentiles 50/75/90/99 of 8/26/44/85
    (real: 8/25/42/78) and PNG bytes / raw bytes of 0.62 (real: 0.64). Built in channel blocks,
    so 512×512×512 needs the 512 MiB result plus about 200 MiB.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    k = 24
    base = _smooth_fields(rng, k, height, width, (1.5, 2, 3, 4, 6, 8, 12, 24)).reshape(k, height * width)
    out = np.empty((height, width, features), np.float32)
    for c0 in range(0, features, block):
        n = min(block, features - c0)
        weights = rng.standard_normal((n, k)).astype(np.float32) * (rng.random((n, k)) < 0.25)
        weights[np.arange(n), rng.integers(0, k, n)] += 1
        weights /= np.linalg.norm(weights, axis=1, keepdims=True)
        bias = rng.normal(0.4, 0.6, (n, 1)).astype(np.float32)
        gain = rng.lognormal(0, 0.3, (n, 1)).astype(np.float32)
        x = weights @ base
        x += bias
        x += rng.standard_normal(x.shape, dtype=np.float32) * 0.3
        np.maximum(x, 0, out=x)
        x *= gain
        out[:, :, c0:c0 + n] = x.T.reshape(height, width, n)
    return out


def synthetic_overlay(height, width, seed):
    """A smooth RGB image with some texture, 4× the map's size (less where that would pass the
    reader's 64 megapixels: the tiled row), as JPEG bytes."""
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed + 1)
    k = 4 if 16 * height * width <= 64_000_000 else 2
    h, w = k * height, k * width
    fields = _smooth_fields(rng, 6, height, width, (3, 8, 24))
    rgb = np.stack([fields[c] + 0.5 * fields[c + 3] for c in range(3)], axis=-1)
    rgb = (rgb - rgb.min()) / (rgb.max() - rgb.min() + 1e-6) * 255
    image = Image.fromarray(rgb.astype(np.uint8), mode="RGB").resize((w, h), Image.BICUBIC)
    pixels = np.asarray(image, np.int16) + rng.integers(-12, 13, (h, w, 1), dtype=np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def ensure_dataset(spec: Spec) -> Path:
    """The dataset's ZIP in datasets/bench/, generated (or copied) only when missing."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if spec.path.exists():
        return spec.path
    started = time.perf_counter()
    if spec.fixture:
        shutil.copyfile(spec.fixture, spec.path)
    else:
        import ifealid

        seed = spec.height * 1_000_003 + spec.width * 1009 + spec.features  # same data at every precision
        features = synthetic_features(spec.height, spec.width, spec.features, seed)
        ifealid.save_dataset(features, spec.path, precision=spec.precision,
                             overlay=synthetic_overlay(spec.height, spec.width, seed),
                             name=f"synthetic {spec.shape} bit (benchmark)")
        del features
    print(f"  made {spec.path.relative_to(ROOT)} ({spec.path.stat().st_size / 2**20:.1f} MiB) "
          f"in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return spec.path


# --------------------------------------------------------------------------- memory

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def chromium_pids(root_pid: int) -> list[int]:
    """Chromium processes below root_pid (this script → Playwright's driver → browser → ...)."""
    children = _children_map()
    found, stack = [], list(children.get(root_pid, []))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if "chrom" in os.path.basename(exe):
            found.append(pid)
    return found


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as handle:
        return int(handle.read().split()[1]) * PAGE_SIZE


def _pss(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as handle:
        for line in handle:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


class MemorySampler:
    """Samples the summed RSS of all Chromium processes every `interval` s (PSS every 5th time).

    With boost > 0 it also lowers the niceness of every thread of those processes by `boost`
    relative to what Chromium gave it (Chromium sets its own per-process and per-thread
    priorities, so `nice` on this script does not reach the renderers), and does so again when
    Chromium changes a thread's priority: on a shared machine the browser under test then gets
    the CPUs first, with Chromium's own priorities kept relative to each other.
    """

    def __init__(self, interval=0.1, boost=0):
        self.interval = interval
        self.boost = boost
        self._boosted: dict[int, int] = {}  # tid -> niceness this sampler set
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        me, tick = os.getpid(), 0
        while not self._stop.is_set():
            pids = chromium_pids(me)
            if self.boost:
                self._boost(pids)
            rss = pss = 0
            for pid in pids:
                try:
                    rss += _rss(pid)
                    if tick % 5 == 0:
                        pss += _pss(pid)
                except OSError:
                    pass
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, len(pids))
            tick += 1
            self._stop.wait(self.interval)

    def _boost(self, pids):
        for pid in pids:
            try:
                tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
            except OSError:
                continue
            for tid in tids:
                try:
                    current = os.getpriority(os.PRIO_PROCESS, tid)
                    if self._boosted.get(tid) != current:
                        target = max(-20, current - self.boost)
                        os.setpriority(os.PRIO_PROCESS, tid, target)
                        self._boosted[tid] = target
                except OSError:  # the thread ended, or no permission to raise priority
                    self._boosted[tid] = None


# --------------------------------------------------------------------------- page

# Marks the load's stages in the page (performance.now(), i.e. ms since navigation start).
# Polls every 5 ms until the first full frame; a busy main thread delays a mark, never a stage.
MARKS_SCRIPT = """
(() => {
  const marks = {serviceWorker: Boolean(navigator.serviceWorker && navigator.serviceWorker.controller)};
  window.__benchMarks = marks;
  const tick = () => {
    const h = window.ifealid;
    const now = performance.now();
    if (h) {
      const s = h.state;
      if (s.boot.ready && marks.ready === undefined) marks.ready = now;
      const stage = s.loading && s.loading.stage;
      if (stage && marks[stage] === undefined) marks[stage] = now;
      // Handed over: the page has the decoded arrays (its upload to the GPU starts).
      if ((stage === 'Uploading to the GPU' || h.view.state.dataset) && marks.dataset === undefined) marks.dataset = now;
      if (h.records.shownAt !== null || s.error || s.boot.error || s.gpuError) return;
    }
    setTimeout(tick, 5);
  };
  tick();
})();
"""

# The first full frame is drawn, or the load failed. (wait_for_function with a function, as
# here, polls in the page without eval, so it runs under the page's policy, unlike one with an
# expression string; it polls in the page, so the load's timing costs no round trips.)
SHOWN_OR_FAILED = ("() => { const h = window.ifealid, s = h && h.state;"
                   " return !!s && (h.records.shownAt !== null || !!s.error || !!s.boot.error || !!s.gpuError); }")

LOAD_RESULT = """
() => {
  const s = window.ifealid.state, b = window.ifealid.bridge, r = window.ifealid.records;
  const dataset = window.ifealid.view.state.dataset;
  const zip = performance.getEntriesByType('resource').find((e) => e.name.includes('/datasets/bench/'));
  return {
    error: s.gpuError || s.boot.error || (s.error && s.error.message) || null,
    shownAt: r.shownAt,
    firstFrame: r.frames.length ? r.frames[0].t : null,
    firstKind: r.frames.length ? r.frames[0].kind : null,
    marks: window.__benchMarks || {},
    bootMs: s.boot.bootMs,
    bootStages: b.bootStages || null,
    decodeMs: dataset ? dataset.decodeMs : null,
    zipEnd: zip ? zip.responseEnd : null,
    zipTransfer: zip ? zip.transferSize : null,
    canvas: [document.getElementById('map').width, document.getElementById('map').height],
    serviceWorker: Boolean((window.__benchMarks || {}).serviceWorker),  // controlled from the start
    quick: dataset ? Boolean(dataset.quick) : null,  // decoded the quick way (pyworker/quick-open.js)
  };
}
"""


class Refused(Exception):
    """The page refused the dataset (e.g. beyond the device's limits): its message."""


def load(context, url) -> tuple[object, dict]:
    page = context.new_page()
    page.set_default_timeout(LOAD_TIMEOUT_MS)
    page.goto(url, wait_until="commit")
    page.wait_for_function(SHOWN_OR_FAILED, polling=50)
    result = page.evaluate(LOAD_RESULT)
    if result["error"]:
        page.close()
        raise Refused(result["error"])
    return page, result


# After a load: wait for the page's background work to settle, i.e. the offline copy of the
# runtime that the service worker makes once the first heat map is up (glue/data/offline.js:
# window.ifealid.offline, a promise, set once Python is ready and nothing is loading). Pages
# without it pass at once.
SETTLE = """
async () => {
  const h = window.ifealid;
  if (!h || !('offline' in h)) return 'none';
  const until = performance.now() + 15000;
  while (!h.offline && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
  if (!h.offline) return 'not started';
  const result = await Promise.race([Promise.resolve(h.offline).then((v) => (v ? 'cached' : 'unavailable'), () => 'failed'),
    new Promise((r) => setTimeout(() => r('timeout'), 120000))]);
  return result;
}
"""


def settle(page) -> str:
    state = page.evaluate(SETTLE)
    time.sleep(0.5)
    return state


def css_point(page, x, y) -> tuple[float, float]:
    """Viewport CSS position of map pixel (x, y)'s centre (canvas pixel = offset + scale · map
    pixel, with the view model's camera; glue/render/camera.js)."""
    return tuple(page.evaluate(
        """([x, y]) => {
          const v = window.ifealid.view.state.camera, c = document.getElementById('map');
          const box = c.getBoundingClientRect(), k = c.width / c.clientWidth;
          return [box.left + (v.offsetX + (x + 0.5) * v.scale) / k, box.top + (v.offsetY + (y + 0.5) * v.scale) / k];
        }""", [x, y]))


def map_box(page) -> dict:
    """The map's visible extent in viewport CSS pixels."""
    return page.evaluate(
        """() => {
          const v = window.ifealid.view.state.camera, c = document.getElementById('map');
          const box = c.getBoundingClientRect(), k = c.width / c.clientWidth, d = window.ifealid.renderer.dataset;
          const a = {x: v.offsetX, y: v.offsetY};
          const b = {x: v.offsetX + d.width * v.scale, y: v.offsetY + d.height * v.scale};
          return {x0: box.left + Math.max(0, a.x / k), y0: box.top + Math.max(0, a.y / k),
                  x1: box.left + Math.min(c.clientWidth, b.x / k), y1: box.top + Math.min(c.clientHeight, b.y / k),
                  scale: (b.x - a.x) / k / d.width};
        }""")


# Resolves once the pointer move after `prev` (a lastMove.t) has its full-resolution frame.
MOVE_DONE = """
(prev) => {
  const r = window.ifealid.records, m = r.lastMove;
  if (!m || m.t <= prev) return false;
  return r.frames.some((f) => f.kind === 'full' && f.channel === null && f.reference
    && f.reference.x === m.x && f.reference.y === m.y && f.t >= m.t);
}
"""

MOVE_RESULT = """
() => {
  const r = window.ifealid.records, m = r.lastMove;
  const mine = r.frames.filter((f) => f.channel === null && f.reference
    && f.reference.x === m.x && f.reference.y === m.y && f.t >= m.t);
  const full = mine.find((f) => f.kind === 'full');
  return {move: m, first: mine[0].t - m.t, firstKind: mine[0].kind, full: full.t - m.t, frames: mine.length};
}
"""


def hover_targets(width, height, count, avoid, seed=7):
    """`count` distinct pixels spread over the map (one per grid cell, jittered), each at least a
    quarter of the map's size away from the one before where possible."""
    import random

    rng = random.Random(seed)
    cols = max(2, math.ceil(math.sqrt(count)))
    rows = max(2, math.ceil(count / cols))
    candidates = []
    for j in range(rows):
        for i in range(cols):
            for _ in range(100):
                x = min(width - 1, int((i + 0.15 + 0.7 * rng.random()) * width / cols))
                y = min(height - 1, int((j + 0.15 + 0.7 * rng.random()) * height / rows))
                if (x, y) != avoid and (x, y) not in candidates:
                    break
            if (x, y) != avoid and (x, y) not in candidates:
                candidates.append((x, y))
    rng.shuffle(candidates)
    far = max(width, height) / 4
    targets = [candidates.pop()]
    while candidates and len(targets) < count:
        px, py = targets[-1]
        dist = [math.hypot(x - px, y - py) for x, y in candidates]
        pick = next((k for k, d in enumerate(dist) if d >= far), dist.index(max(dist)))
        targets.append(candidates.pop(pick))
    if len(targets) < count:
        raise SystemExit(f"a {width}×{height} map is too small for {count} distinct hover targets")
    return targets


def single_move(page, x, y) -> dict:
    prev = page.evaluate("() => window.ifealid.records.lastMove ? window.ifealid.records.lastMove.t : -1")
    page.mouse.move(*css_point(page, x, y))
    page.wait_for_function(MOVE_DONE, arg=prev, timeout=FRAME_TIMEOUT_MS)
    result = page.evaluate(MOVE_RESULT)
    result["target"] = [x, y]
    return result


def hover(page, spec: Spec, moves: int, idle_s: float = 0.15) -> list[dict]:
    centre = (spec.width // 2, spec.height // 2)  # the reference after load
    targets = hover_targets(spec.width, spec.height, moves + 1, centre)
    single_move(page, *targets[0])  # warm-up: the pointer enters the canvas; not counted
    time.sleep(idle_s)
    results = []
    for x, y in targets[1:]:
        results.append(single_move(page, x, y))
        time.sleep(idle_s)
    return results


# Issue 13's rows: the same hover with the analyses on (centred values, angular, 4 pins besides
# the pointer's reference), on each compute path, against the plain hover measured right before
# it in the same page; and the threshold slider, from its input event to the frame with the mask.
ANALYSIS_VIEW = "(pins) => window.ifealid.view.set({values: 'centred', metric: 'angular', pins})"
PLAIN_VIEW = "() => window.ifealid.view.set({values: 'stored', metric: 'angular', pins: [], threshold: null})"

SLIDER_MOVE = """
async (position) => {
  const input = document.getElementById('threshold'), records = window.ifealid.records;
  const before = records.frames.length;
  input.value = String(position);
  const t0 = performance.now();
  input.dispatchEvent(new Event('input'));
  const until = t0 + 20000;
  while (performance.now() < until) {
    const f = records.frames.slice(before).find((x) => x.kind === 'full' && x.t >= t0);
    if (f) return f.t - t0;
    await new Promise((r) => setTimeout(r, 1));
  }
  return null;
}
"""


def paths_of(spec: Spec) -> list[str]:
    """The compute paths a dataset can take: the CPU's (8 and 16 bit) and the GPU's."""
    return ["cpu", "gpu"] if spec.precision in (8, 16) else ["gpu"]


def analysis_hover(page, spec: Spec, moves: int, acc: dict) -> None:
    """Plain hover then analysis hover, per compute path, pooled into acc['analyses']."""
    w, h = spec.width, spec.height
    pins = [{"x": int(w * fx), "y": int(h * fy)} for fx, fy in ((0.2, 0.2), (0.8, 0.3), (0.3, 0.8), (0.7, 0.7))]
    for path in paths_of(spec):
        page.evaluate(f"window.ifealid.explorer.setCompute('{path}')")
        page.evaluate(PLAIN_VIEW)
        plain = hover(page, spec, moves)
        page.evaluate(ANALYSIS_VIEW, pins)
        page.evaluate("() => new Promise((r) => { const x = window.ifealid.renderer; "
                      "const c = () => (x.idle ? r() : requestAnimationFrame(c)); c(); })")
        analysis = hover(page, spec, moves)
        page.evaluate(PLAIN_VIEW)
        slot = acc["analyses"].setdefault(path, {"plain": [], "analysis": []})
        slot["plain"] += [m["full"] for m in plain]
        slot["analysis"] += [m["full"] for m in analysis]
    page.evaluate("window.ifealid.explorer.setCompute('auto')")
    # The threshold slider, on the page's own path.
    page.evaluate("() => window.ifealid.explorer.analysis.toggleMask(true)")
    for k in range(moves):
        ms = page.evaluate(SLIDER_MOVE, 300 + (k * 397) % 600)
        if ms is not None:
            acc["slider"].append(ms)
    page.evaluate(PLAIN_VIEW)


# The PCA view's click-to-picture time (issue 14): from the PCA checkbox's click to the full
# frame that shows the new result (first time: the whole computation; cached: the same setting
# again after going back to the similarity).
PCA_CLICK = """
async () => {
  const h = window.ifealid, records = h.records, view = h.view;
  const box = document.getElementById('pca-on');
  const before = records.frames.length;
  const cached = h.pca.jobs.computer.fits.size > 0;
  const t0 = performance.now();
  box.click();
  const until = t0 + 120000;
  while (performance.now() < until) {
    const r = view.state.pcaResult;
    if (r && r.error) return { error: r.error };
    const f = r && records.frames.slice(before).find((x) => x.kind === 'full' && x.key === `pca:${r.key}`);
    if (f) return { ms: f.t - t0, computeMs: r.ms ?? null, timings: r.timings, cached };
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return { error: 'no PCA frame within 120 s' };
}
"""


def pca_click(page, acc: dict) -> None:
    """The PCA view's first and cached click-to-picture times, into acc['pca']."""
    page.evaluate("() => window.ifealid.view.set({mode: 'similarity', values: 'stored', pins: [], threshold: null})")
    for kind in ("first", "cached"):
        out = page.evaluate(PCA_CLICK)
        if "error" in out:
            raise RuntimeError(f"PCA view: {out['error']}")
        acc["pca"][kind].append(out["ms"])
        if kind == "first":
            acc["pca"]["compute"].append(out["computeMs"])
            for part, ms in out["timings"].items():
                acc["pca_parts"].setdefault(part, []).append(ms)
        page.evaluate("() => document.getElementById('pca-on').click()")  # back to the similarity
        page.evaluate("() => new Promise((r) => { const x = window.ifealid.renderer; "
                      "const c = () => (x.idle ? r() : requestAnimationFrame(c)); c(); })")


def continuous_motion(page, seconds: float, rate_hz: float = 125.0) -> dict:
    """Zig-zag over the map with a pointer event every 1/rate_hz s; frames that landed meanwhile."""
    box = map_box(page)
    inset = 2.0
    x0, x1, y0, y1 = box["x0"] + inset, box["x1"] - inset, box["y0"] + inset, box["y1"] - inset
    sweeps = 7
    corners = []
    for k in range(sweeps + 1):
        y = y0 + (y1 - y0) * k / sweeps
        corners += [(x0, y), (x1, y)] if k % 2 == 0 else [(x1, y), (x0, y)]
    segments = list(zip(corners, corners[1:]))
    lengths = [math.dist(a, b) for a, b in segments]
    total = sum(lengths)
    speed = total / 1.5  # the whole zig-zag in 1.5 s, then back: every event lands on a new pixel

    def at(distance):
        distance %= 2 * total
        if distance > total:
            distance = 2 * total - distance
        for (a, b), length in zip(segments, lengths):
            if distance <= length:
                f = distance / length if length else 0
                return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f
            distance -= length
        return corners[-1]

    page.mouse.move(*at(0))
    page.wait_for_function(MOVE_DONE, arg=-1, timeout=FRAME_TIMEOUT_MS)
    time.sleep(0.2)
    t0 = page.evaluate("performance.now()")
    start = time.perf_counter()
    events = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        page.mouse.move(*at(elapsed * speed))
        events += 1
        delay = events / rate_hz - (time.perf_counter() - start)
        if delay > 0:
            time.sleep(delay)
    t1 = page.evaluate("performance.now()")
    got = page.evaluate(MOTION_FRAMES, [t0, t1])
    frames = [f["kind"] for f in got["frames"]]
    # Event to frame while moving: each frame against the latest move to its reference pixel
    # before it (the zig-zag passes a pixel again only after seconds).
    latency = []
    for f in got["frames"]:
        before = [m["t"] for m in got["moves"] if m["x"] == f["x"] and m["y"] == f["y"] and m["t"] <= f["t"]]
        if before:
            latency.append(f["t"] - max(before))
    window = (t1 - t0) / 1000
    return {"seconds": window, "events": events, "frames": len(frames), "full": frames.count("full"),
            "fps": len(frames) / window, "fps_full": frames.count("full") / window,
            "latency_median": median(latency), "latency_p90": percentile(latency, 0.9)}


MOTION_FRAMES = """
([t0, t1]) => {
  const r = window.ifealid.records;
  return {
    frames: r.frames.filter((f) => f.t >= t0 && f.t <= t1 && f.reference && f.channel === null)
      .map((f) => ({kind: f.kind, t: f.t, x: f.reference.x, y: f.reference.y})),
    moves: r.moves.filter((m) => m.t >= t0 - 2000 && m.t <= t1),
  };
}
"""


def js_heap(context, page) -> dict:
    session = context.new_cdp_session(page)
    session.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in session.send("Performance.getMetrics")["metrics"]}
    session.detach()
    return {"used": metrics.get("JSHeapUsedSize", 0), "total": metrics.get("JSHeapTotalSize", 0)}


# --------------------------------------------------------------------------- statistics

def percentile(values, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values):
    return statistics.median(values) if values else float("nan")


# --------------------------------------------------------------------------- run

def bench_run(playwright, base_url, spec: Spec, args, run: int, acc: dict) -> None:
    """One run of one dataset in a freshly launched browser: cold, cached and 3rd load, the
    hover moves, and in the last run continuous motion and the JS heap. Adds to `acc`."""
    url = f"{base_url}/index.html?d=bench/{spec.filename}"
    with MemorySampler(boost=args.boost) as sampler:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        acc["chromium"] = browser.version
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(MARKS_SCRIPT)
        loads = []
        for _ in range(3):  # V8 makes its code cache on the 2nd load, uses it from the 3rd
            try:
                page, result = load(context, url)
            except Refused as refusal:  # recorded, not a crash: the row says what the page said
                acc["refused"] = str(refusal)
                print(f"  run {run + 1}: refused: {refusal}", file=sys.stderr, flush=True)
                context.close()
                browser.close()
                acc["peaks"].append((sampler.peak_rss, sampler.peak_pss, sampler.peak_processes))
                return
            result["settled"] = settle(page)
            loads.append(result)
            if len(loads) < 3:
                page.close()
        for name, result in zip(("cold", "cached", "third"), loads):
            acc[name].append(result)
        print(f"  run {run + 1}: cold {loads[0]['shownAt'] / 1000:.2f} s, cached {loads[1]['shownAt'] / 1000:.2f} s, "
              f"3rd {loads[2]['shownAt'] / 1000:.2f} s", file=sys.stderr, flush=True)
        if args.renderer_sync:  # diagnostic: every frame ends in a blocking 1-pixel readback
            page.evaluate("window.ifealid.renderer.options.sync = true")
        # Hover in every run: one browser session can be slow as a whole (the machine is
        # shared), so the moves of all runs are pooled.
        # Where the page computes the maps: the GPU, or the CPU (8 bit under software WebGL).
        acc["compute_on"] = page.evaluate("window.ifealid.explorer.computeOn")
        mine = hover(page, spec, args.moves)
        for m in mine:
            m["run"] = run
        acc["moves"] += mine
        acc["run_medians"].append({"first": median([m["first"] for m in mine]),
                                   "full": median([m["full"] for m in mine])})
        print(f"  run {run + 1}: hover first {acc['run_medians'][-1]['first']:.0f} ms, "
              f"full {acc['run_medians'][-1]['full']:.0f} ms", file=sys.stderr, flush=True)
        if args.analysis_moves:
            analysis_hover(page, spec, args.analysis_moves, acc)
            print("  run {}: analyses {}, slider {:.0f} ms".format(
                run + 1, ", ".join(f"{p} {median(v['plain']):.0f} → {median(v['analysis']):.0f} ms"
                                   for p, v in acc["analyses"].items()), median(acc["slider"])),
                  file=sys.stderr, flush=True)
        if args.pca:
            pca_click(page, acc)
            print(f"  run {run + 1}: PCA first {acc['pca']['first'][-1]:.0f} ms, cached {acc['pca']['cached'][-1]:.0f} ms",
                  file=sys.stderr, flush=True)
        if run == args.runs - 1:
            acc["motion"] = continuous_motion(page, args.motion)
            acc["heap"] = js_heap(context, page)
        context.close()
        browser.close()
    acc["peaks"].append((sampler.peak_rss, sampler.peak_pss, sampler.peak_processes))


def new_accumulator() -> dict:
    return {"cold": [], "cached": [], "third": [], "peaks": [], "moves": [], "run_medians": [],
            "motion": None, "heap": None, "chromium": None, "compute_on": None, "analyses": {}, "slider": [],
            "pca": {"first": [], "cached": [], "compute": []}, "pca_parts": {}, "refused": None}


def summarize(spec: Spec, acc: dict) -> dict:
    if acc["refused"] and not acc["cold"]:
        return {"key": spec.key, "file": spec.filename, "shape": spec.shape, "label": spec.label,
                "chromium": acc["chromium"], "refused": acc["refused"],
                "peak_rss_mib": max(p[0] for p in acc["peaks"]) / 2**20,
                "zip_mib": spec.path.stat().st_size / 2**20, "load_average_end": os.getloadavg()}
    moves = acc["moves"]
    first = [m["first"] for m in moves]
    full = [m["full"] for m in moves]
    peaks, heap = acc["peaks"], acc["heap"]
    return {
        "key": spec.key, "file": spec.filename, "shape": spec.shape, "label": spec.label,
        "chromium": acc["chromium"],
        "cold": acc["cold"], "cached": acc["cached"], "third": acc["third"],
        "load_cold_s": median([r["shownAt"] for r in acc["cold"]]) / 1000,
        "load_cached_s": median([r["shownAt"] for r in acc["cached"]]) / 1000,
        "load_third_s": median([r["shownAt"] for r in acc["third"]]) / 1000,
        "moves": moves, "hover_run_medians": acc["run_medians"],
        "first_median": median(first), "first_p90": percentile(first, 0.9),
        "full_median": median(full), "full_p90": percentile(full, 0.9),
        "preview_first": sum(m["firstKind"] == "preview" for m in moves),
        "compute_on": acc["compute_on"],
        "analyses": {path: {"plain_median": median(v["plain"]), "analysis_median": median(v["analysis"]),
                            "moves": len(v["analysis"])} for path, v in acc["analyses"].items()},
        "slider_median": median(acc["slider"]), "slider_p90": percentile(acc["slider"], 0.9),
        "pca": {k: (median(v) if v else None) for k, v in acc["pca"].items()},
        "pca_runs": acc["pca"],
        "pca_parts": {k: median(v) for k, v in acc["pca_parts"].items()},
        "motion": acc["motion"],
        "peak_rss_mib": max(p[0] for p in peaks) / 2**20,
        "peak_pss_mib": max(p[1] for p in peaks) / 2**20,
        "processes": max(p[2] for p in peaks),
        "js_heap_mib": heap["used"] / 2**20 if heap else float("nan"),
        "zip_mib": spec.path.stat().st_size / 2**20,
        "load_average_end": os.getloadavg(),
        "refused": acc["refused"],
    }


def machine() -> dict:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram / 2**30, "arch": platform.machine(),
            "load": os.getloadavg()}


# --------------------------------------------------------------------------- report

def _f(value, digits=0):
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _goal(ratio, limit, strict=False):
    if ratio is None:
        return "–"
    met = ratio < limit if strict else ratio <= limit
    return f"{ratio:.2f} {'✓' if met else '✗'}"


def report(results, info, args, elapsed_s) -> str:
    specs = {s.key: s for s in DATASETS}
    refused = [r for r in results if "moves" not in r]
    results = [r for r in results if "moves" in r]
    r0 = (results or refused)[0]
    canvas = f"{r0['cached'][0]['canvas'][0]}×{r0['cached'][0]['canvas'][1]} px" if results else "–"
    lines = [
        SECTION,
        "",
        f"Measured {datetime.date.today()} by `scripts/benchmark.py` ({' '.join(args.argv) or 'no options'}) "
        f"in {elapsed_s / 60:.1f} min.",
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['arch']}), {info['ram_gib']:.1f} GiB RAM; "
        f"1-min load average {info['load'][0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
        f"(the machine is shared: other work may have run meanwhile"
        f"{f'; every thread of the benchmarked Chromium ran {args.boost} niceness steps above the priority Chromium gave it, to get the CPUs first (`--boost {args.boost}`)' if args.boost else ''}). "
        f"Headless Chromium {r0['chromium']} (Debian), WebGL 2 on SwiftShader (software), "
        f"viewport {VIEWPORT['width']}×{VIEWPORT['height']} CSS px at device pixel ratio 1, "
        f"map canvas {canvas}.",
        "",
        *(["**Diagnostic run: the renderer was switched to sync mode (`--renderer-sync`) before hovering; "
           "these are not the app's shipped figures.**", ""] if args.renderer_sync else []),
        "**Software rendering on a shared 2-core machine is noisy**: repeated runs differ by up to 2× in "
        "absolute times. The original's figures come from a different run (same kind of set-up, "
        "original-behaviour.md), so the ratios are indicative, not exact.",
        "",
        "### Method",
        "",
        f"- Datasets (H×W×C @ bits) have the shapes of the original's table; the COCO row is the real "
        f"fixture, the others are synthetic (smooth random fields mixed, ReLU, noise: about 38 % zeros, "
        f"PNGs compress like the COCO features) with a JPEG overlay 4× the map's size (2× on the tiled row), generated once "
        f"into `datasets/bench/`.",
        f"- **Load**: navigation start to the first full-resolution heat map (`records.shownAt`, "
        f"performance.now() of the new document). *Cold* (a **first visit**): a freshly launched browser and a new context "
        f"(empty HTTP, V8 code and GPU shader caches). *Cached* (a **repeat visit**): a new tab in the same context after "
        f"the cold load finished and the page's background caching settled (HTTP cache primed, the "
        f"server answers 304 on revalidation; the service worker's offline copy of the runtime, where "
        f"the page has one; V8 writes its code cache for scripts from the HTTP cache on this load and "
        f"uses it from the next, while what the service worker stores in Cache Storage is code-cached "
        f"when stored). *3rd*: one more new tab. Each tab is closed before the next opens. "
        f"Median of {args.runs} run(s), each in a freshly launched browser; run k of every dataset "
        f"before run k + 1 of any, so that each dataset's runs are spread over the whole benchmark "
        f"(the machine's speed drifts over minutes).",
        f"- **Maps computed on**: where the page computed the similarity maps: the GPU (the similarity "
        f"shader) or the CPU (WebAssembly SIMD, which the page uses for 8- and 16-bit data when WebGL is a "
        f"software renderer, as here; `glue/render/RENDERER.md`, \"Similarity on the CPU\"). The colour pass "
        f"and everything after it run in WebGL either way.",
        f"- **Hover**: {args.moves} single `page.mouse.move`s to well-separated pixels (plus one uncounted "
        f"warm-up move) in each run, after its 3rd load, each waited out until its full-resolution frame, "
        f"then 150 ms idle; the moves of all runs pooled. "
        f"(1) *first frame*: the first frame of any kind whose reference is the new pixel; "
        f"(2) *full frame*: the first full-resolution frame for it; both as the frame's `t` (performance.now() "
        f"when the renderer's poll saw the frame's GPU fence signalled and read its min/max back, so "
        f"whatever delays that poll counts too) minus the pointer event's `timeStamp` (the page takes the move from `pointerrawupdate`, "
        f"whose `timeStamp` is the same as the `pointermove`'s). "
        f"Median and p90 (linear interpolation) over the pooled moves, and each run's own median. "
        f"The original's \"hover\" is its event-to-frame time.",
        f"- **Motion**: {args.motion:.0f} s of continuous motion, a pointer event every 8 ms along a "
        f"zig-zag over the whole map (every event lands on a new pixel); *frames/s*: frames that finished "
        f"in that window divided by its length, all kinds / full resolution only; *latency*: each of those "
        f"frames' `t` minus the `timeStamp` of the latest pointer event that moved the reference to its "
        f"pixel, median / p90 (the events it skipped are not counted).",
        "- **Memory**: the peak over the whole dataset's session (cold load, cached load, hover, motion) "
        "of the summed RSS of every Chromium process (browser, zygotes, renderers with the Pyodide "
        "worker, GPU process with SwiftShader's textures, utilities), found as descendants of this "
        "script's process and sampled from /proc every 100 ms; RSS double-counts shared pages, so the "
        "summed PSS (sampled every 500 ms) is given too. JS heap = CDP `Performance.getMetrics` "
        "`JSHeapUsedSize` of the page's main thread after the motion (it excludes the worker and all "
        "WebAssembly memory).",
        "- *Load average after*: the machine's 1-minute load average when the dataset's session ended "
        "(2 cores: above 2 means that something else competed for the CPUs, this script's own browser "
        "included).",
        "",
        "### Results",
        "",
        "| dataset (H×W×C @ bits) | ZIP MiB | load: first visit (cold) / repeat (cached) / 3rd s | first frame median / p90 ms "
        "| full frame median / p90 ms | per run: first / full median ms | maps computed on | moves with a preview first | motion: frames/s all / full | motion: latency median / p90 ms | peak RSS MiB "
        "| peak PSS MiB | JS heap MiB | load average after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r["motion"]
        lines.append(
            f"| {r['shape']} {r['label']} | {r['zip_mib']:.1f} | {r['load_cold_s']:.2f} / {r['load_cached_s']:.2f} / {r['load_third_s']:.2f} "
            f"| {_f(r['first_median'])} / {_f(r['first_p90'])} | {_f(r['full_median'])} / {_f(r['full_p90'])} "
            f"| {', '.join(_f(h['first']) + ' / ' + _f(h['full']) for h in r['hover_run_medians'])} "
            f"| {(r.get('compute_on') or '?').upper()} | {r['preview_first']} of {len(r['moves'])} | {m['fps']:.1f} / {m['fps_full']:.1f} "
            f"| {_f(m['latency_median'])} / {_f(m['latency_p90'])} "
            f"| {r['peak_rss_mib']:.0f} | {r['peak_pss_mib']:.0f} | {r['js_heap_mib']:.0f} "
            f"| {r['load_average_end'][0]:.1f} |")
    for r in refused:
        lines.append(f"| {r['shape']} {r['label']} | {r['zip_mib']:.1f} | refused: {r['refused']} "
                     f"| – | – | – | – | – | – | – | {r['peak_rss_mib']:.0f} | – | – | {r['load_average_end'][0]:.1f} |")
    lines += [
        "",
        "### Against the original",
        "",
        "Goals: first frame ≤ ¼ of the original's hover median (ratio ≤ 0.25), full frame ≤ ½ "
        "(ratio ≤ 0.5); load on a first visit ≤ 0.8× the original's load, on a repeat visit ≤ 0.5× "
        "(issue 19; the original's load is its own first-visit figure). "
        "Ratios are ours / original; ✓ = goal met.",
        "",
        "| dataset | original load s / hover median ms / frames/s | first visit s (ratio) | repeat visit s (ratio; 3rd load) "
        "| first frame ratio | full frame ratio | frames/s ratio (ours / original) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        o = specs[r["key"]].original
        if o is None:
            lines.append(f"| {r['shape']} | no original figure | {r['load_cold_s']:.2f} | {r['load_cached_s']:.2f} | – | – | – |")
            continue
        lines.append(
            f"| {r['shape']} | {o.load_s} / {o.hover_median_ms:.0f} / {o.fps} "
            f"| {r['load_cold_s']:.2f} ({_goal(r['load_cold_s'] / o.load_s, 0.8)}) "
            f"| {r['load_cached_s']:.2f} ({_goal(r['load_cached_s'] / o.load_s, 0.5)}; {r['load_third_s'] / o.load_s:.2f}) "
            f"| {_goal(r['first_median'] / o.hover_median_ms, 0.25)} "
            f"| {_goal(r['full_median'] / o.hover_median_ms, 0.5)} "
            f"| {r['motion']['fps'] / o.fps:.2f} |")
    if any(r.get("analyses") for r in results):
        lines += [
            "",
            "### Analyses (issue 13)",
            "",
            "Hover with centred values, the angular metric and 4 pins combined with the pointer's reference, "
            "against the plain hover (stored values, the pointer's reference alone) measured just before it "
            "in the same page, on each compute path (`setCompute`); full-frame medians of the pooled moves. "
            "Goal: ratio ≤ 1.25. *Slider*: the threshold slider's input event to the full frame with the "
            "new mask, on the page's own path.",
            "",
            "| dataset | path | plain hover ms | analysis hover ms | ratio | slider median / p90 ms |",
            "|---|---|---|---|---|---|",
        ]
        for r in results:
            for path, a in (r.get("analyses") or {}).items():
                ratio = a["analysis_median"] / a["plain_median"]
                lines.append(f"| {r['shape']} | {path.upper()} | {_f(a['plain_median'])} | {_f(a['analysis_median'])} "
                             f"| {_goal(ratio, 1.25)} | {_f(r['slider_median'])} / {_f(r['slider_p90'])} |")
    if any((r.get("pca") or {}).get("first") for r in results):
        goals = {"coco": 300, "512x512x512-8": 2000}
        lines += [
            "",
            "### PCA view (issue 14)",
            "",
            "Click-to-picture: the PCA checkbox's click to the full frame showing the components 1-2-3 "
            "(robust scaling, fitted on all pixels: at most 16,384 of them, stored values). *First*: the whole "
            "computation (sample, covariance, eigenvectors, three components' scores for every pixel, "
            "colours); *compute*: that computation's own time, and its parts (the Gram matrix of the sample, "
            "the eigenvectors, the scores, the colours; each with the page's turns between its slices); "
            "*cached*: the same view again after going back to the similarity. Medians over the runs. Goals "
            "on this machine: ≤ 0.3 s at 160×106×256, ≤ 2 s at 512×512×512 @8.",
            "",
            "| dataset | first ms | compute ms | gram / eigen / scores / colours ms | cached ms | goal |",
            "|---|---|---|---|---|---|",
        ]
        for r in results:
            p = r.get("pca") or {}
            if p.get("first") is None:
                continue
            goal = goals.get(r["key"])
            verdict = "–" if goal is None else (f"≤ {goal} ms: " + ("met" if p["first"] <= goal else "missed"))
            parts = " / ".join(_f((r.get("pca_parts") or {}).get(k)) for k in ("gram", "eigen", "scores", "colours"))
            lines.append(f"| {r['shape']} | {_f(p['first'])} | {_f(p['compute'])} | {parts} | {_f(p['cached'])} | {verdict} |")
    lines += [
        "",
        "### What the load is made of (medians, s since navigation start)",
        "",
        "Marks polled in the page every 5 ms (a busy main thread delays a mark). *ZIP*: the dataset's "
        "download finished (Resource Timing). *Python ready*: the worker's READY, its Python able to "
        "check a dataset ZIP (numpy is imported after it); *in worker*: the worker's own start-to-ready "
        "time and its stages (Pyodide / packages / import). *Decode*: DATASET's decodeMs (Python's "
        "decoding, or on the quick way DECODE's arrival in the worker to the decoders' last PNG: they "
        "work while Python starts). *Handed over*: the page has the decoded arrays. *First frame*: any kind (a "
        "preview on large maps); *full*: = load.",
        "",
        "| dataset | mode | via service worker | ZIP | Python ready | in worker (Pyodide / packages / import) "
        "| decode | handed over | first frame | full frame |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def med(rows, getter):
        values = [v for v in (getter(x) for x in rows) if v is not None]
        return median(values) / 1000 if values else None

    for r in results:
        for mode in ("cold", "cached", "third"):
            rows = r[mode]
            stages = [x["bootStages"] or {} for x in rows]
            stage_text = " / ".join(_f(med(stages, lambda s, k=k: s.get(k)), 2) for k in ("pyodide", "packages", "import"))
            lines.append(
                f"| {r['shape']} | {mode.replace('third', '3rd')} "
                f"| {sum(bool(x.get('serviceWorker')) for x in rows)} of {len(rows)} "
                f"| {_f(med(rows, lambda x: x['zipEnd']), 2)} "
                f"| {_f(med(rows, lambda x: x['marks'].get('ready')), 2)} "
                f"| {_f(med(rows, lambda x: x['bootMs']), 2)} ({stage_text}) "
                f"| {_f(med(rows, lambda x: x['decodeMs']), 2)} "
                f"| {_f(med(rows, lambda x: x['marks'].get('dataset')), 2)} "
                f"| {_f(med(rows, lambda x: x['firstFrame']), 2)} | {_f(med(rows, lambda x: x['shownAt']), 2)} |")
    lines.append("")
    return "\n".join(lines)


def write_section(text: str) -> None:
    DOC.parent.mkdir(exist_ok=True)
    if not DOC.exists():
        DOC.write_text("# Benchmarks\n\nMeasured by the scripts in `scripts/`; compare ratios within one run.\n\n")
    doc = DOC.read_text()
    start = doc.find(SECTION)
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        # The section runs to the next level-2 heading (or the end of the file).
        end = doc.find("\n## ", start + len(SECTION))
        rest = doc[end + 1:] if end >= 0 else ""
        doc = doc[:start] + text.rstrip("\n") + "\n" + ("\n" + rest if rest else "")
    DOC.write_text(doc)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this dataset (repeatable): " + ", ".join(s.key for s in DATASETS))
    parser.add_argument("--large", action="store_true",
                        help="add the large rows (" + ", ".join(s.key for s in DATASETS if s.opt_in)
                        + "; 256 MiB to 1 GiB of channel data, minutes each)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{' and '.join(QUICK)} only, one run, 12 moves, 2 s of motion")
    parser.add_argument("--runs", type=int, default=3, help="load repetitions (default 3)")
    parser.add_argument("--moves", type=int, default=16, help="single hover moves (default 16, at least 12)")
    parser.add_argument("--motion", type=float, default=3.0, help="seconds of continuous motion (default 3)")
    parser.add_argument("--analysis-moves", type=int, default=8,
                        help="moves per run for the analyses' rows, per compute path (default 8; 0: leave them out)")
    parser.add_argument("--no-pca", dest="pca", action="store_false",
                        help="leave out the PCA view's click-to-picture rows")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results.json", help="raw results (default %(default)s)")
    parser.add_argument("--write", action="store_true", help="write the section into docs/benchmarks.md")
    parser.add_argument("--boost", type=int, default=0, metavar="N",
                        help="on a shared machine: run the browser's threads N niceness steps higher (needs root)")
    parser.add_argument("--renderer-sync", action="store_true",
                        help="diagnostic: switch the renderer to sync mode (blocking readback per frame) before hovering")
    parser.add_argument("--generate-only", action="store_true", help="make the datasets and stop")
    args = parser.parse_args(argv)
    args.argv = argv
    if args.quick:
        args.runs, args.moves, args.motion = 1, 12, 2.0
    args.moves = max(12, args.moves)
    keys = set(args.only or (QUICK if args.quick else [s.key for s in DATASETS if not s.opt_in]))
    if args.large:
        keys |= {s.key for s in DATASETS if s.opt_in}
    unknown = keys - {s.key for s in DATASETS}
    if unknown:
        parser.error(f"unknown dataset {', '.join(sorted(unknown))}; choose from {', '.join(s.key for s in DATASETS)}")
    specs = [s for s in DATASETS if s.key in keys]

    started = time.perf_counter()
    info = machine()
    for spec in specs:
        ensure_dataset(spec)
    if args.generate_only:
        return 0

    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"Chromium not found at {CHROMIUM}: install Debian's `chromium`")
    server = _load_serve_module().make_server(ROOT, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    results = []
    try:
        with sync_playwright() as playwright:
            # Run k of every dataset before run k + 1 of any: the machine's speed drifts over
            # minutes (it is shared), and a dataset whose runs all fell into one slow stretch
            # would be judged on that stretch alone. Interleaved, every dataset's runs are
            # spread over the whole benchmark.
            accs = {spec.key: new_accumulator() for spec in specs}
            for run in range(args.runs):
                for spec in specs:
                    print(f"{spec.shape} ({spec.filename}), run {run + 1} of {args.runs}", file=sys.stderr, flush=True)
                    t = time.perf_counter()
                    bench_run(playwright, base_url, spec, args, run, accs[spec.key])
                    print(f"  done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
                results = [summarize(spec, accs[spec.key]) for spec in specs]
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps({"machine": info, "results": results}, indent=1))
    finally:
        server.shutdown()
        server.server_close()

    text = report(results, info, args, time.perf_counter() - started)
    print(text)
    if args.write:
        write_section(text)
        print(f"written to {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
