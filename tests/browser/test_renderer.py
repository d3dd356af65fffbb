"""The renderer (glue/render/) in headless Chromium (SwiftShader WebGL 2), driven through a view model.

Every number the GPU produces is compared with the float64 numpy reference in
app/similarity.py and the colour tables in app/colormaps.py. Datasets are tiny:
software WebGL is slow. The page is tests/browser/renderer_harness.html.
"""
from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ifealid import similarity as S
from ifealid.colormaps import COLORMAPS, colormap_index, lut_bytes
from pagekit import wait_for

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C3.npz.8.zip"
DTYPES = {8: "<u1", 16: "<u2", 32: "<u4"}

# Max abs error of the similarity (s in [0, 1]) against float64. 8 and 16 bit must
# meet 1e-4 (the requirement); the renderer actually reaches ~2e-7 at every
# precision (see glue/render/RENDERER.md), which REACHED asserts so a regression shows.
REQUIRED = {8: 1e-4, 16: 1e-4}
REACHED = 1e-6

MEASURED: dict[str, float] = {}


# --------------------------------------------------------------------------- page


class Harness:
    def __init__(self, page):
        self.page = page
        self.shape = None

    def call(self, name, arg=None):
        return self.page.evaluate(f"a => harness.{name}(a)", arg)

    def create(self, canvas=(48, 34), **options):
        return self.call("create", {"canvasWidth": canvas[0], "canvasHeight": canvas[1], "options": options})

    def load(self, layers: np.ndarray, features: int, precision: int, range_=None, stats=None):
        """Upload (L, H, W, 4) layers; range_ [lo, hi] and stats {mean, std} (of the stored
        integers, as the worker posts them) for the analyses' values settings."""
        n_layers, height, width, _ = layers.shape
        data = base64.b64encode(np.ascontiguousarray(layers, dtype=DTYPES[precision]).tobytes()).decode()
        self.shape = (height, width)
        extra = {}
        if range_ is not None:
            extra["range"] = [float(v) for v in range_]
        if stats is not None:
            extra["stats"] = {k: [float(v) for v in stats[k]] for k in ("mean", "std")}
        return self.call("load", {"width": width, "height": height, "features": features,
                                  "precision": precision, "data": data, **extra})

    def mask(self, **state) -> np.ndarray:
        raw = base64.b64decode(self.call("mask", state))
        return np.frombuffer(raw, dtype=np.uint8).reshape(self.shape).astype(bool)

    def similarity(self, **state) -> np.ndarray:
        raw = base64.b64decode(self.call("similarity", state))
        return np.frombuffer(raw, dtype="<f4").reshape(self.shape).astype(np.float64)

    def render(self, **state):
        out = self.call("render", state)
        w, h = self.page.evaluate("[harness.renderer.canvas.width, harness.renderer.canvas.height]")
        canvas = np.frombuffer(base64.b64decode(out["canvas"]), dtype=np.uint8).reshape(h, w, 4)
        return canvas, out["stretch"]


@pytest.fixture(scope="module")
def module_page(open_module_page, base_url):
    page = open_module_page(viewport=(400, 300), timeout_ms=60_000)
    problems: list[str] = []

    def on_console(msg):
        # WebGL errors surface as console warnings ("GL_INVALID_OPERATION: ...",
        # "WebGL: INVALID_VALUE ..."); performance notes ("GPU stall due to
        # ReadPixels", expected with sync readbacks) are not problems. (Page errors are the
        # fixture's to report.)
        text = msg.text
        if msg.type == "error" or "INVALID" in text or "CONTEXT_LOST" in text or "context lost" in text.lower():
            problems.append(f"console {msg.type}: {text}")

    page.on("console", on_console)
    page.goto(f"{base_url}/tests/browser/renderer_harness.html")
    wait_for(page, "!!(window.harness && window.harness.ready)", timeout=60)
    page.problems = problems
    return page


@pytest.fixture
def h(module_page):
    module_page.problems.clear()
    harness = Harness(module_page)
    yield harness
    assert module_page.problems == [], module_page.problems


@pytest.fixture(scope="module", autouse=True)
def report_accuracy():
    yield
    if MEASURED:
        print("\nmeasured max abs error vs float64 numpy:")
        for key in sorted(MEASURED):
            print(f"  {key}: {MEASURED[key]:.3g}")


# --------------------------------------------------------------------------- data


