"""Comparing datasets side by side in the real page (issue 16): one reference for every pane,
each pane's map against ifealid.similarity_maps (float64), best matches, refusals, links."""
from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

import ifealid
from ifealid import compare
from pagekit import SHOWN, wait_for, wait_idle
from sites import Server, make_site

C = 6
# (H, W, precision) of the three datasets: one of another size, one of another precision.
SHAPES = {"a": (12, 16, 8), "b": (10, 14, 16), "c": (12, 16, 8)}
# A vector planted at one pixel of each dataset: the best match of each other's.
PLANTED = {"a": (3, 5), "b": (9, 4), "c": (12, 2)}


def features(name: str) -> np.ndarray:
    h, w, _ = SHAPES[name]
    rng = np.random.default_rng(ord(name))
    x = rng.normal(0.0, 0.4, size=(h, w, C))
    x[:, : w // 2, 0] += 1.0  # structure: a left half unlike the right
    px, py = PLANTED[name]
    x[py, px] = [4.0, -3.0, 3.5, 0.5, -4.0, 2.0]
    return x


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    files = {}
    for name, (h, w, p) in SHAPES.items():
        buffer = io.BytesIO()
        ifealid.save_dataset(features(name), buffer, precision=p, name=name)
        files[f"{name}.zip"] = buffer.getvalue()
    # A dataset without a range (as the original's files): a comparison falls back to stored values.
    files["norange.zip"] = without_range(files["c.zip"])
    five = io.BytesIO()
    ifealid.save_dataset(features("a")[..., :5], five, precision=8, name="five")
    files["five.zip"] = five.getvalue()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    server = Server(make_site(folder / "site", files))
    yield {"server": server, "folder": folder}
    server.stop()


def without_range(data: bytes) -> bytes:
    import json
    import zipfile
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == "metadata.json":
                meta = json.loads(content)
                del meta["range"]
                content = json.dumps(meta).encode()
            dst.writestr(info, content)
    return out.getvalue()


def visit(page, site, names, fragment=""):
    query = "&".join(f"d={quote(n)}" for n in names)
    page.goto(f"{site['server'].url}/index.html?{query}" + (f"#{fragment}" if fragment else ""))
    wait_for(page, f"({SHOWN}) && window.ifealid.view.state.others.length === {len(names) - 1}")
    assert page.evaluate("window.ifealid.state.error") is None
    settle(page)


def settle(page):
    page.evaluate("""() => Promise.all(window.ifealid.explorer.panes.map((p) => new Promise((resolve) => {
      const check = () => (p.renderer.idle ? resolve() : requestAnimationFrame(check));
      requestAnimationFrame(check);
    })))""")
    # the markers follow at the next animation frame
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def read_pane(page, k: int) -> np.ndarray:
    out = page.evaluate("""(k) => { const m = window.ifealid.readMap(k);
      return {w: m.width, h: m.height, v: Array.from(m.values)}; }""", k)
    return np.array(out["v"], dtype=np.float64).reshape(out["h"], out["w"])


def pane_point(page, k: int, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of map point (x, y) of pane k."""
    return page.evaluate("""([k, x, y]) => {
      const e = window.ifealid.explorer, c = e.panes[k].canvas, r = c.getBoundingClientRect();
      const cam = k ? window.ifealid.view.state.cameras[k - 1] : window.ifealid.view.state.camera;
      const dpr = c.width / c.clientWidth;
      return [r.left + (cam.offsetX + x * cam.scale) / dpr, r.top + (cam.offsetY + y * cam.scale) / dpr];
    }""", [k, x, y])


def marked(page, k: int) -> list[tuple[int, int]]:
    return [tuple(p) for p in page.evaluate("""(k) => [...window.ifealid.explorer.panes[k].marks.layer
      .querySelectorAll('.match-mark')].map((m) => [Number(m.dataset.x), Number(m.dataset.y)])""", k)]


def datasets(site):
    return [site["folder"] / f"{n}.zip" for n in "abc"]


@pytest.mark.parametrize("values,metric,path", [("true", "angular", "cpu"), ("centred", "cosine", "gpu"),
                                                ("zscore", "euclidean", "cpu"), ("centred", "correlation", "gpu")])
def test_every_pane_maps_a_reference_from_each_pane_in_turn(open_page, site, values, metric, path):
    page = open_page(viewport=(1200, 800))
    visit(page, site, ["a.zip", "b.zip", "c.zip"])
    page.evaluate("(p) => window.ifealid.view.set(p)", {"values": values, "metric": metric, "compute": path})
    assert page.evaluate("window.ifealid.explorer.panes.map((p) => p.renderer.computeOn)") == [path] * 3
    for k, name in enumerate("abc"):
        x, y = 2, 1
        if k == 0:
            # the pointer over pane 0's canvas sets the reference for all
            page.mouse.move(*pane_point(page, 0, x + 0.5, y + 0.5))
            wait_for(page, f"(() => {{ const r = window.ifealid.view.state.reference; return r && r.x === {x} && r.y === {y} && !r.pane; }})()")
        else:
            page.mouse.move(*pane_point(page, k, x + 0.5, y + 0.5))
            wait_for(page, f"(() => {{ const r = window.ifealid.view.state.reference; return r && r.x === {x} && r.y === {y} && r.pane === {k}; }})()")
        settle(page)
        expected = compare.similarity_maps(datasets(site), refs=[(k, x, y)], metric=metric, values=values)
        for pane in range(3):
            got = read_pane(page, pane)
            assert got.shape == expected[pane].shape
            np.testing.assert_allclose(got, expected[pane], rtol=0, atol=2e-5 * max(1.0, np.abs(expected[pane]).max()),
                                       err_msg=f"pane {pane}, reference in pane {k} ({values}, {metric})")


def test_best_matches_are_marked_in_every_other_pane(open_page, site):
    page = open_page(viewport=(1200, 800))
    visit(page, site, ["a.zip", "b.zip", "c.zip"], "values=true&ref=0:3,5")
    expected = compare.similarity_maps(datasets(site), refs=[(0, *PLANTED["a"])], values="true")
    # On the GPU path the maps are read back once the pointer rests.
    page.evaluate("() => window.ifealid.view.set({compute: 'gpu'})")
    page.wait_for_timeout(400)
    assert marked(page, 1) == [PLANTED["b"]] and marked(page, 2) == [PLANTED["c"]]
    page.evaluate("() => window.ifealid.view.set({compute: 'auto'})")
    settle(page)
    assert marked(page, 0) == []  # the reference's own pane
    for k, name in ((1, "b"), (2, "c")):
        assert marked(page, k) == [PLANTED[name]]
        assert compare.best_matches(expected[k])[0][:2] == PLANTED[name]
    # Top-k with an exclusion radius: the page's markers follow the definition of
    # ifealid.best_matches on the page's own maps, and the best is the planted pixel.
    page.evaluate("() => window.ifealid.view.set({matches: 4, matchRadius: 2.5})")
    settle(page)
    for k in (1, 2):
        want = [m[:2] for m in compare.best_matches(read_pane(page, k), k=4, radius=2.5)]
        assert marked(page, k) == want and len(want) == 4
        assert all((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 > 2.5 ** 2 for i, a in enumerate(want) for b in want[:i])
    # A reference in pane 1: pane 0 and 2 get markers, pane 1 none.
    page.evaluate("() => window.ifealid.view.set({matches: 1, matchRadius: 0, reference: {x: 9, y: 4, pane: 1}})")
    settle(page)
    assert marked(page, 1) == [] and marked(page, 0) == [PLANTED["a"]] and marked(page, 2) == [PLANTED["c"]]


def test_a_dataset_of_another_channel_count_is_refused_and_nothing_is_lost(open_page, site):
    page = open_page(viewport=(1100, 760))
    visit(page, site, ["a.zip", "b.zip"], "ref=1:4,4")
    before = [read_pane(page, k) for k in range(2)]
    page.set_input_files("#add-input", str(site["folder"] / "five.zip"))
    wait_for(page, "window.ifealid.state.error !== null && window.ifealid.state.loading === null")
    message = page.evaluate("window.ifealid.state.error.message")
    assert '"five" has 5 channels and "a" has 6' in message and "same channel count" in message
    assert page.locator("#error").is_visible() or page.locator(".alert").first.is_visible()
    assert page.evaluate("window.ifealid.view.state.others.length") == 1
    assert page.evaluate("window.ifealid.explorer.panes.length") == 2
    settle(page)
    for k in range(2):
        np.testing.assert_array_equal(read_pane(page, k), before[k])
    # ... and the next file opens: c is added as a third pane.
    page.evaluate("window.ifealid.state.error = null")
    page.set_input_files("#add-input", str(site["folder"] / "c.zip"))
    wait_for(page, "window.ifealid.view.state.others.length === 2 && window.ifealid.state.loading === null")
    assert page.evaluate("window.ifealid.state.error") is None


def test_the_address_reproduces_the_comparison(open_page, site):
    page = open_page(viewport=(1200, 800))
    visit(page, site, ["a.zip", "b.zip", "c.zip"])
    page.evaluate("""() => window.ifealid.view.set({values: 'centred', metric: 'correlation', locked: true,
      reference: {x: 7, y: 3, pane: 2}, pins: [{x: 1, y: 1, pane: 1}, {x: 4, y: 2}],
      regions: [{x0: 2, y0: 2, x1: 4, y1: 5, pane: 1}], combine: 'mean', syncCameras: true, matches: 2, matchRadius: 1.5})""")
    settle(page)
    maps = [read_pane(page, k) for k in range(3)]
    expected = compare.similarity_maps(datasets(site), refs=[(2, 7, 3), (1, 1, 1), (0, 4, 2)],
                                       regions=[(1, 2, 2, 4, 5)], metric="correlation", values="centred",
                                       combine="mean")
    for k in range(3):
        np.testing.assert_allclose(maps[k], expected[k], rtol=0, atol=2e-5)
    page.evaluate("window.ifealid.address.write()")
    url = page.evaluate("location.href")
    assert url.count("d=") == 3 and "ref=2:7,3" in url and "pins=1:1,1;4,2" in url and "regions=1:2,2,4,5" in url
    assert "sync=1" in url and "matches=2" in url and "radius=1.5" in url
    other = open_page(viewport=(1200, 800))
    other.goto(url)
    wait_for(other, f"({SHOWN}) && window.ifealid.view.state.others.length === 2")
    settle(other)
    assert other.evaluate("window.ifealid.state.error") is None
    for k in range(3):
        np.testing.assert_array_equal(read_pane(other, k), maps[k])
    for key in ("values", "metric", "combine", "syncCameras", "matches", "matchRadius", "pins", "regions", "reference"):
        assert other.evaluate(f"JSON.stringify(window.ifealid.view.state.{key})") == \
            page.evaluate(f"JSON.stringify(window.ifealid.view.state.{key})"), key
    # A pane the link names that is not on screen is reported, the rest applies.
    other.goto(f"{site['server'].url}/index.html?d=a.zip&d=b.zip#ref=5:1,1&metric=cosine")
    wait_for(other, f"({SHOWN}) && window.ifealid.view.state.others.length === 1")
    assert other.evaluate("window.ifealid.view.state.metric") == "cosine"
    assert "ref=\"5:1,1\"" in other.evaluate("window.ifealid.state.notice")


@pytest.mark.parametrize("fit", ["all", "region"])
def test_the_joint_pca_colours_equal_the_apis(open_page, site, fit):
    page = open_page(viewport=(1200, 800))
    visit(page, site, ["a.zip", "b.zip", "c.zip"])
    patch = {"values": "centred", "mode": "pca", "pca": {"components": [1, 2, 3], "scale": "robust", "fit": fit,
                                                          "threshold": 0, "flip": False}}
    regions = [(1, 0, 0, 6, 5), (2, 3, 3, 12, 9)]  # (pane, x0, y0, x1, y1): pane 0 has none
    if fit == "region":
        patch["regions"] = [{"pane": k, "x0": x0, "y0": y0, "x1": x1, "y1": y1} for k, x0, y0, x1, y1 in regions]
    page.evaluate("(p) => window.ifealid.view.set(p)", patch)
    wait_for(page, "(() => { const r = window.ifealid.view.state.pcaResult; return r && r.panes && r.panes.length === 3; })()")
    assert page.evaluate("window.ifealid.view.state.pcaResult.error ?? null") is None
    settle(page)
    masks = None
    if fit == "region":
        masks = []
        for name in "abc":
            h, w, _ = SHAPES[name]
            masks.append(np.zeros((h, w), bool))
        for k, x0, y0, x1, y1 in regions:
            masks[k][y0:y1 + 1, x0:x1 + 1] = True
    results = ifealid.pca(datasets(site), values="centred", fit=fit, mask=masks)
    for k, r in enumerate(results):
        h, w, _ = SHAPES["abc"[k]]
        out = page.evaluate("""(k) => { const m = window.ifealid.readMap(k);
          return {c: m.channels, v: Array.from(m.values)}; }""", k)
        assert out["c"] == 3
        scores = np.array(out["v"]).reshape(h, w, 3)
        np.testing.assert_allclose(scores, r.scores, rtol=0, atol=1e-5 * np.abs(r.scores).max())
        picture = np.array(page.evaluate("(k) => Array.from(window.ifealid.view.state.pcaResult.panes[k].picture)", k),
                           dtype=np.int64).reshape(h, w, 4)[..., :3]
        expected = np.rint(r.rgb * 255).astype(np.int64)
        assert np.abs(picture - expected).max() <= 1 and (picture != expected).mean() < 0.01
    explained = page.evaluate("window.ifealid.view.state.pcaResult.explained")
    np.testing.assert_allclose(explained, results[0].explained, rtol=1e-9)


def test_exports_are_of_the_pane_holding_the_reference(open_page, site):
    page = open_page(viewport=(1200, 800))
    visit(page, site, ["a.zip", "b.zip"], "values=true&ref=1:9,4&pins=0:3,5")
    page.click("#export-box summary")

    def export(what):
        with page.expect_download() as info:
            page.click(f"button[data-export='{what}']")
        return info.value.suggested_filename, Path(info.value.path()).read_bytes()

    name, data = export("map-npy")
    assert name.startswith("b-map-true-angular-ref9_4")
    np.testing.assert_array_equal(np.load(io.BytesIO(data)), read_pane(page, 1).astype(np.float32))
    name, data = export("refs-csv")
    text = data.decode()
    assert "9,4" in text.splitlines()[0] and "pane 0:3,5" in text.splitlines()[0]
    # The vectors are those of ifealid.joint_values: pane 1's pixel and pane 0's pin.
    vals = compare.joint_values(datasets(site)[:2], "true")
    rows = np.array([[float(v) for v in line.split(",")[1:]] for line in text.splitlines()[1:]])
    np.testing.assert_allclose(rows[:, 0], vals[1][4, 9], rtol=0, atol=1e-9)
    np.testing.assert_allclose(rows[:, 1], vals[0][5, 3], rtol=0, atol=1e-9)


@pytest.mark.parametrize("path", ["cpu", "gpu"])
def test_one_colour_scale_and_views_that_move_together(open_page, site, path):
    page = open_page(viewport=(1200, 800))
    visit(page, site, ["a.zip", "b.zip", "c.zip"], "values=centred&metric=euclidean&ref=1:2,2")
    # (the GPU's ranges come with its frames: the panes are drawn again with their union)
    page.evaluate("(c) => window.ifealid.view.set({compute: c})", path)
    settle(page)
    page.wait_for_timeout(300)
    settle(page)
    maps = [read_pane(page, k) for k in range(3)]
    lo, hi = min(m.min() for m in maps), max(m.max() for m in maps)  # every map is wholly visible
    stretches = page.evaluate("window.ifealid.explorer.panes.map((p) => p.renderer.getStretch())")
    for s in stretches:
        assert s["min"] == pytest.approx(lo, abs=1e-6) and s["max"] == pytest.approx(hi, abs=1e-6)
    # One scale per pane: each its own map's range.
    page.evaluate("() => window.ifealid.view.set({jointStretch: false})")
    settle(page)
    stretches = page.evaluate("window.ifealid.explorer.panes.map((p) => p.renderer.readStretch())")
    for s, m in zip(stretches, maps):
        assert s["min"] == pytest.approx(m.min(), abs=1e-6) and s["max"] == pytest.approx(m.max(), abs=1e-6)
    # Zoom on pane 1: alone, then with every pane following.
    cams = lambda: page.evaluate("[window.ifealid.view.state.camera, ...window.ifealid.view.state.cameras]")  # noqa: E731
    before = cams()
    page.mouse.move(*pane_point(page, 1, 7, 5))
    page.mouse.wheel(0, -300)
    wait_for(page, f"window.ifealid.view.state.cameras[0].scale !== {before[1]['scale']}")
    after = cams()
    assert after[0] == before[0] and after[2] == before[2] and after[1]["scale"] > before[1]["scale"]
    page.check("#sync-cameras")
    page.mouse.move(*pane_point(page, 1, 7, 5))
    page.mouse.wheel(0, -300)
    wait_for(page, f"window.ifealid.view.state.camera.scale !== {before[0]['scale']}")
    synced = cams()
    # The same part of every map: the fraction of its width at the canvas's left edge.
    fractions = [(-c["offsetX"] / c["scale"]) / SHAPES[n][1] for c, n in zip(synced, "abc")]
    assert max(fractions) - min(fractions) < 1e-9


def test_at_most_eight_panes(open_page, site):
    page = open_page(viewport=(1200, 800))
    query = "&".join(["d=a.zip"] * 9)
    page.goto(f"{site['server'].url}/index.html?{query}")
    wait_for(page, "window.ifealid.state.error !== null && window.ifealid.state.loading === null", timeout=240)
    assert "at most 8 datasets side by side" in page.evaluate("window.ifealid.state.error.message")
    assert page.evaluate("window.ifealid.view.state.others.length") == 7
    assert page.evaluate("window.ifealid.explorer.panes.length") == 8


def test_several_zips_chosen_together_and_a_dataset_without_a_range(open_page, site):
    page = open_page(viewport=(1200, 800))
    page.goto(f"{site['server'].url}/index.html")
    wait_for(page, "window.ifealid && window.ifealid.state.boot.ready")
    page.set_input_files("#file-input", [str(site["folder"] / n) for n in ("a.zip", "norange.zip")])
    wait_for(page, f"({SHOWN}) && window.ifealid.view.state.others.length === 1")
    assert page.evaluate("window.ifealid.state.error") is None
    assert page.locator("#compare-box").is_visible()
    note = page.locator("#compare-note")
    assert note.is_visible() and "c records no range" in note.text_content()
    # No true values: the option is off, and a link asking for them says why.
    assert page.evaluate("document.querySelector('#values option[value=\"true\"]').disabled")
    page.evaluate("window.ifealid.address.apply('#values=true&ref=1:2,2')")
    assert "records no range" in page.evaluate("window.ifealid.state.notice")
    # Centred values: the stored ones pooled over both, as ifealid.joint_values defines them.
    page.evaluate("() => window.ifealid.view.set({values: 'centred', metric: 'cosine'})")
    settle(page)
    expected = compare.similarity_maps([site["folder"] / "a.zip", site["folder"] / "norange.zip"], refs=[(1, 2, 2)],
                                       metric="cosine", values="centred")
    for k in range(2):
        np.testing.assert_allclose(read_pane(page, k), expected[k], rtol=0, atol=2e-5)
