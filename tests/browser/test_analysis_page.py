"""The analyses in the real page (issue 13): set through the UI, kept in the address, reproduced
by reloading it and by `ifealid map`; hostile fragments; datasets without a range; exports read
back with numpy and Pillow.
"""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

import ifealid
from ifealid.analysis import reference_vectors, similarity_mask
from pagekit import SHOWN, map_point, wait_for, wait_idle
from sites import Server, make_site

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "original" / "000000015746.jpg.C3.npz.8.zip"
SHAPE = (14, 18, 11)  # H, W, C


def features(seed=5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=SHAPE)
    base[:, :6] += 2.0  # a left part unlike the rest, so masks and correlations have structure
    return base


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analysis")
    ifealid.save_dataset(features(), folder / "feat.zip", precision=16, name="feat")
    server = Server(make_site(folder / "site", {
        "feat.zip": (folder / "feat.zip").read_bytes(),
        "norange.zip": FIXTURE.read_bytes(),  # made by the original tools: no range
    }))
    yield {"server": server, "zip": folder / "feat.zip"}
    server.stop()


def visit(page, site, d, fragment=""):
    page.goto(f"{site['server'].url}/index.html?d={quote(d, safe='')}" + (f"#{fragment}" if fragment else ""))
    wait_for(page, SHOWN)
    assert page.evaluate("window.ifealid.state.error") is None
    wait_idle(page)


def read_map(page) -> np.ndarray:
    out = page.evaluate("""() => { const m = window.ifealid.readMap();
      return {w: m.width, h: m.height, c: m.channels, v: Array.from(m.values)}; }""")
    assert out["c"] == 1
    return np.array(out["v"], dtype=np.float64).reshape(out["h"], out["w"])


def read_mask(page):
    out = page.evaluate("() => { const m = window.ifealid.readMask(); return m && Array.from(m); }")
    return None if out is None else np.array(out, dtype=bool).reshape(SHAPE[:2])


