"""A vision transformer's features, from `ifealid extract --model timm:…` to the page (issue 15):
the dataset the CLI writes (DINOv2 with registers, random weights: nothing is downloaded) opens
in the real page, which shows the patch grid over the padded overlay, and the page's maps and
PCA equal the float64 reference on it.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import ifealid
from pagekit import SHOWN, open_file, wait_for, wait_idle



MODEL = "timm:vit_small_patch14_reg4_dinov2.lvd142m"


@pytest.fixture(scope="module")
def vit_zip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vit")
    rng = np.random.default_rng(11)
    # 61×45: not a multiple of the 14-pixel patch, so the grid is ceil(·/14) with padding.
    ys, xs = np.mgrid[0:45, 0:61]
    picture = np.stack([xs * 4, ys * 5, (xs + ys) * 2], axis=-1) % 256 + rng.integers(0, 30, (45, 61, 3))
    Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(folder / "scene.png")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(folder / "hf")}
    subprocess.run(
        [sys.executable, "-m", "ifealid", "extract", str(folder / "scene.png"), "--model", MODEL, "--weights", "none",
         "--layers", "-1", "--threads", "1", "-q", "--out", str(folder / "out")],
        check=True, env=env, timeout=600)
    (path,) = (folder / "out").glob("*.zip")
    return path


def test_a_vit_dataset_opens_and_its_maps_and_pca_equal_the_reference(open_page, base_url, vit_zip):
    dataset = ifealid.load_dataset(vit_zip)
    assert (dataset.info.height, dataset.info.width, dataset.info.features) == (4, 5, 384)
    page = open_page(f"{base_url}/index.html", viewport=(900, 650))
    assert open_file(page, vit_zip, SHOWN) is None
    info = page.evaluate("window.ifealid.view.state.dataset.info")
    assert (info["width"], info["height"], info["features"]) == (5, 4, 384)
    assert page.evaluate("window.ifealid.view.state.dataset.overlaySize") == [70, 56]  # padded to whole patches
    # A patch's similarity with every other, as the reference computes it.
    page.evaluate("window.ifealid.view.set({reference: {x: 2, y: 1}, locked: true, values: 'centred', metric: 'cosine'})")
    wait_idle(page)
    got = np.array(page.evaluate("() => Array.from(window.ifealid.readMap().values)")).reshape(4, 5)
    want = ifealid.similarity_map(dataset, refs=[(2, 1)], metric="cosine", values="centred")
    assert np.abs(got - want).max() <= 1e-5
    # Its PCA picture: the components of the page against ifealid.pca's.
    page.keyboard.press("p")
    wait_for(page, "window.ifealid.pca.jobs.running === null && window.ifealid.view.state.pcaResult !== null")
    scores = page.evaluate("() => { const m = window.ifealid.readMap(); return [m.channels, Array.from(m.values)]; }")
    assert scores[0] == 3
    ref = ifealid.pca(dataset, values="centred")  # the page's values setting (true values, centred)
    page_scores = np.array(scores[1]).reshape(4, 5, 3)
    np.testing.assert_allclose(page_scores, ref.scores, atol=1e-5 * np.abs(ref.scores).max())
