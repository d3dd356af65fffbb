"""The PCA view in the real page (issue 14): the components the page computes, read back through
`window.ifealid.readMap()` (channels = 3) and the result in the view, against the float64
reference `ifealid.pca` on 8-, 16- and 32-bit datasets; the fit sets; the picture drawn; the
similarity over the PCA colours; the address; the exports; the refusals.
"""
from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

import ifealid
from ifealid.exports import encode_pca_png
from pagekit import SHOWN, map_point, wait_for, wait_idle
from sites import Server, make_site

H, W, C = 18, 22, 12


def features(seed=3) -> np.ndarray:
    """Three directions of decreasing, well separated variance plus a little noise, and a
    rectangle ("foreground") offset along the first."""
    rng = np.random.default_rng(seed)
    directions = np.linalg.qr(rng.normal(size=(C, C)))[0][:, :3].T
    z = rng.normal(size=(H, W, 3)) * np.array([0.6, 0.45, 0.3])
    x = z @ directions + 0.02 * rng.normal(size=(H, W, C))
    x[4:13, 6:16] += 4.0 * directions[0]
    return x


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    qa, qb = np.linalg.qr(a)[0], np.linalg.qr(b)[0]
    s = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1.0, 1.0)
    return np.arccos(s)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pca")
    files = {}
    for precision in (8, 16, 32):
        ifealid.save_dataset(features(), folder / f"feat{precision}.zip", precision=precision, name=f"feat{precision}")
        files[f"feat{precision}.zip"] = (folder / f"feat{precision}.zip").read_bytes()
    ifealid.save_dataset(np.ones((6, 7, 5)), folder / "flat.zip", precision=8, name="flat")
    files["flat.zip"] = (folder / "flat.zip").read_bytes()
    server = Server(make_site(folder / "site", files))
    yield {"server": server, "folder": folder}
    server.stop()


def visit(page, site, d, fragment=""):
    page.goto(f"{site['server'].url}/index.html?d={quote(d, safe='')}" + (f"#{fragment}" if fragment else ""))
    wait_for(page, SHOWN)
    assert page.evaluate("window.ifealid.state.error") is None


def wait_pca(page):
    """Until the PCA computation has nothing left to do; its last status."""
    wait_for(page, "window.ifealid.pca.jobs.running === null && window.ifealid.pca.jobs.last !== null")
    wait_idle(page)
    return page.evaluate("window.ifealid.pca.jobs.last")


RESULT_JS = """() => { const r = window.ifealid.view.state.pcaResult; return r && {
  key: r.key, components: r.components, eigenvalues: r.eigenvalues, explained: r.explained,
  vectors: r.vectors.map((v) => Array.from(v)), count: r.count, pool: r.pool, sampled: r.sampled,
  ranges: r.ranges, total: r.totalVariance, colours: r.colours.map((c) => Array.from(c)) }; }"""


def read_scores(page) -> np.ndarray:
    out = page.evaluate("""() => { const m = window.ifealid.readMap();
      return {w: m.width, h: m.height, c: m.channels, v: Array.from(m.values)}; }""")
    return np.array(out["v"], dtype=np.float64).reshape(out["h"], out["w"], out["c"])


def check_against_reference(got, scores, ref):
    angles = principal_angles(np.array(got["vectors"]).T, ref.components)
    assert angles.max() <= 1e-3, angles
    np.testing.assert_allclose(got["explained"], ref.explained, rtol=1e-4)
    np.testing.assert_allclose(got["eigenvalues"], ref.eigenvalues, rtol=1e-4)
    # The sign rule: the same signs as the reference, so the scores agree one by one (float32).
    np.testing.assert_allclose(np.array(got["vectors"]).T, ref.components, atol=1e-6)
    scale = np.abs(ref.scores).max(axis=(0, 1))
    np.testing.assert_allclose(scores / scale, ref.scores / scale, atol=1e-6)


@pytest.mark.parametrize("precision", [8, 16, 32])
def test_the_pca_view_equals_the_reference(open_page, site, precision):
    page = open_page(viewport=(1000, 700))
    visit(page, site, f"feat{precision}.zip")
    page.keyboard.press("p")  # the PCA view's key
    assert wait_pca(page)["state"] == "done"
    assert page.evaluate("window.ifealid.view.state.mode") == "pca"
    got = page.evaluate(RESULT_JS)
    scores = read_scores(page)
    assert scores.shape == (H, W, 3)
    ref = ifealid.pca(site["folder"] / f"feat{precision}.zip")
    check_against_reference(got, scores, ref)
    assert got["count"] == H * W and got["sampled"] is False
    np.testing.assert_allclose([[r["lo"], r["hi"]] for r in got["ranges"]], np.stack([ref.lo, ref.hi], 1), rtol=1e-9, atol=1e-12)
    # The picture drawn: with no overlay, the PCA colours themselves (round(v·255), as the CLI's PNG).
    picture = page.evaluate("() => Array.from(window.ifealid.renderer.renderPicture(1))")
    drawn = np.array(picture, dtype=np.int64).reshape(H, W, 4)[:, :, :3]
    want = np.rint(ref.rgb * 255).astype(np.int64)
    assert np.abs(drawn - want).max() <= 1, np.abs(drawn - want).max()
    assert (drawn != want).mean() < 0.01
    # The legend and the read-out.
    legend = page.inner_text("#pca-legend")
    assert f"R = PC1 · {100 * ref.explained[0]:.1f} %" in legend and "B = PC3" in legend
    page.mouse.move(*map_point(page, 3.5, 2.5))
    wait_for(page, "document.getElementById('readout').textContent.includes('PC1')")
    readout = page.inner_text("#readout")
    assert f"PC2 {ref.scores[2, 3, 1]:.4f}" in readout, readout


