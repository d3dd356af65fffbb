"""The explorer screen in the real page: hover, lock, pin, chart, channel view, scale, zoom.

What the GPU drew is read back through the renderer and compared with the float64
reference in app/similarity.py and the tables in app/colormaps.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ifealid
from ifealid import similarity as S
from ifealid.colormaps import COLORMAPS, colormap_index
from zipkit import dataset_entries, jpeg_bytes, random_values, zip_bytes
from pagekit import open_file, map_point, read_map, wait_for, wait_idle

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C3.npz.8.zip"


class Page:
    """The page, driven like a user, with read-backs through window.ifealid."""

    def __init__(self, page):
        self.page = page

    def open(self, path: Path):
        assert open_file(self.page, path) is None
        self.dataset = ifealid.load_dataset(path)
        self.values = self.dataset.as_float(np.float64)
        self.idle()

    def idle(self):
        """Wait until the renderer has nothing left to draw (the full frame is on screen)."""
        wait_idle(self.page)

    def point(self, x: int, y: int) -> tuple[float, float]:
        """Page coordinates of the centre of map pixel (x, y)."""
        return map_point(self.page, x + 0.5, y + 0.5)

    def hover(self, x: int, y: int):
        self.page.mouse.move(*self.point(x, y))
        self.idle()

    def state(self, key):
        """A field of the view model's state."""
        return self.page.evaluate(f"window.ifealid.view.state.{key}")

    def similarity_map(self) -> np.ndarray:
        return read_map(self.page, self.values.shape[:2])

    def canvas_pixel(self, x: int, y: int) -> list[int]:
        """RGBA on the drawn canvas at the centre of map pixel (x, y)."""
        return self.page.evaluate("""([x, y]) => {
          const r = window.ifealid.renderer, c = window.ifealid.view.state.camera;
          const px = r.readCanvas(), w = r.canvas.width;
          const i = (Math.floor(c.offsetY + (y + 0.5) * c.scale) * w + Math.floor(c.offsetX + (x + 0.5) * c.scale)) * 4;
          return Array.from(px.subarray(i, i + 4));
        }""", [x, y])

    def camera(self):
        return self.state("camera")