def test_a_view_set_through_the_ui_comes_back_from_its_address(open_page, site):
    page = open_page(viewport=(1100, 760))
    visit(page, site, "feat.zip")
    page.select_option("#values", "centred")
    page.select_option("#metric", "correlation")
    page.select_option("#colormap", "viridis")
    for x, y in [(2, 3), (15, 10)]:  # two pins
        page.mouse.click(*map_point(page, x + 0.5, y + 0.5))
        wait_for(page, f"window.ifealid.view.state.pins.length === {1 + [(2, 3), (15, 10)].index((x, y))}")
    page.keyboard.down("Shift")  # a region from (8, 1) to (11, 4)
    page.mouse.move(*map_point(page, 8.5, 1.5))
    page.mouse.down()
    page.mouse.move(*map_point(page, 11.5, 4.5), steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.mouse.move(*map_point(page, 5.5, 7.5))
    page.keyboard.press("l")  # lock the pointer's reference at (5, 7)
    page.select_option("#combine", "mean")
    page.click("#mask-box summary")
    page.check("#threshold-on")
    page.check("#connected")
    wait_idle(page)
    view = page.evaluate("window.ifealid.view.state")
    assert view["regions"] == [{"x0": 8, "y0": 1, "x1": 11, "y1": 4}] and view["locked"] and view["reference"] == {"x": 5, "y": 7}
    assert view["threshold"] is not None and view["connected"] is True
    before, mask = read_map(page), read_mask(page)
    # The same numbers as the float64 reference, and as `ifealid map` given the same view.
    refs, regions = [(5, 7), (2, 3), (15, 10)], [(8, 1, 11, 4)]
    want = ifealid.similarity_map(site["zip"], refs=refs, regions=regions, metric="correlation", values="centred",
                                  combine="mean")
    assert np.abs(before - want).max() <= 1e-5
    want_mask = similarity_mask(want, view["threshold"], "correlation", connected=True, refs=refs, regions=regions)
    assert np.array_equal(mask, want_mask) or (np.abs(want - view["threshold"]) <= 1e-6).any()
    # The address keeps the view (written within its throttle), and a reload reproduces it.
    wait_for(page, "location.hash.includes('connected=1')")  # the last change, written within the throttle
    url = page.evaluate("location.href")
    for key in ("ref=5,7", "pins=2,3;15,10", "values=centred", "metric=correlation", "combine=mean", "cmap=viridis",
                "connected=1", "threshold="):
        assert key in url, (key, url)
    fresh = open_page(viewport=(1100, 760))
    fresh.goto(url)
    wait_for(fresh, SHOWN)
    wait_for(fresh, "window.ifealid.view.state.pins.length === 2")
    wait_idle(fresh)
    assert fresh.evaluate("window.ifealid.state.notice") is None
    assert np.array_equal(read_map(fresh), before)
    assert np.array_equal(read_mask(fresh), mask)
    assert fresh.evaluate("window.ifealid.view.state.colormap") == "viridis"
    # `ifealid map` with the same view writes the same map.
    out = Path(site["zip"]).with_name("cli-map.npy")
    args = [sys.executable, "-m", "ifealid", "map", str(site["zip"]), "--ref", "5,7", "--ref", "2,3", "--ref", "15,10",
            "--region", "8,1,11,4", "--metric", "correlation", "--values", "centred", "--combine", "mean", "--out", str(out)]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    assert np.abs(np.load(out).astype(np.float64) - before).max() <= 1e-5


def test_hostile_fragments_are_reported_and_the_rest_applies(open_page, site):
    page = open_page()
    pins = ";".join(["1,1"] * 100_000)
    visit(page, site, "feat.zip", f"metric=cosine&pins={pins}")
    notice = page.evaluate("window.ifealid.state.notice")
    assert "was ignored" in notice and page.evaluate("window.ifealid.view.state.metric") == "angular"
    bad = "ref=99,1&metric=cosine&threshold=1e999&view=channel:11&opacity=7&values=%3Cimg%20src%3Dx%3E&zoom=2&nope=1"
    page.goto("about:blank")  # a new document, not a fragment change in the same one
    visit(page, site, "feat.zip", bad)
    notice = page.evaluate("window.ifealid.state.notice")
    for phrase in ("ref=", "threshold=", "view=", "opacity=", "values="):
        assert phrase in notice, (phrase, notice)
    assert page.text_content("#notice") == notice  # shown as text, never as markup
    assert page.locator("#notice img").count() == 0
    view = page.evaluate("window.ifealid.view.state")
    assert view["metric"] == "cosine" and view["pins"] == [] and view["threshold"] is None
    assert page.evaluate("window.ifealid.view.state.camera.scale / (window.devicePixelRatio || 1)") == pytest.approx(2)


def test_a_dataset_without_a_range_has_no_true_values(open_page, site):
    page = open_page()
    visit(page, site, "norange.zip", "values=true")
    assert "no range" in page.evaluate("window.ifealid.state.notice")
    assert page.evaluate("window.ifealid.view.state.values") == "stored"
    option = page.locator("#values option[value=true]")
    assert option.is_disabled() and "no range" in option.get_attribute("title")
    # Opening a ranged dataset in true values, then this one, falls back to stored.
    visit(page, site, "feat.zip", "values=true")
    assert page.evaluate("window.ifealid.view.state.values") == "true"
    page.evaluate("window.ifealid.openLink('norange.zip')")
    wait_for(page, "window.ifealid.view.state.dataset && window.ifealid.view.state.dataset.info.name !== 'feat'")
    assert page.evaluate("window.ifealid.view.state.values") == "stored"


def save(page, what):
    with page.expect_download() as info:
        page.click(f"button[data-export='{what}']")
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def test_every_export_reads_back_as_the_page_shows_it(open_page, site):
    page = open_page(viewport=(1100, 760))
    visit(page, site, "feat.zip", "ref=4,4&pins=12,9&values=zscore&metric=euclidean&threshold=3.5")
    page.click("#export-box summary")
    smap, mask = read_map(page), read_mask(page)
    name, data = save(page, "map-npy")
    assert name.startswith("feat-map-zscore-euclidean") and name.endswith(".npy")
    got = np.load(io.BytesIO(data))
    assert got.dtype == np.float32 and np.array_equal(got, smap.astype(np.float32))
    name, data = save(page, "map-png16")
    image = Image.open(io.BytesIO(data))
    lo, hi = float(image.text["ifealid:min"]), float(image.text["ifealid:max"])
    pixels = np.asarray(image, dtype=np.float64)
    assert pixels.shape == SHAPE[:2] and lo == pytest.approx(smap.min(), abs=1e-6) and hi == pytest.approx(smap.max(), abs=1e-6)
    assert np.abs(lo + pixels / 65535 * (hi - lo) - smap).max() <= (hi - lo) / 65535
    for what in ("mask-png", "mask-npy"):
        name, data = save(page, what)
        back = np.asarray(Image.open(io.BytesIO(data))) == 255 if what == "mask-png" else np.load(io.BytesIO(data))
        assert np.array_equal(back, mask), what
    want = reference_vectors(site["zip"], refs=[(4, 4), (12, 9)], metric="euclidean", values="zscore")
    name, data = save(page, "refs-npy")
    assert np.abs(np.load(io.BytesIO(data)) - want).max() <= 1e-12
    name, data = save(page, "refs-csv")
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0][0] == "channel" and len(rows) == SHAPE[2] + 1
    assert np.abs(np.array([[float(v) for v in r[1:]] for r in rows[1:]]) - want).max() <= 1e-9
    name, data = save(page, "view-png")
    width, height = page.evaluate("[window.ifealid.renderer.canvas.width, window.ifealid.renderer.canvas.height]")
    assert Image.open(io.BytesIO(data)).size == (width, height)
    name, data = save(page, "view-png-large")
    k = -(-1024 // max(SHAPE[:2]))
    picture = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert picture.shape == (SHAPE[0] * k, SHAPE[1] * k, 4) and name.startswith(f"feat-picture-x{k}")
    # Nearest-neighbour pixels: outside the mask (whose edges are outlined) and the pins' marks,
    # every k × k block is one colour; inside, its middle is.
    Image.fromarray(picture).save(Path(site["zip"]).with_name("picture.png"))
    blocks = picture.reshape(SHAPE[0], k, SHAPE[1], k, 4)
    same = (blocks == blocks[:, :1, :, :1]).all(axis=(1, 3, 4))
    marked = np.zeros(SHAPE[:2], dtype=bool)
    marked[4, 4] = marked[9, 12] = True
    assert same[~mask & ~marked].all()
    middle = blocks[:, 4:-4, :, 4:-4]
    assert (middle == middle[:, :1, :, :1]).all(axis=(1, 3, 4))[~marked].all()


def test_the_chart_and_read_outs_speak_in_the_values_and_the_metric(open_page, site):
    page = open_page()
    visit(page, site, "feat.zip", "values=centred&metric=euclidean&ref=3,4")
    page.mouse.move(*map_point(page, 10.5, 6.5))
    wait_for(page, "window.ifealid.view.state.hover && window.ifealid.view.state.hover.x === 10")
    wait_idle(page)
    values = ifealid.value_array(site["zip"], "centred")
    chart = page.evaluate("[Array.from(window.ifealid.explorer.panels.chart.hover), window.ifealid.explorer.panels.chart.domain]")
    assert np.abs(np.array(chart[0]) - values[6, 10]).max() <= 1e-12  # the hovered vector, centred
    assert chart[1][0] == -chart[1][1] and chart[1][1] >= np.abs(values[6, 10]).max() - 1e-12  # a signed axis
    want = ifealid.similarity_map(site["zip"], refs=[(3, 4)], metric="euclidean", values="centred")[6, 10]
    assert f"distance {want:.4f}" in page.text_content("#readout")
    assert page.text_content("#chart-readout") == f"{SHAPE[2]} channels, centred values"
    assert page.text_content("#references li .what").endswith(f"{want:.4f}")  # each reference's own value