def test_components_scaling_and_a_single_component(open_page, site):
    page = open_page(viewport=(1000, 700))
    visit(page, site, "feat16.zip")
    page.click("#pca-box summary")
    page.check("#pca-on")
    wait_pca(page)
    page.fill("#pca-components", "2,3,4")
    page.press("#pca-components", "Enter")
    page.select_option("#pca-scale", "sigmoid")
    assert wait_pca(page)["state"] == "done"
    got = page.evaluate(RESULT_JS)
    assert got["components"] == [2, 3, 4]
    ref = ifealid.pca(site["folder"] / "feat16.zip", components=(2, 3, 4), scale="sigmoid")
    check_against_reference(got, read_scores(page), ref)
    np.testing.assert_allclose(np.array(got["colours"]).T.reshape(H, W, 3), ref.rgb, atol=1e-12)
    # One component: a heat map through the colour map; the scale shows its scores' range.
    page.fill("#pca-components", "1")
    page.press("#pca-components", "Enter")
    page.select_option("#pca-scale", "minmax")
    wait_pca(page)
    ref1 = ifealid.pca(site["folder"] / "feat16.zip", components=(1,), scale="minmax")
    scores = read_scores(page)
    assert scores.shape == (H, W, 1)
    np.testing.assert_allclose(scores[:, :, 0], ref1.scores[:, :, 0], rtol=1e-5, atol=1e-6 * np.abs(ref1.scores).max())
    assert page.inner_text("#scale-min").startswith("PC1 ")
    assert not page.is_hidden("#scale-box")
    # A mistake in the components field changes nothing and says why.
    page.fill("#pca-components", "1,1,2")
    page.press("#pca-components", "Enter")
    assert "must differ" in page.inner_text("#pca-status")
    assert page.evaluate("window.ifealid.view.state.pca.components") == [1]