def to_layers(values: np.ndarray, precision: int) -> np.ndarray:
    """(H, W, C) integers -> (L, H, W, 4) layers, padding channels zero."""
    height, width, channels = values.shape
    n_layers = -(-channels // 4)
    padded = np.zeros((height, width, n_layers * 4), dtype=np.uint64)
    padded[..., :channels] = values
    return padded.reshape(height, width, n_layers, 4).transpose(2, 0, 1, 3).astype(DTYPES[precision])


def make_values(seed: int, height: int, width: int, channels: int, precision: int) -> np.ndarray:
    """Random integers with the hard cases planted: zero vectors, exactly parallel and
    nearly parallel vectors (cos within 1e-9 of 1), all-max and single-tiny-channel pixels."""
    rng = np.random.default_rng(seed)
    top = 2 ** precision - 1
    v = rng.integers(0, top, size=(height, width, channels), dtype=np.uint64, endpoint=True)
    sparse = (rng.random((height, width, channels)) < 0.6) & (rng.random((height, width, 1)) < 0.5)
    v[sparse] = 0  # ReLU-like rows
    v[0, 1] = 0
    v[height // 2, 2] = 0
    base = rng.integers(1, top // 2, size=channels, dtype=np.uint64, endpoint=True) * 2
    v[1, 1] = base
    v[1, 2] = base // 2  # exactly parallel: s = 1
    near = base.copy()
    near[channels // 2] += 1
    v[1, 3] = near  # nearly parallel
    near = base.copy()
    near[0] -= 1
    v[2, 1] = near
    v[2, 2] = top
    v[2, 3] = 0
    v[2, 3, channels - 1] = 1
    return v


def reference_pixels(width: int, height: int):
    """Corners, centre, the zero vector (1, 0), and the planted (near-)parallel/tiny pixels."""
    return [(0, 0), (width - 1, height - 1), (width // 2, height // 2), (1, 0), (1, 1), (3, 1), (3, 2)]


def expected_stretch_colours(sim: np.ndarray, lo: float, hi: float, lut: np.ndarray):
    v = (sim - lo) / (hi - lo) if hi > lo else np.zeros_like(sim)
    v = np.clip(v, 0.0, 1.0)
    return v, colormap_index(v)


def assert_lut_colours(rgb: np.ndarray, v: np.ndarray, lut: np.ndarray) -> int:
    """rgb (..., 3) equals lut[min(255, floor(v * 256))], except a neighbouring entry where
    v * 256 lies within 1e-3 of a bin edge: the GPU computes v in float32, numpy in float64.
    Returns how many pixels used that allowance."""
    idx = colormap_index(v)
    exact = np.all(rgb == lut[idx], axis=-1)
    edge = 0
    for pos in zip(*np.nonzero(~exact)):
        x = v[pos] * 256.0
        assert abs(x - round(x)) < 1e-3, f"pixel {pos}: v={v[pos]} colour {rgb[pos]} != {lut[idx[pos]]}"
        neighbours = [lut[i] for i in (idx[pos] - 1, idx[pos] + 1) if 0 <= i < 256]
        assert any(np.array_equal(rgb[pos], n) for n in neighbours), f"pixel {pos}: {rgb[pos]}"
        edge += 1
    return edge


def fixture_layers():
    """The paper's COCO conv4_x example: 1024 channels, 40x26, 8 bit; k.png = layer k."""
    with zipfile.ZipFile(FIXTURE) as zf:
        meta = json.loads(zf.read([n for n in zf.namelist() if n.endswith(".json")][0]))
        n_layers = -(-meta["features"] // 4)
        layers = np.stack([np.asarray(Image.open(io.BytesIO(zf.read(f"{k}.png"))).convert("RGBA"))
                           for k in range(n_layers)])
    assert layers.shape == (n_layers, meta["height"], meta["width"], 4)
    return layers, meta


def check_map(got: np.ndarray, values: np.ndarray, ref_values: np.ndarray, x: int, y: int, metric: str) -> float:
    """A similarity map's invariants, and its max abs error against float64 numpy: in [0, 1],
    finite, and exact where the definition says so (zero vectors, a zero reference, the
    reference itself)."""
    assert np.isfinite(got).all()
    assert got.min() >= 0.0 and got.max() <= 1.0
    assert np.all(got[~values.any(axis=2)] == 0.0)
    if not values[y, x].any():
        assert np.all(got == 0.0)
    else:
        assert abs(got[y, x] - 1.0) <= 1e-6
    return float(np.abs(got - S.similarity_map(ref_values, x, y, metric)).max())


# -------------------------------------------------------------------------- tests


CASES = [(8, 5), (8, 13), (8, 255), (16, 5), (16, 13), (16, 255), (32, 5), (32, 13), (32, 61)]


@pytest.mark.parametrize("precision,channels", CASES)
def test_similarity_matches_float64(h, precision, channels):
    height, width = 17, 24
    values = make_values(precision * 1000 + channels, height, width, channels, precision)
    h.create()
    h.load(to_layers(values, precision), channels, precision)
    ref_values = values.astype(np.float64) / (2 ** precision - 1)
    worst = {"angular": 0.0, "cosine": 0.0}
    for x, y in reference_pixels(width, height):
        for metric in ("angular", "cosine"):
            got = h.similarity(reference=[x, y], metric=metric)
            err = check_map(got, values, ref_values, x, y, metric)
            worst[metric] = max(worst[metric], err)
    for metric, err in worst.items():
        MEASURED[f"{precision:2d} bit C={channels:3d} {metric}"] = err
        assert err <= REQUIRED.get(precision, REACHED)
        assert err <= REACHED, f"{metric}: {err}"
    # The exactly parallel pair (1, 1) / (2, 1) and the nearly parallel ones.
    got = h.similarity(reference=[1, 1], metric="angular")
    assert got[1, 2] >= 1.0 - 1e-6


@pytest.mark.parametrize("precision,channels", [(8, 5), (8, 13), (8, 255), (16, 5), (16, 13), (16, 255)])
def test_cpu_similarity_matches_float64_and_the_shader(h, precision, channels):
    """8- and 16-bit maps from the WebAssembly SIMD kernel (glue/compute/cpu-kernel.js, cpu-analysis.js), which the
    page uses under software WebGL: the same checks as the shader's, and the same map as the
    shader's. 23 x 17 = 391 pixels, not a multiple of the kernel's 4-pixel steps."""
    height, width = 17, 23
    values = make_values(8000 + precision * 100 + channels, height, width, channels, precision)
    ref_values = values.astype(np.float64) / (2 ** precision - 1)
    h.create()
    h.load(to_layers(values, precision), channels, precision)
    worst = {"angular": 0.0, "cosine": 0.0}
    for x, y in reference_pixels(width, height):
        for metric in ("angular", "cosine"):
            assert h.call("cpu", False)["on"] == "gpu"
            shader = h.similarity(reference=[x, y], metric=metric)
            assert h.call("cpu", True)["on"] == "cpu"
            got = h.similarity(reference=[x, y], metric=metric)
            err = check_map(got, values, ref_values, x, y, metric)
            worst[metric] = max(worst[metric], err)
            assert np.abs(got - shader).max() <= REACHED
    for metric, err in worst.items():
        MEASURED[f"{precision:2d} bit C={channels:3d} {metric} (CPU)"] = err
        assert err <= REACHED, f"{metric}: {err}"
    got = h.similarity(reference=[1, 1], metric="angular")
    assert got[1, 2] >= 1.0 - 1e-7  # exactly parallel (8 bit: exactly 1 in float64 maths)
    if precision == 8:
        assert got[1, 2] == 1.0


def test_software_renderers_are_told_from_hardware_ones(h):
    """The page moves maps to the CPU only under a software renderer: the renderer string
    decides (this machine's WebGL is SwiftShader; the others are strings real drivers report)."""
    h.create()
    verdicts = h.page.evaluate("""async (names) => {
      const { isSoftwareRenderer } = await import('/glue/compute/cpu-kernel.js');
      const fake = (name) => ({ RENDERER: 0x1F01, getExtension: () => null, getParameter: () => name });
      return { here: isSoftwareRenderer(harness.renderer.gl), names: names.map((n) => isSoftwareRenderer(fake(n))) };
    }""", ["ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)",
           "llvmpipe (LLVM 15.0.6, 256 bits)", "Microsoft Basic Render Driver",
           "ANGLE (NVIDIA, NVIDIA GeForce RTX 3080 Direct3D11 vs_5_0 ps_5_0, D3D11)",
           "Apple M2", "Mesa Intel(R) UHD Graphics 620 (KBL GT2)"])
    assert verdicts == {"here": True, "names": [True, True, True, False, False, False]}


def test_cpu_similarity_real_fixture_and_its_previews(h):
    """The 1024-channel fixture through the CPU kernel. A reference change on a map worth a
    preview computes only every cpuPreviewFactor-th row of the map (memory is read a row at a
    time), shows the preview, then refines it to the exact map."""
    layers, meta = fixture_layers()
    h.create(preview=True)
    h.load(layers, meta["features"], meta["precision"])
    values = S.layers_to_values(layers, 8, meta["features"])
    assert h.call("cpu", True) == {"on": "cpu", "software": True}
    for x, y in [(0, 0), (13, 20), (25, 39)]:
        for metric in ("angular", "cosine"):
            got = h.similarity(reference=[x, y], metric=metric)
            assert np.abs(got - S.similarity_map(values, x, y, metric)).max() <= REACHED
    out = h.page.evaluate("""() => {
      harness.frames = [];
      harness.model.set({reference: {x: 3, y: 4}, metric: 'angular'});
      harness.renderer.renderNow({preview: true});
      const source = harness.renderer.ds.sources.cpu;  // (the refinement has not run yet)
      return {kinds: harness.frames.map((f) => f.kind), rows: [...source._last.rows.keys()].filter((y) => source._last.rows[y]),
              step: harness.renderer.ds.tiles[0].targets.phased.step};
    }""")
    assert out["kinds"] == ["preview"] and out["step"] == 4
    assert out["rows"] == list(range(0, meta["height"], 4))
    h.page.wait_for_function("harness.frames.some((f) => f.kind === 'full')")
    got = h.page.evaluate("Array.from(harness.renderer.mapValues())")
    want = S.similarity_map(values, 3, 4, "angular")
    assert np.abs(np.array(got).reshape(want.shape) - want).max() <= REACHED
    # A larger map (here: a smaller budget) gets a coarser preview, every 8th row.
    h.create(preview=True, cpuPreviewWork=4 * meta["width"] * meta["features"])
    h.load(layers, meta["features"], meta["precision"])
    h.call("cpu", True)
    out = h.page.evaluate("""() => {
      harness.model.set({reference: {x: 5, y: 6}, metric: 'angular'});
      harness.renderer.renderNow({preview: true});
      const rows = harness.renderer.ds.sources.cpu._last.rows;
      return {step: harness.renderer.ds.tiles[0].targets.phased.step, rows: [...rows.keys()].filter((y) => rows[y])};
    }""")
    assert out == {"step": 8, "rows": list(range(0, meta["height"], 8))}
    # The step counts each pixel's metric too (cpuPixelWork multiply-adds): a budget that every
    # 4th row's multiply-adds alone fit gives step 4 without it and 8 with it.
    budget = -(-meta["height"] // 4) * meta["width"] * meta["features"] + 1
    for pixel_work, step in ((0, 4), (256, 8)):
        h.create(preview=True, cpuPreviewWork=budget, cpuPixelWork=pixel_work)
        h.load(layers, meta["features"], meta["precision"])
        h.call("cpu", True)
        h.page.evaluate("harness.model.set({reference: {x: 5, y: 6}}); harness.renderer.renderNow({preview: true})")
        assert h.page.evaluate("harness.renderer.ds.tiles[0].targets.phased.step") == step
    # The channel view stays on the GPU, and so does everything after the map.
    got = h.similarity(channel=517)
    assert np.abs(got - S.channel_map(values, 517)).max() <= 1e-7
    h.call("cpu", False)
    h.page.evaluate("harness.frames = []; harness.model.set({mode: 'similarity', reference: {x: 5, y: 6}});"
                    " harness.renderer.renderNow({preview: true})")
    assert h.page.evaluate("harness.frames.map((f) => f.kind)")[0] == "preview"


@pytest.mark.parametrize("precision,channels", [(8, 255), (16, 255), (32, 61)])
def test_partially_unrolled_shader_gives_the_same_map(h, precision, channels):
    """Above unrollLimit texel fetches the shader loops over whole texels; same numbers."""
    height, width = 17, 24
    values = make_values(7 + channels, height, width, channels, precision)
    ref_values = values.astype(np.float64) / (2 ** precision - 1)
    h.create(unrollLimit=2)
    h.load(to_layers(values, precision), channels, precision)
    for metric in ("angular", "cosine"):
        got = h.similarity(reference=[5, 6], metric=metric)
        assert np.abs(got - S.similarity_map(ref_values, 5, 6, metric)).max() <= REACHED


def test_real_fixture_1024_channels(h):
    layers, meta = fixture_layers()
    h.create()
    h.load(layers, meta["features"], meta["precision"])
    values = S.layers_to_values(layers, 8, meta["features"])
    width, height = meta["width"], meta["height"]
    rng = np.random.default_rng(3)
    refs = [(0, 0), (width // 2, height // 2), (width - 1, height - 1)]
    refs += [tuple(int(a) for a in rng.integers(0, (width, height))) for _ in range(3)]
    worst = 0.0
    for x, y in refs:
        for metric in ("angular", "cosine"):
            got = h.similarity(reference=[x, y], metric=metric)
            worst = max(worst, float(np.abs(got - S.similarity_map(values, x, y, metric)).max()))
    MEASURED[" 8 bit fixture 40x26x1024"] = worst
    assert worst <= REACHED
    for k in (0, 517, 1023):
        got = h.similarity(channel=k)
        assert np.abs(got - S.channel_map(values, k)).max() <= 1e-7


@pytest.mark.parametrize("precision,channels", [(8, 13), (16, 13), (32, 13)])
def test_channel_view(h, precision, channels):
    values = make_values(11, 17, 24, channels, precision)
    ref_values = values.astype(np.float64) / (2 ** precision - 1)
    h.create()
    h.load(to_layers(values, precision), channels, precision)
    for k in range(channels):
        got = h.similarity(channel=k)
        assert np.abs(got - S.channel_map(ref_values, k)).max() <= 2e-7, k
    # Back to the similarity map.
    got = h.similarity(channel=None, reference=[4, 4], metric="angular")
    assert np.abs(got - S.angular_similarity(ref_values, 4, 4)).max() <= REACHED


def test_stretch_min_max(h):
    values = make_values(5, 17, 24, 13, 16)
    ref_values = values.astype(np.float64) / 65535
    h.create(canvas=(48, 34))
    h.load(to_layers(values, 16), 13, 16)
    for metric in ("angular", "cosine"):
        sim = h.similarity(reference=[7, 9], metric=metric)
        _, stretch = h.render(view={"scale": 2, "offsetX": 0, "offsetY": 0}, stretch="relative")
        # The GPU reduction is exact on the GPU's own values...
        assert stretch == {"min": sim.min(), "max": sim.max()}
        # ...and those are the float64 reference's within the similarity accuracy.
        _, lo, hi = S.stretch(S.similarity_map(ref_values, 7, 9, metric), "relative")
        assert abs(stretch["min"] - lo) <= REACHED and abs(stretch["max"] - hi) <= REACHED
    _, stretch = h.render(stretch="absolute")
    assert stretch == {"min": 0, "max": 1}
    chan = h.similarity(channel=3)
    _, stretch = h.render(stretch="relative")
    assert stretch == {"min": chan.min(), "max": chan.max()}
    assert stretch["min"] == pytest.approx(ref_values[..., 3].min(), abs=1e-7)
    assert stretch["max"] == pytest.approx(ref_values[..., 3].max(), abs=1e-7)


@pytest.mark.parametrize("name", ["fire", "viridis", "grey"])
@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_canvas_colours_follow_the_lut(h, name, mode):
    values = make_values(21, 17, 24, 13, 8)
    lut = COLORMAPS[name]
    # Map at 2x with a margin: canvas pixel (4 + 2x + i, 3 + 2y + j) shows map pixel (x, y).
    h.create(canvas=(56, 40))
    h.load(to_layers(values, 8), 13, 8)
    sim = h.similarity(reference=[10, 5], metric="angular")
    canvas, stretch = h.render(lut=base64.b64encode(lut_bytes(name)).decode(), stretch=mode,
                               view={"scale": 2, "offsetX": 4, "offsetY": 3})
    inside = canvas[3:37, 4:52]
    assert np.all(inside[..., 3] == 255)
    mask = np.ones(canvas.shape[:2], dtype=bool)
    mask[3:37, 4:52] = False
    assert np.all(canvas[mask] == 0), "outside the map the canvas stays transparent"
    lo, hi = (stretch["min"], stretch["max"]) if mode == "relative" else (0.0, 1.0)
    v, _ = expected_stretch_colours(sim, lo, hi, lut)
    v_px = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)
    edges = assert_lut_colours(inside[..., :3], v_px, lut)
    assert edges <= 8, edges
    if mode == "relative":
        # The reference pixel has s = 1 = max: the last entry.
        assert np.array_equal(inside[2 * 5, 2 * 10, :3], lut[255])


@pytest.mark.parametrize("colour", [False, True])
def test_overlay_blend(h, colour):
    values = make_values(8, 17, 24, 13, 8)
    h.create(canvas=(24, 17))
    h.load(to_layers(values, 8), 13, 8)
    sim = h.similarity(reference=[6, 6], metric="angular")
    rgb = np.array([200.0, 100.0, 50.0])
    h.page.evaluate("rgb => harness.overlay(rgb)", rgb.astype(int).tolist())
    opacity = 0.6
    canvas, stretch = h.render(view={"scale": 1, "offsetX": 0, "offsetY": 0}, opacity=opacity,
                               overlayColour=colour, lut=base64.b64encode(lut_bytes("fire")).decode())
    v, idx = expected_stretch_colours(sim, stretch["min"], stretch["max"], COLORMAPS["fire"])
    heat = COLORMAPS["fire"][idx] / 255.0
    ov = rgb / 255.0 if colour else np.full(3, rgb @ np.array([0.2126, 0.7152, 0.0722]) / 255.0)
    alpha = np.minimum(1.0, v + (1.0 - opacity))[..., None]
    want = 255.0 * (ov * (1.0 - alpha) + heat * alpha)
    # Off-edge pixels may take a neighbouring LUT entry; leave those out.
    x = v * 256.0
    clear = np.abs(x - np.round(x)) > 1e-3
    assert np.abs(canvas[..., :3][clear] - want[clear]).max() <= 1.0
    assert np.all(canvas[..., 3] == 255)
    # Without an overlay the heat map is opaque whatever the opacity.
    h.page.evaluate("() => harness.overlay(null)")
    canvas, _ = h.render()
    assert np.array_equal(canvas[..., :3][clear], COLORMAPS["fire"][idx][clear])


@pytest.mark.parametrize("overlay", [None, (200, 40, 90)])
def test_an_opaque_canvas_has_the_background_outside_the_map_and_the_same_map(h, overlay):
    """background: [r, g, b] makes a context without alpha, cleared to that colour outside
    the map; the map's pixels are the transparent canvas's, byte for byte."""
    values = make_values(4, 17, 24, 13, 8)
    view = {"scale": 1.5, "offsetX": 7.25, "offsetY": -3.0}
    shots = []
    for background in [None, [17, 34, 51]]:
        h.create(canvas=(48, 30), background=background)
        h.load(to_layers(values, 8), 13, 8)
        h.page.evaluate("rgb => harness.overlay(rgb)", list(overlay) if overlay else None)
        canvas, _ = h.render(reference=[5, 9], view=view, opacity=0.7)
        shots.append(canvas)
        assert h.page.evaluate("harness.renderer.gl.getContextAttributes().alpha") is (background is None)
    transparent, opaque = shots
    rows, cols = np.arange(30), np.arange(48)
    my, mx = np.floor((rows + 0.5 + 3.0) / 1.5), np.floor((cols + 0.5 - 7.25) / 1.5)
    on_map = ((my >= 0) & (my < 17))[:, None] & ((mx >= 0) & (mx < 24))[None, :]
    assert on_map.any() and (~on_map).any()
    assert np.all(transparent[~on_map] == 0)
    assert np.all(opaque[~on_map] == [17, 34, 51, 255])
    assert np.array_equal(opaque[on_map], transparent[on_map])


@pytest.mark.parametrize("overlay", [None, (200, 40, 90)])
def test_two_step_colour_draws_the_same_bytes(h, overlay):
    """Magnified views colour at map resolution, then spread it over the canvas: the canvas
    is byte for byte the one-pass colour pass's, at any scale and offset."""
    values = make_values(8, 11, 13, 7, 16)
    views = [{"scale": 3.7, "offsetX": 2.3, "offsetY": -5.6}, {"scale": 1.3, "offsetX": 4, "offsetY": 1},
             {"scale": 8, "offsetX": -30.5, "offsetY": -12}]
    fire = base64.b64encode(lut_bytes("fire")).decode()
    shots = {}
    for steps in (False, True):
        h.create(canvas=(47, 38), twoStepColour=steps, preview=False)
        h.load(to_layers(values, 16), 7, 16)
        h.page.evaluate("c => harness.overlay(c)", overlay)
        shots[steps] = [h.render(reference=[4, 6], lut=fire, view=v, opacity=0.7)[0] for v in views]
    for one, two in zip(shots[False], shots[True]):
        assert np.array_equal(one, two)
        assert (one[..., 3] == 255).any()
    assert (shots[False][0][..., 3] == 0).any()  # the margin around the map is transparent in both


def test_all_zero_dataset_never_nan(h):
    values = np.zeros((17, 24, 13), dtype=np.uint64)
    h.create(canvas=(24, 17))
    h.load(to_layers(values, 32), 13, 32)
    fire = base64.b64encode(lut_bytes("fire")).decode()
    for metric in ("angular", "cosine"):
        sim = h.similarity(reference=[3, 3], metric=metric)
        assert np.all(sim == 0.0)
        canvas, stretch = h.render(lut=fire, view={"scale": 1, "offsetX": 0, "offsetY": 0})
        assert stretch == {"min": 0, "max": 0}
        assert np.all(canvas[..., :3] == COLORMAPS["fire"][0])
    assert np.all(h.similarity(channel=4) == 0.0)
    # Same through the 8-bit integer path.
    h.load(to_layers(values, 8), 13, 8)
    assert np.all(h.similarity(channel=None, reference=[0, 0]) == 0.0)


def test_view_transform_and_visible_region(h):
    values = make_values(9, 17, 24, 13, 8)
    h.create(canvas=(56, 40))
    h.load(to_layers(values, 8), 13, 8)
    page = h.page
    # Fitted with 10 px padding at load, centred.
    view = page.evaluate("harness.view().camera")
    scale = min((56 - 20) / 24, (40 - 20) / 17)
    assert view["scale"] == pytest.approx(scale)
    assert view["offsetX"] == pytest.approx((56 - scale * 24) / 2)
    assert view["offsetY"] == pytest.approx((40 - scale * 17) / 2)
    assert page.evaluate("harness.canvasToPixel(0, 0)") is None
    hit = page.evaluate("(() => { const c = harness.pixelToCanvas(7, 11);"
                        " return harness.canvasToPixel(c.x + 0.5, c.y + 0.5); })()")
    assert hit == {"x": 7, "y": 11}
    # zoomAt keeps the point under the cursor.
    before = page.evaluate("harness.canvasToPixel(30.3, 20.7)")
    page.evaluate("harness.zoomAt(30.3, 20.7, 3)")
    assert page.evaluate("harness.canvasToPixel(30.3, 20.7)") == before

    # Zoomed in: map pixels x 5..18, y 3..12 visible at 4x; relative stretch over them.
    sim = h.similarity(reference=[8, 8], metric="angular")
    canvas, stretch = h.render(view={"scale": 4, "offsetX": -20, "offsetY": -12})
    region = page.evaluate("harness.renderer.lastFrame.region")
    assert region == {"x0": 5, "y0": 3, "x1": 19, "y1": 13}
    visible = sim[3:13, 5:19]
    assert stretch == {"min": visible.min(), "max": visible.max()}
    v, _ = expected_stretch_colours(sim, stretch["min"], stretch["max"], COLORMAPS["grey"])
    cy, cx = np.mgrid[0:40, 0:56]
    mx, my = (cx + 20) // 4, (cy + 12) // 4
    assert_lut_colours(canvas[..., :3], v[my, mx], COLORMAPS["grey"])
    # Panned off the map: nothing drawn.
    canvas, _ = h.render(view={"scale": 4, "offsetX": 500, "offsetY": 0})
    assert np.all(canvas == 0)


def _frames(h, refs, **options):
    h.create(canvas=(24, 17), preview=True, **options)
    values = make_values(13, 17, 24, 13, 8)
    h.load(to_layers(values, 8), 13, 8)
    h.call("apply", {"view": {"scale": 1, "offsetX": 0, "offsetY": 0}})
    return h.call("moves", refs)


def test_preview_while_moving_then_full_frame_when_resting(h):
    out = _frames(h, [[1, 1], [5, 5], [9, 9]], sync=True)
    kinds = [f["kind"] for f in out["frames"]]
    assert kinds == ["preview", "preview", "preview", "full"], kinds
    assert [f["reference"] for f in out["frames"]] == [{"x": 1, "y": 1}, {"x": 5, "y": 5}, {"x": 9, "y": 9}, {"x": 9, "y": 9}]
    shots = [np.frombuffer(base64.b64decode(s), dtype=np.uint8).reshape(17, 24, 4)[::-1] for s in out["shots"]]
    # Preview: every second pixel in each axis, shown nearest-neighbour in 2x2 blocks.
    for shot in shots[:3]:
        assert np.array_equal(shot, shot[(np.arange(17) // 2 * 2)][:, (np.arange(24) // 2 * 2)])
    full = shots[3]
    assert not np.array_equal(full, full[(np.arange(17) // 2 * 2)][:, (np.arange(24) // 2 * 2)])
    canvas, _ = h.render()
    assert np.array_equal(full, canvas)


def test_async_frames_report_times_and_stretch(h):
    out = _frames(h, [[2, 3], [4, 4]], sync=False)
    frames = out["frames"]
    assert [f["kind"] for f in frames] == ["preview", "preview", "full"]
    sim = h.similarity(reference=[4, 4], metric="angular")
    assert frames[-1]["stretch"] == {"min": sim.min(), "max": sim.max()}
    for f in frames:
        assert f["t"] >= f["issued"] > 0


def _shots(out, height, width):
    return [np.frombuffer(base64.b64decode(s), dtype=np.uint8).reshape(height, width, 4)[::-1] for s in out["shots"]]


@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("sync", [True, False])
def test_refinement_completes_the_preview_exactly(h, factor, sync):
    """The refinement computes only the pixels the preview skipped (the other phase planes),
    over a zoomed-in region that starts at an odd pixel of an odd-sized map, in many small
    chunks: the result is the map a full-resolution frame draws, bit for bit, and the
    stretch is the visible region's min/max."""
    height, width, channels = 19, 23, 13
    values = make_values(21, height, width, channels, 8)
    view = {"scale": 3, "offsetX": -7.5, "offsetY": -4.0}   # map x >= 2.5, y >= 1.33 visible
    canvas = (52, 44)
    h.create(canvas=canvas, preview=False)
    h.load(to_layers(values, 8), channels, 8)
    want, want_stretch = h.render(reference=[9, 11], view=view)
    sim = h.similarity(reference=[9, 11])

    # preserveDrawingBuffer: async frames are reported after the canvas may have been presented.
    h.create(canvas=canvas, preview=True, previewFactor=factor, sync=sync, refineChunkWork=40,
             preserveDrawingBuffer=True)
    h.load(to_layers(values, 8), channels, 8)
    h.call("apply", {"view": view})
    out = h.call("previews", [[3, 4], [9, 11]])
    kinds = [(f["kind"], f["reference"]["x"]) for f in out["frames"]]
    # The superseded move is never refined; the last one is, once.
    assert kinds == [("preview", 3), ("preview", 9), ("full", 9)], kinds
    shots = _shots(out, canvas[1], canvas[0])
    region = out["frames"][-1]["region"]
    assert region == {"x0": 2, "y0": 1, "x1": 20, "y1": 16}
    # The preview shows each factor x factor block's first pixel.
    rows, cols = np.arange(canvas[1]), np.arange(canvas[0])
    my, mx = np.floor((rows + 4.0) / 3).astype(int), np.floor((cols + 7.5) / 3).astype(int)
    preview_map = sim[(my // factor * factor)[:, None], (mx // factor * factor)[None, :]]
    full_map = sim[my[:, None], mx[None, :]]
    inside = (my < height)[:, None] & (mx < width)[None, :]
    assert not np.array_equal(preview_map[inside], full_map[inside])
    assert np.array_equal(shots[2], want)
    assert out["frames"][2]["stretch"] == want_stretch
    visible = sim[1:16, 2:20]
    assert want_stretch == {"min": visible.min(), "max": visible.max()}
    # The preview's own stretch: min/max over the blocks' first pixels. Without sync the
    # refined preview skips its read-back (the full frame brings the numbers).
    blocks = sim[(np.arange(0, 16, factor))[:, None], (np.arange(2 // factor * factor, 20, factor))[None, :]]
    if sync:
        assert out["frames"][1]["stretch"] == {"min": blocks.min(), "max": blocks.max()}
    else:
        assert out["frames"][1]["stretch"] is None
    h.page.evaluate("harness.renderer.renderNow({preview: true})")  # a preview of the same map: full
    assert h.page.evaluate("harness.renderer.lastFrame.kind") == "full"


def test_switching_the_compute_path_remakes_the_phased_target_without_leaks(h):
    """The preview's step follows the compute path (4 on the CPU, previewFactor on the GPU):
    the phased target is made again on a switch, the old one freed, nothing else lost."""
    values = make_values(4, 17, 24, 13, 8)
    h.create(canvas=(24, 17), preview=True)
    h.load(to_layers(values, 8), 13, 8)
    steps, stats = [], []
    for on in (True, False, True, False, True):
        h.call("cpu", on)
        h.page.evaluate("harness.model.set({reference: {x: 3, y: 4}}); harness.renderer.renderNow({preview: true})")
        steps.append(h.page.evaluate("harness.renderer.ds.tiles[0].targets.phased.step"))
        stats.append(h.page.evaluate("harness.renderer.stats()"))
    assert steps == [4, 2, 4, 2, 4]
    # (the first switch to the GPU makes its side: the layers' textures, its programs)
    assert stats[3] == stats[1] and stats[4] == stats[2]
    sim = h.similarity(reference=[3, 4])
    assert np.abs(sim - S.similarity_map(values.astype(np.float64) / 255, 3, 4, "angular")).max() <= REACHED
    # A new dataset frees every target of the old one, the remade phased one too.
    old = h.page.evaluate_handle("""() => { const t = harness.renderer.ds.tiles[0].targets;
      return [t.full.tex, t.phased.tex, ...t.red.map((r) => r.tex)]; }""")
    h.load(to_layers(values, 8), 13, 8)
    assert h.page.evaluate("(ts) => ts.every((t) => !harness.renderer.gl.isTexture(t))", old)


@pytest.mark.parametrize("height,width,shared", [(17, 24, True), (19, 23, False)])
def test_cpu_path_holds_the_layers_once(h, height, width, shared):
    """Where the CPU computes the maps, the dataset's layers become a view of the kernel's copy
    (the same values; the page's own array can go), unless the kernel pads its layers (W·H not
    a multiple of 4). Maps, the GPU's upload (channel view) and a lost context still read them."""
    channels = 13
    values = make_values(3, height, width, channels, 8)
    layers = to_layers(values, 8)
    h.create(canvas=(width, height))
    h.load(layers, channels, 8)
    assert h.call("cpu", True)["on"] == "cpu"
    h.similarity(reference=[2, 3])
    out = h.page.evaluate("""() => {
      const kernel = harness.renderer.ds.sources.cpu.analysis.kernel, layers = harness.dataset.layers;
      return {shared: layers.buffer === kernel._k.memory.buffer, type: layers.constructor.name,
              b64: btoa(String.fromCharCode(...new Uint8Array(layers.buffer, layers.byteOffset, layers.byteLength)))};
    }""")
    assert out["shared"] is shared and out["type"] == "Uint8Array"
    assert np.array_equal(np.frombuffer(base64.b64decode(out["b64"]), dtype=np.uint8), layers.ravel())
    ref_values = values.astype(np.float64) / 255
    got = h.similarity(reference=[5, 6], metric="cosine")
    assert np.abs(got - S.similarity_map(ref_values, 5, 6, "cosine")).max() <= REACHED
    assert np.abs(h.similarity(channel=7) - S.channel_map(ref_values, 7)).max() <= 1e-7
    assert h.call("loseAndRestoreContext")["lost"] is False
    got = h.similarity(channel=None, reference=[1, 2], metric="angular")
    assert np.abs(got - S.similarity_map(ref_values, 1, 2, "angular")).max() <= REACHED


@pytest.mark.parametrize("sync", [True, False])
def test_cpu_previews_skip_rows_and_refine_exactly(h, sync):
    """Where the CPU computes the maps, a preview holds every 4th pixel of every 4th row (its
    texels the exact values there) and its refinement completes the very map of a
    full-resolution frame, over a zoomed-in region of an odd-sized map, in small chunks."""
    height, width, channels = 19, 23, 13
    values = make_values(21, height, width, channels, 8)
    view = {"scale": 3, "offsetX": -7.5, "offsetY": -4.0}
    canvas = (52, 44)
    h.create(canvas=canvas, preview=False)
    h.load(to_layers(values, 8), channels, 8)
    assert h.call("cpu", True)["on"] == "cpu"
    want, want_stretch = h.render(reference=[9, 11], view=view)
    sim = h.similarity(reference=[9, 11])

    h.create(canvas=canvas, preview=True, sync=sync, refineChunkWork=40, preserveDrawingBuffer=True)
    h.load(to_layers(values, 8), channels, 8)
    assert h.call("cpu", True)["on"] == "cpu"
    h.call("apply", {"view": view})
    out = h.call("previews", [[3, 4], [9, 11]])
    kinds = [(f["kind"], f["reference"]["x"]) for f in out["frames"]]
    assert kinds == [("preview", 3), ("preview", 9), ("full", 9)], kinds
    shots = _shots(out, canvas[1], canvas[0])
    assert np.array_equal(shots[2], want)
    assert out["frames"][2]["stretch"] == want_stretch
    rows, cols = np.arange(canvas[1]), np.arange(canvas[0])
    my, mx = np.floor((rows + 4.0) / 3).astype(int), np.floor((cols + 7.5) / 3).astype(int)
    inside = (my < height)[:, None] & (mx < width)[None, :]
    preview_map = sim[(my // 4 * 4)[:, None], (mx // 4 * 4)[None, :]]
    assert not np.array_equal(preview_map[inside], sim[my[:, None], mx[None, :]][inside])
    if sync:  # the preview's stretch: min/max over the visible blocks' first pixels, exactly
        blocks = sim[np.arange(0, 16, 4)[:, None], np.arange(0, 20, 4)[None, :]]
        assert out["frames"][1]["stretch"] == {"min": blocks.min(), "max": blocks.max()}


def test_a_new_move_preempts_the_refinement(h):
    """A move during a refinement in progress stops it after the chunks already issued
    (at most two in flight): no full frame for the old reference, one for the new."""
    height, width, channels = 40, 48, 13
    values = make_values(5, height, width, channels, 8)
    h.create(canvas=(48, 40), preview=True, sync=False, refineChunkWork=24 * channels)  # a plane row per chunk
    h.load(to_layers(values, 8), channels, 8)
    h.call("apply", {"view": {"scale": 1, "offsetX": 0, "offsetY": 0}})
    out = h.page.evaluate("harness.preempt([5, 6], [30, 20])")
    assert out["total"] == 3 * 20  # three planes of 20 rows
    assert 1 <= out["issuedBefore"] <= 2 and out["issuedAfter"] <= out["issuedBefore"] + 2
    kinds = [(f["kind"], f["reference"]["x"]) for f in out["frames"]]
    assert ("full", 5) not in kinds and kinds[-1] == ("full", 30), kinds
    canvas, _ = h.render()
    h.create(canvas=(48, 40), preview=False)
    h.load(to_layers(values, 8), channels, 8)
    want, _ = h.render(reference=[30, 20], view={"scale": 1, "offsetX": 0, "offsetY": 0})
    assert np.array_equal(canvas, want)


@pytest.mark.parametrize("at_once", [True, False])
def test_a_reference_change_draws_at_once_at_most_once_per_animation_frame(h, at_once):
    """With drawAtOnce a reference change draws inside the caller's task (the page calls it
    from the raw pointer event), unless a frame was already drawn since the last animation
    frame: then it waits for the next one, like every other change."""
    h.create(canvas=(24, 17), autoRender=True, drawAtOnce=at_once)  # sync: onFrame inside the draw
    values = make_values(13, 17, 24, 13, 8)
    h.load(to_layers(values, 8), 13, 8)
    out = h.page.evaluate("""async () => {
      const r = harness.renderer, frames = harness.frames;
      const next = () => new Promise((resolve) => requestAnimationFrame(resolve));
      for (let i = 0; i < 3; i++) await next();  // the load's frame and its animation frame are past
      const n0 = frames.length;
      harness.model.set({reference: {x: 3, y: 4}});
      const first = frames.slice(n0).map((f) => f.reference);
      harness.model.set({reference: {x: 5, y: 6}});  // the same animation frame: waits for the next one
      const second = frames.slice(n0).map((f) => f.reference);
      for (let i = 0; i < 3; i++) await next();
      return {first, second, after: frames.slice(n0).map((f) => f.reference), stretch: r.lastFrame.stretch};
    }""")
    if at_once:
        assert out["first"] == [{"x": 3, "y": 4}]
        assert out["second"] == [{"x": 3, "y": 4}]
        assert out["after"] == [{"x": 3, "y": 4}, {"x": 5, "y": 6}]
    else:
        assert out["first"] == [] and out["second"] == []
        assert out["after"] == [{"x": 5, "y": 6}]
    sim = h.similarity(reference=[5, 6], metric="angular")
    assert out["stretch"] == {"min": sim.min(), "max": sim.max()}


def test_a_change_waits_while_the_gpu_is_on_an_earlier_frame(h):
    """maxFramesInFlight (1): while the GPU has not finished a frame, changes wait instead of
    queueing frames behind it; once it is done, one frame draws the newest state, and the
    states in between are never drawn. (The fence poll is held back to keep the frame in
    flight.)"""
    h.create(canvas=(24, 17), autoRender=True, sync=False)
    values = make_values(13, 17, 24, 13, 8)
    h.load(to_layers(values, 8), 13, 8)
    out = h.page.evaluate("""async () => {
      const r = harness.renderer;
      const next = () => new Promise((resolve) => requestAnimationFrame(resolve));
      const frames = [];
      while (!r.idle) await next();
      r.onFrame = (f) => frames.push(f.reference);
      const fences = r.fences;
      fences.poll = () => { fences._timer = 0; };  // fences are not looked at: the frame stays in flight
      harness.model.set({reference: {x: 3, y: 4}});
      const first = r.lastIssued.reference;
      for (let i = 0; i < 3; i++) await next();
      harness.model.set({reference: {x: 5, y: 6}});
      harness.model.set({reference: {x: 7, y: 8}});
      for (let i = 0; i < 3; i++) await next();
      const waiting = r.lastIssued.reference;
      delete fences.poll;  // the class's poll again
      fences._schedule();
      while (!r.idle) await next();
      return {first, waiting, frames};
    }""")
    assert out["first"] == {"x": 3, "y": 4}
    assert out["waiting"] == {"x": 3, "y": 4}
    assert out["frames"] == [{"x": 3, "y": 4}, {"x": 7, "y": 8}]


def test_no_preview_for_small_maps_in_auto_mode(h):
    h.create(canvas=(24, 17))  # preview: 'auto'; 24 x 17 x 13 is far below the threshold
    values = make_values(13, 17, 24, 13, 8)
    h.load(to_layers(values, 8), 13, 8)
    out = h.call("moves", [[1, 1], [2, 2]])
    assert [f["kind"] for f in out["frames"]] == ["full", "full"]
    assert h.page.evaluate("harness.renderer.ds.tiles[0].targets.phased") is None  # never made: never worth it


def test_errors_are_clear(h):
    page = h.page
    h.create()
    msg = page.evaluate("""async () => {
        const { Renderer } = await import('/glue/render/renderer.js');
        const c = document.createElement('canvas');
        c.getContext('2d');
        try { new Renderer(c); return null; } catch (e) { return e.message; }
    }""")
    assert msg is not None and "WebGL 2" in msg
    msg = page.evaluate("""() => { try {
        harness.renderer.setDataset({info: {width: 4, height: 3, features: 5, precision: 8}, layers: new Uint8Array(10)});
      } catch (e) { return e.message; } }""")
    assert "expected 2x3x4x4" in msg
    msg = page.evaluate("""() => { try {
        harness.renderer.setDataset({info: {width: 4, height: 3, features: 5, precision: 16}, layers: new Uint8Array(96)});
      } catch (e) { return e.message; } }""")
    assert "Uint16Array" in msg
    h.load(to_layers(make_values(1, 3, 4, 5, 8), 8), 5, 8)
    msg = page.evaluate("() => { try { harness.model.set({mode: 'channel', channel: 5}); }"
                        " catch (e) { return e.name + ': ' + e.message; } }")
    assert msg.startswith("RangeError")


def test_datasets_release_their_gpu_objects(h):
    h.create()
    first = h.load(to_layers(make_values(1, 17, 24, 13, 8), 8), 13, 8)
    second = h.load(to_layers(make_values(2, 9, 30, 61, 32), 32), 61, 32)
    third = h.load(to_layers(make_values(3, 17, 24, 255, 16), 16), 255, 16)
    assert first == second == third
    h.render()
    after = h.page.evaluate("(() => { harness.renderer.dispose(); return harness.renderer.stats(); })()")
    assert after == {"texture": 0, "framebuffer": 0, "buffer": 0, "program": 0}


# ------------------------------------------------------------ device limits and context loss


@pytest.mark.parametrize("precision,channels,per_array,unroll", [
    (8, 255, 3, 256), (16, 255, 7, 256), (32, 61, 3, 256), (8, 255, 3, 2), (32, 61, 5, 2),
])
def test_dataset_split_over_several_texture_arrays(h, precision, channels, per_array, unroll):
    """More packed layers than one texture array holds (forced small here): several arrays,
    the same numbers (similarity both metrics, channel view in every array)."""
    height, width = 9, 11
    values = make_values(31 + channels, height, width, channels, precision)
    limits = h.create(maxArrayLayers=per_array, unrollLimit=unroll)
    assert limits["maxArrayLayers"] == per_array and limits["device"]["maxArrayLayers"] >= 256
    h.load(to_layers(values, precision), channels, precision)
    arrays = h.page.evaluate("harness.renderer.dataset.arrays")
    assert len(arrays) > 1 and all(n <= per_array for n in arrays)
    assert sum(arrays) == -(-(-(-channels // 4)) // (128 // precision // 4))
    ref_values = values.astype(np.float64) / (2 ** precision - 1)
    for x, y in [(0, 0), (5, 4), (3, 1), (1, 0)]:
        for metric in ("angular", "cosine"):
            got = h.similarity(reference=[x, y], metric=metric, channel=None)
            assert np.abs(got - S.similarity_map(ref_values, x, y, metric)).max() <= REACHED
    per_texel = 128 // precision
    for k in sorted({0, per_texel * per_array - 1, per_texel * per_array, channels - 1}):
        got = h.similarity(channel=k)
        assert np.abs(got - ref_values[:, :, k]).max() <= 2e-7, k


def test_limits_come_from_the_live_context(h):
    limits = h.create()
    device = limits["device"]
    for key in ("maxTextureSize", "maxArrayLayers", "maxUniformBlockSize", "maxTextureImageUnits"):
        assert device[key] > 0
    assert limits["maxArrayLayers"] == device["maxArrayLayers"]
    assert limits["maxDataArrays"] == 1 + device["maxTextureImageUnits"] - 10  # units 0-9: one role each
    assert limits["memoryBudget"] >= 256 * 1024 ** 2


def _refusal(h, width, height, channels, precision):
    return h.page.evaluate("""([w, h, c, p]) => {
        const A = {8: Uint8Array, 16: Uint16Array, 32: Uint32Array}[p];
        try {
          harness.renderer.setDataset({info: {width: w, height: h, features: c, precision: p},
                                       layers: new A(Math.ceil(c / 4) * w * h * 4)});
          return null;
        } catch (e) { return {name: e.name, rule: e.rule, message: e.message, reason: e.details?.reason}; }
    }""", [width, height, channels, precision])


def test_beyond_the_device_the_refusal_says_what_fits(h):
    # A memory budget of 1.5 MiB: a 64×64×96 dataset needs over 1.5 MiB at 32 (and 16) bit, 0.8 MiB at 8 bit.
    h.create(memoryBudget=1.5 * 1024 ** 2)
    values = make_values(5, 17, 24, 13, 8)
    h.load(to_layers(values, 8), 13, 8)
    before = h.similarity(reference=[3, 3], metric="angular")
    err = _refusal(h, 64, 64, 96, 32)
    assert err["name"] == "DeviceLimitError" and err["rule"] == "gpu-limits" and err["reason"] == "memory"
    assert "more than the 1.57 MB IFeaLiD allows itself" in err["message"]  # 1.5 MiB in SI units
    assert "It would load at 8 bit" in err["message"] and "a crop of at most" in err["message"]
    # Nothing changed: the dataset on the GPU still draws the same map.
    assert np.array_equal(h.similarity(reference=[3, 3], metric="angular"), before)
    # Too many layers even over every array the shader can sample: fewer channels, or 8 bit.
    limits = h.create(maxArrayLayers=1)
    err = _refusal(h, 4, 3, 8 * limits["maxDataArrays"] + 8, 16)
    assert err["reason"] == "layers" and "It would load at 8 bit" in err["message"]
    err = _refusal(h, 4, 3, 16 * limits["maxDataArrays"] + 16, 8)
    assert err["reason"] == "layers" and f"at most {16 * limits['maxDataArrays']} channels" in err["message"]
    # (Wider than the largest texture is no refusal: such a map is drawn in tiles, test_tiles.py.)


@pytest.mark.parametrize("precision,channels,per_array", [(8, 13, None), (16, 61, 3)])
def test_context_loss_restores_the_same_map(h, precision, channels, per_array):
    options = {"maxArrayLayers": per_array} if per_array else {}
    h.create(**options)
    values = make_values(17, 17, 24, channels, precision)
    h.load(to_layers(values, precision), channels, precision)
    lut = base64.b64encode(lut_bytes("viridis")).decode()
    state = dict(reference=[5, 7], metric="cosine", lut=lut, view={"scale": 2, "offsetX": -3, "offsetY": -1})
    before_map = h.similarity(**state)
    before_canvas, before_stretch = h.render()
    stats = h.page.evaluate("harness.renderer.stats()")
    out = h.call("loseAndRestoreContext")
    assert out["during"]["lost"] is True
    assert out["during"]["stats"] == {"texture": 0, "framebuffer": 0, "buffer": 0, "program": 0}
    assert out["lost"] is False
    # The same objects again (re-uploaded from the data the page kept), the same view and numbers;
    # the two-step colour's heat map comes back with the first magnified frame, as it came before.
    assert out["after"]["texture"] == stats["texture"] - 1 and out["after"]["framebuffer"] == stats["framebuffer"] - 1
    assert {k: out["after"][k] for k in ("buffer", "program")} == {k: stats[k] for k in ("buffer", "program")}
    assert h.page.evaluate("[harness.view().reference, harness.view().metric, harness.view().camera]") == [
        {"x": 5, "y": 7}, "cosine", {"scale": 2, "offsetX": -3, "offsetY": -1}]
    assert np.array_equal(h.similarity(), before_map)
    after_canvas, after_stretch = h.render()
    assert np.array_equal(after_canvas, before_canvas)
    assert after_stretch == before_stretch
    assert h.page.evaluate("harness.renderer.stats()") == stats
    # Lost context: calls that need the GPU fail clearly, setters do not.
    h.page.evaluate("(window.loseExt = harness.renderer.gl.getExtension('WEBGL_lose_context')).loseContext()")
    wait_for(h.page, "harness.contextEvents.filter((e) => e === 'lost').length === 2")
    msg = h.page.evaluate("() => { harness.model.set({reference: {x: 1, y: 1}}); try { harness.renderer.readMap(); }"
                          " catch (e) { return e.message; } }")
    assert "context is lost" in msg
    h.page.evaluate("window.loseExt.restoreContext()")  # (getExtension answers null while lost)
    wait_for(h.page, "harness.contextEvents.filter((e) => e === 'restored').length === 2")
    ref_values = values.astype(np.float64) / (2 ** precision - 1)
    assert np.abs(h.similarity() - S.similarity_map(ref_values, 1, 1, "cosine")).max() <= REACHED
    # The console notes of the losses this test caused are expected; nothing else may appear.
    h.page.problems[:] = [p for p in h.page.problems if "CONTEXT_LOST" not in p and "context lost" not in p.lower()]
