"""What the page draws, compared with stored expected images (tests/browser/expected/*.png): a
colour map over the overlay, the grey overlay alone, the channel view, and the pin marker on the
page. The numeric tests check every value; these catch what numbers miss (a flipped axis, a
shifted overlay, a marker off its pixel). Small differences are allowed (TOLERANCE per channel):
a JPEG decoder or rasteriser update may move a value by a step.

After an intended change, look at the new pictures and rewrite them:
    IFEALID_UPDATE_EXPECTED=1 .venv/bin/python -m pytest tests/browser/test_expected_images.py
"""
from __future__ import annotations

import base64
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ifealid.colormaps import lut_bytes
from pagekit import map_point, open_file, wait_for, wait_idle
from test_renderer import FIXTURE, fixture_layers, h, module_page, to_layers  # noqa: F401 (fixtures)

EXPECTED = Path(__file__).resolve().parent / "expected"
TOLERANCE = 3
UPDATE = bool(os.environ.get("IFEALID_UPDATE_EXPECTED"))


def compare(name: str, rgba: np.ndarray, tmp_path: Path):
    path = EXPECTED / f"{name}.png"
    if UPDATE:
        Image.fromarray(rgba).save(path)
        return
    assert path.exists(), f"{path} is missing: run with IFEALID_UPDATE_EXPECTED=1 and look at it"
    want = np.asarray(Image.open(path).convert("RGBA"))
    got_path = tmp_path / f"{name}.actual.png"
    Image.fromarray(rgba).save(got_path)
    assert want.shape == rgba.shape, f"{name}: {rgba.shape} drawn, {want.shape} expected (drawn: {got_path})"
    diff = np.abs(want.astype(int) - rgba.astype(int))
    assert diff.max() <= TOLERANCE, (f"{name}: {int((diff > TOLERANCE).any(axis=-1).sum())} pixels differ by up to "
                                     f"{diff.max()} (drawn: {got_path})")


def overlay_jpeg() -> str:
    with zipfile.ZipFile(FIXTURE) as zf:
        return base64.b64encode(zf.read("overlay.jpg")).decode()


@pytest.fixture
def harness(h):
    """The renderer test page (test_renderer.py's), on a 104 x 160 canvas: the fixture's 26 x 40 map at 4x."""
    h.create(canvas=(104, 160), sync=True)
    return h


def shot(h, **state) -> np.ndarray:
    canvas, _ = h.render(view={"scale": 4, "offsetX": 0, "offsetY": 0}, **state)
    return canvas


def test_heat_map_over_the_overlay(harness, tmp_path):
    layers, meta = fixture_layers()
    harness.load(layers, meta["features"], meta["precision"])
    harness.page.evaluate("b => harness.overlayImage(b)", overlay_jpeg())
    rgba = shot(harness, reference=[13, 20], metric="angular", opacity=0.9,
                lut=base64.b64encode(lut_bytes("fire")).decode())
    compare("heat-over-overlay", rgba, tmp_path)


def test_grey_overlay_alone(harness, tmp_path):
    """A map that is 0 everywhere (all-zero vectors) at opacity 1 lets the overlay through alone,
    resampled over the map's extent and in Rec. 709 grey."""
    harness.load(to_layers(np.zeros((40, 26, 5), dtype=np.uint64), 8), 5, 8)
    harness.page.evaluate("b => harness.overlayImage(b)", overlay_jpeg())
    rgba = shot(harness, reference=[3, 3], opacity=1.0, overlayColour=False)
    assert np.all(rgba[..., 0] == rgba[..., 1]) and np.all(rgba[..., 1] == rgba[..., 2])
    compare("grey-overlay", rgba, tmp_path)


def test_channel_view(harness, tmp_path):
    layers, meta = fixture_layers()
    harness.load(layers, meta["features"], meta["precision"])
    rgba = shot(harness, channel=517, lut=base64.b64encode(lut_bytes("viridis")).decode())
    compare("channel-517-viridis", rgba, tmp_path)


def test_pin_marker_on_the_page(open_page, base_url, tmp_path):
    """The marker sits on the centre of the pinned pixel, over the heat map."""
    page = open_page(f"{base_url}/index.html", viewport=(900, 600))
    assert open_file(page, FIXTURE) is None
    page.mouse.click(*map_point(page, 13.5, 20.5))
    wait_for(page, "window.ifealid.view.state.pins.length === 1")
    page.mouse.move(5, 5)  # off the map: no hover read-out over the picture
    wait_idle(page)
    x, y = map_point(page, 13.5, 20.5)
    png = page.screenshot(clip={"x": x - 24, "y": y - 24, "width": 48, "height": 48})
    compare("pin-marker", np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")), tmp_path)