def test_foreground_and_region_fits(open_page, site):
    page = open_page(viewport=(1000, 700))
    visit(page, site, "feat8.zip", "view=pca&pcfit=foreground:0.5")
    assert wait_pca(page)["state"] == "done"
    got = page.evaluate(RESULT_JS)
    ref = ifealid.pca(site["folder"] / "feat8.zip", fit="foreground", threshold=0.5)
    assert got["pool"] == int(ref.fit_mask.sum())
    check_against_reference(got, read_scores(page), ref)
    # The known foreground: the rectangle, on one side of PC1 or the other.
    flipped = ifealid.pca(site["folder"] / "feat8.zip", fit="foreground", threshold=0.5, flip=-1)
    inside = np.zeros((H, W), bool)
    inside[4:13, 6:16] = True
    assert any((m.fit_mask == inside).mean() > 0.97 for m in (ref, flipped))
    page.check("#pca-flip")
    wait_pca(page)
    assert page.evaluate(RESULT_JS)["pool"] == int(flipped.fit_mask.sum())
    # A region: drawn with shift-drag, then chosen as the fit set.
    page.select_option("#pca-fit", "region")
    assert "draw it with shift-drag" in page.inner_text("#pca-status")
    page.keyboard.down("Shift")
    page.mouse.move(*map_point(page, 2.5, 1.5))
    page.mouse.down()
    page.mouse.move(*map_point(page, 9.5, 7.5), steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    assert wait_pca(page)["state"] == "done"
    got = page.evaluate(RESULT_JS)
    ref = ifealid.pca(site["folder"] / "feat8.zip", fit="region", regions=[(2, 1, 9, 7)])
    assert got["pool"] == 8 * 7
    check_against_reference(got, read_scores(page), ref)
    wait_for(page, "location.hash.includes('pcfit=region')")
    assert "view=pca" in page.evaluate("location.hash")


def test_refusals_reach_the_user_and_leave_the_page_ready(open_page, site):
    page = open_page(viewport=(1000, 700))
    visit(page, site, "flat.zip", "view=pca")
    status = wait_pca(page)
    assert status["state"] == "error"
    assert "the dataset is constant" in page.inner_text("#pca-status")
    # Fewer pixels than components: a 2-pixel region cannot hold three.
    visit(page, site, "feat8.zip", "view=pca&pcfit=region&regions=0,0,1,0")
    wait_pca(page)
    assert "has 2 pixels, and PC3 needs at least 4" in page.inner_text("#pca-status")
    page.select_option("#pca-fit", "all")
    assert wait_pca(page)["state"] == "done"
    assert page.evaluate("window.ifealid.view.state.pcaResult.components") == [1, 2, 3]


def test_the_similarity_over_the_pca_colours(open_page, site):
    """With the PCA picture under the heat map, the least similar pixel (alpha 0 at opacity 1,
    the original's blending) shows the PCA colour, the most similar the colour map's top."""
    page = open_page(viewport=(1000, 700))
    visit(page, site, "feat8.zip", "ref=5,5&pcbg=1&opacity=1")
    assert wait_pca(page)["state"] == "done"
    ref = ifealid.pca(site["folder"] / "feat8.zip")
    assert page.evaluate("window.ifealid.view.state.mode") == "similarity"
    assert not page.is_hidden("#opacity-box")  # the heat map's opacity over the PCA colours
    similarity = np.array(page.evaluate("() => Array.from(window.ifealid.renderer.readMap())")).reshape(H, W)
    picture = np.array(page.evaluate("() => Array.from(window.ifealid.renderer.renderPicture(1))"), dtype=np.int64).reshape(H, W, 4)
    y, x = np.unravel_index(np.argmin(similarity), similarity.shape)
    want = np.rint(ref.rgb[y, x] * 255)
    assert np.abs(picture[y, x, :3] - want).max() <= 2, (picture[y, x], want)
    # Off again: the map over no overlay is the heat map alone.
    page.keyboard.press("b")
    wait_for(page, "window.ifealid.view.state.pcaBackground === false")
    wait_idle(page)
    plain = np.array(page.evaluate("() => Array.from(window.ifealid.renderer.renderPicture(1))"), dtype=np.int64).reshape(H, W, 4)
    assert np.abs(plain[y, x, :3] - want).max() > 2 or np.abs(picture - plain).max() > 2


def test_the_view_in_the_address_and_the_exports(open_page, site, tmp_path):
    page = open_page(viewport=(1000, 700))
    visit(page, site, "feat32.zip", "view=pca&pc=2,3,4&pcscale=minmax&values=zscore")
    assert wait_pca(page)["state"] == "done"
    ref = ifealid.pca(site["folder"] / "feat32.zip", components=(2, 3, 4), scale="minmax", values="zscore")
    got = page.evaluate(RESULT_JS)
    check_against_reference(got, read_scores(page), ref)
    # The scores' .npy and the PNG, made by the worker's Python from what the page computed.
    page.click("#export-box summary")
    with page.expect_download() as info:
        page.click("button[data-export=pca-npy]")
    path = tmp_path / "scores.npy"
    info.value.save_as(path)
    saved = np.load(path)
    assert saved.dtype == np.float32 and saved.shape == (H, W, 3)
    np.testing.assert_array_equal(saved, read_scores(page).astype(np.float32))
    with page.expect_download() as info:
        page.click("button[data-export=pca-png]")
    png = tmp_path / "pca.png"
    info.value.save_as(png)
    image = Image.open(png)
    assert image.mode == "RGB" and image.size == (W, H)
    assert image.text["ifealid:components"] == "2,3,4" and image.text["ifealid:values"] == "zscore"
    colours = np.array(got["colours"]).T.reshape(H, W, 3)
    assert Image.open(io.BytesIO(encode_pca_png(colours))).tobytes() == image.tobytes()
    assert np.abs(np.asarray(image, dtype=np.int64) - np.rint(ref.rgb * 255)).max() <= 1
    assert info.value.suggested_filename.startswith("feat32-pca-zscore-pc2_3_4-minmax")
    # The address keeps the view; a reload reproduces it.
    url = page.evaluate("location.href")
    assert "view=pca" in url and "pc=2,3,4" in url and "pcscale=minmax" in url
    page.goto(url)
    wait_for(page, SHOWN)
    assert wait_pca(page)["state"] == "done"
    assert page.evaluate(RESULT_JS)["key"] == got["key"]


def test_the_demo_picture_is_fast_enough_to_stay_interactive(open_page, site):
    """A new request cancels the one running; the page answers pointer moves meanwhile."""
    page = open_page(viewport=(1000, 700))
    visit(page, site, "feat16.zip")
    page.evaluate("""() => { const v = window.ifealid.view;
      v.set({mode: 'pca'}); v.set({pca: {...v.state.pca, components: [3, 4, 5]}}); }""")
    assert wait_pca(page)["state"] == "done"
    assert page.evaluate("window.ifealid.view.state.pcaResult.components") == [3, 4, 5]
    # The chart's channel view and back: the PCA view returns.
    page.evaluate("window.ifealid.explorer.showChannel(2)")
    page.evaluate("window.ifealid.explorer.showChannel(null)")
    assert page.evaluate("window.ifealid.view.state.mode") == "pca"
    # Back to the similarity and again: the cache answers at once.
    page.keyboard.press("p")
    page.keyboard.press("p")
    assert page.evaluate("window.ifealid.pca.jobs.running") is None