@pytest.fixture(scope="module")
def app(open_module_page, base_url):
    return Page(open_module_page(f"{base_url}/index.html"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """16 bit, an odd channel count, a zero-vector pixel, no overlay (opaque heat map)."""
    values = random_values((9, 14, 13), 16, seed=7)
    values[2, 3] = 0
    path = tmp_path_factory.mktemp("explorer") / "gen16.zip"
    path.write_bytes(zip_bytes(dataset_entries(values, 16, name="generated <16>")))
    return path


def test_top_bar_and_first_frame(app, generated):
    app.open(generated)
    assert app.page.text_content("#dataset-title") == "generated <16>"
    assert app.page.text_content("#dataset-shape") == "14×9×13 @ 16 bit"
    assert app.page.is_visible("#map") and app.page.is_hidden("#start")
    assert app.page.is_hidden("#opacity-box")  # no overlay: no slider, opaque heat map


def test_hover_sets_the_reference_and_the_gpu_map_matches_numpy(app, generated):
    app.open(generated)
    for x, y in [(0, 0), (7, 4), (13, 8)]:
        app.hover(x, y)
        assert app.state("reference") == {"x": x, "y": y}
        got = app.similarity_map()
        assert np.abs(got - S.angular_similarity(app.values, x, y)).max() <= 1e-4
        assert app.page.text_content("#readout").startswith(f"x {x}, y {y}")


def test_a_move_draws_from_the_raw_pointer_event(app, generated):
    """The hover follows pointerrawupdate, which Chromium dispatches as the move arrives, and
    the renderer draws from it at once: by the time the animation-frame-aligned pointermove
    is dispatched, the frame for the new pixel is already issued. Panning by drag still works
    (the raw event does not move the reference while a button is down)."""
    app.open(generated)
    app.hover(1, 1)
    app.page.evaluate("""() => {
      window.__atPointermove = [];
      window.addEventListener('pointermove', () => {
        const f = window.ifealid.renderer.lastIssued;
        window.__atPointermove.push(f && f.reference);
      }, {capture: true});
    }""")
    for x, y in [(8, 5), (12, 2)]:
        app.hover(x, y)
        seen = app.page.evaluate("window.__atPointermove.splice(0)")
        assert seen and seen[0] == {"x": x, "y": y}, seen
        assert app.page.evaluate("window.ifealid.records.frames.at(-1).reference") == {"x": x, "y": y}
    # Each move that changed the reference is kept, with its event's time (benchmarks read them).
    moves = app.page.evaluate("window.ifealid.records.moves.slice(-3)")
    assert [(m["x"], m["y"]) for m in moves] == [(1, 1), (8, 5), (12, 2)]
    assert moves[0]["t"] < moves[1]["t"] < moves[2]["t"]
    assert app.page.evaluate("window.ifealid.records.lastMove") == moves[-1]
    view = app.camera()
    sx, sy = app.point(6, 4)
    app.page.mouse.move(sx, sy)
    app.page.mouse.down()
    app.page.mouse.move(sx + 30, sy + 20, steps=5)
    app.page.mouse.up()
    app.idle()
    moved = app.camera()
    assert moved["offsetX"] > view["offsetX"] and moved["offsetY"] > view["offsetY"]
    assert app.state("reference") == {"x": 6, "y": 4}  # the drag moved the view, not the reference
    app.page.keyboard.press("0")
    app.idle()


def test_the_map_canvas_is_opaque_in_the_stage_colour(app, generated):
    """Outside the map the canvas shows the stage's own background, drawn by the renderer
    (an opaque canvas leaves the compositor nothing to blend beneath it)."""
    app.open(generated)
    out = app.page.evaluate("""() => {
      const r = window.ifealid.renderer;
      const stage = getComputedStyle(document.getElementById('stage')).backgroundColor;
      const rgba = r.readCanvas();  // row 0 = top; (0, 0) lies left of the fitted map
      return {alpha: r.gl.getContextAttributes().alpha, stage, corner: Array.from(rgba.subarray(0, 4)),
              left: window.ifealid.view.state.camera.offsetX};
    }""")
    assert out["alpha"] is False and out["left"] > 1
    assert out["stage"] == "rgb({}, {}, {})".format(*out["corner"][:3]) and out["corner"][3] == 255


def test_zero_vector_reference_gives_zero_everywhere(app, generated):
    app.open(generated)
    app.hover(3, 2)
    got = app.similarity_map()
    assert np.isfinite(got).all() and not got.any()


def test_cosine_metric_option(app, generated):
    app.open(generated)
    app.page.select_option("#metric", "cosine")
    app.hover(5, 5)
    assert np.abs(app.similarity_map() - S.cosine_similarity(app.values, 5, 5)).max() <= 1e-4
    app.page.select_option("#metric", "angular")


def test_colour_scale_shows_the_stretch_and_the_canvas_uses_the_lut(app, generated):
    app.open(generated)
    app.hover(6, 3)
    smap = S.angular_similarity(app.values, 6, 3)
    v, lo, hi = S.stretch(smap, "relative")
    assert app.page.text_content("#scale-min") == f"{lo:.4f}"
    assert app.page.text_content("#scale-max") == f"{hi:.4f}"
    app.page.select_option("#colormap", "viridis")
    app.idle()
    lut = COLORMAPS["viridis"]
    for x, y in [(6, 3), (0, 0), (10, 7)]:
        index = int(colormap_index(v[y, x]))
        got = np.array(app.canvas_pixel(x, y)[:3])
        # ±1 entry at bin edges: the GPU's float32 v may fall on the other side of an edge.
        candidates = [lut[i] for i in range(max(0, index - 1), min(255, index + 1) + 1)]
        assert any((got == c).all() for c in candidates), (x, y, got, lut[index])
    app.page.select_option("#stretch", "absolute")
    app.idle()
    assert (app.page.text_content("#scale-min"), app.page.text_content("#scale-max")) == ("0.0000", "1.0000")
    app.page.select_option("#stretch", "relative")
    app.page.select_option("#colormap", "fire")


def test_lock_keeps_the_reference_and_the_readout_shows_the_similarity(app, generated):
    app.open(generated)
    app.hover(4, 4)
    app.page.keyboard.press("l")
    assert app.page.is_visible("#locked-badge")
    assert app.page.get_attribute("#lock", "aria-pressed") == "true"
    app.hover(12, 1)
    assert app.state("reference") == {"x": 4, "y": 4}
    expected = S.angular_similarity(app.values, 4, 4)[1, 12]
    assert f"angular {expected:.4f}" in app.page.text_content("#readout")
    assert np.abs(app.similarity_map() - S.angular_similarity(app.values, 4, 4)).max() <= 1e-4
    app.page.keyboard.press("l")  # the same key unlocks; the reference follows the pointer again
    assert app.page.is_hidden("#locked-badge")
    assert app.state("reference") == {"x": 12, "y": 1}
    app.page.click("#lock")
    assert app.state("locked") is True
    app.page.click("#lock")
    assert app.state("locked") is False


def test_chart_values_equal_the_decoded_ones_and_pinning_shows_the_butterfly(app, generated):
    app.open(generated)
    app.hover(9, 6)
    hover = app.page.evaluate("Array.from(window.ifealid.explorer.panels.chart.hover)")
    assert np.array_equal(np.array(hover), app.values[6, 9])
    app.page.mouse.click(*app.point(2, 7))
    wait_for(app.page, "window.ifealid.view.state.pins.length === 1")  # after the double-click window
    assert app.state("pins") == [{"x": 2, "y": 7}]
    assert app.page.is_visible("#marks .marker")
    pinned = app.page.evaluate("Array.from(window.ifealid.explorer.panels.chart.pinned)")
    assert np.array_equal(np.array(pinned), app.values[7, 2])
    assert app.state("reference") == {"x": 2, "y": 7}  # hovering while clicking moved it
    app.hover(11, 1)
    assert app.state("pins") == [{"x": 2, "y": 7}]  # pinning does not follow the pointer
    app.page.click("#marks .marker")  # a click on the marker removes it
    assert app.state("pins") == [] and app.page.locator("#marks .marker").count() == 0


def test_hovering_the_chart_shows_that_channels_map(app, generated):
    app.open(generated)
    app.hover(5, 5)
    box = app.page.locator("#chart").bounding_box()
    k = 6
    app.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + (k + 0.5) * box["height"] / 13)
    app.idle()
    assert app.state("mode") == "channel" and app.state("channel") == k
    assert app.page.text_content("#chart-readout").startswith(f"channel {k}: {app.values[5, 5, k]:.4f}")
    assert np.abs(app.similarity_map() - S.channel_map(app.values, k)).max() <= 1e-6
    v, lo, hi = S.stretch(S.channel_map(app.values, k))
    assert app.page.text_content("#scale-max") == f"{hi:.4f}"
    app.page.mouse.move(box["x"] - 50, box["y"] + 5)  # leaving the chart returns to similarity
    app.idle()
    assert app.state("mode") == "similarity"


def test_zoom_and_pan_by_keys_buttons_wheel_and_drag(app, generated):
    app.open(generated)
    view = app.camera
    fitted = view()
    app.page.focus("#map")
    app.page.keyboard.press("+")
    zoomed = view()
    assert zoomed["scale"] == pytest.approx(fitted["scale"] * 1.25)
    app.page.keyboard.press("ArrowLeft")  # the map moves right, as if the view went left
    assert view()["offsetX"] > zoomed["offsetX"] and view()["scale"] == zoomed["scale"]
    app.page.keyboard.press("0")
    assert view() == fitted
    app.page.click("#zoom-in")
    assert view()["scale"] > fitted["scale"]
    app.page.click("#zoom-fit")
    x, y = app.point(7, 4)
    app.page.mouse.move(x, y)
    app.page.mouse.wheel(0, -200)
    app.idle()
    assert view()["scale"] > fitted["scale"]
    before = view()
    app.page.mouse.move(x, y)
    app.page.mouse.down()
    app.page.mouse.move(x + 40, y + 25, steps=4)
    app.page.mouse.up()
    after = view()
    assert after["offsetX"] > before["offsetX"] and after["offsetY"] > before["offsetY"]
    assert app.state("pins") == []  # a drag is not a click
    app.page.dblclick("#zoom-fit")
    app.page.mouse.dblclick(*app.point(7, 4))
    assert view()["scale"] == pytest.approx(fitted["scale"] * 2)
    app.page.wait_for_timeout(400)
    assert app.state("pins") == []  # a double-click zooms; it does not pin
    app.page.keyboard.press("0")


def test_real_fixture_with_overlay(app):
    app.open(FIXTURE)
    assert app.page.text_content("#dataset-shape") == "26×40×1024 @ 8 bit"
    assert app.page.is_visible("#opacity-box")
    assert app.page.input_value("#opacity") == "0.9"
    app.hover(13, 20)
    assert np.abs(app.similarity_map() - S.angular_similarity(app.values, 13, 20)).max() <= 1e-4
    app.page.keyboard.press("c")
    assert app.page.get_attribute("#colour-toggle", "aria-pressed") == "true"
    app.page.keyboard.press("c")


def test_maps_are_computed_on_the_cpu_under_software_webgl(app, generated, tmp_path):
    """Under a software WebGL renderer (SwiftShader here) the page computes 8- and 16-bit maps
    with the WebAssembly SIMD kernel and the GPU path does the rest; 32-bit data stays on the
    shader. Both give the same map, and the user (the view's `compute`) can choose either."""
    app.open(FIXTURE)
    assert app.page.evaluate("window.ifealid.renderer.softwareRenderer") is True
    assert app.page.evaluate("window.ifealid.explorer.computeOn") == "cpu"
    app.hover(7, 30)
    cpu = app.similarity_map()
    assert np.abs(cpu - S.angular_similarity(app.values, 7, 30)).max() <= 1e-6
    frames = app.page.evaluate("window.ifealid.records.frames.slice(-3).map((f) => f.kind)")
    assert frames[-1] == "full"
    app.page.evaluate("window.ifealid.explorer.setCompute('gpu')")
    app.idle()
    assert app.page.evaluate("window.ifealid.explorer.computeOn") == "gpu"
    assert np.abs(app.similarity_map() - cpu).max() <= 1e-6
    app.page.evaluate("window.ifealid.explorer.setCompute('auto')")
    assert app.page.evaluate("window.ifealid.explorer.computeOn") == "cpu"
    app.open(generated)  # 16 bit
    assert app.page.evaluate("window.ifealid.explorer.computeOn") == "cpu"
    app.hover(5, 6)
    assert np.abs(app.similarity_map() - S.angular_similarity(app.values, 5, 6)).max() <= 1e-6
    values = random_values((6, 7, 9), 32, seed=3)
    path = tmp_path / "gen32.zip"
    path.write_bytes(zip_bytes(dataset_entries(values, 32, name="generated 32")))
    app.open(path)
    assert app.page.evaluate("window.ifealid.explorer.computeOn") == "gpu"
    app.hover(2, 3)
    assert np.abs(app.similarity_map() - S.angular_similarity(app.values, 2, 3)).max() <= 1e-4


def test_progress_is_shown_while_decoding_and_uploading(app, tmp_path):
    path = tmp_path / "p.zip"
    path.write_bytes(zip_bytes(dataset_entries(random_values((8, 8, 64), 8), 8, overlay=jpeg_bytes())))
    app.page.evaluate("""() => {
      window.__progress = [];
      new MutationObserver(() => window.__progress.push(document.getElementById('progress-text').textContent))
        .observe(document.getElementById('progress-text'), {childList: true, characterData: true, subtree: true});
    }""")
    app.open(path)
    seen = app.page.evaluate("window.__progress")
    assert any(text.startswith("Decoding") for text in seen), seen
    assert "Uploading to the GPU" in seen
    assert app.page.is_hidden("#progress")


def test_without_webgl2_the_page_says_so(open_page, base_url):
    page = open_page(f"{base_url}/index.html", viewport=None,
                     init_script="HTMLCanvasElement.prototype.getContext = function () { return null; };")
    assert "WebGL 2 is not available" in page.text_content("#boot-status")
