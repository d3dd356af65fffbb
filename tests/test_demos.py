"""The committed demo datasets: valid, small, made from real data; the run command prints their links."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import ifealid
from test_range import originals_checks

ROOT = Path(__file__).resolve().parent.parent
CNN = ROOT / "datasets" / "demo-astronaut-efficientnet-lite0.zip"
TEXTURE = ROOT / "datasets" / "demo-astronaut-texture.zip"
PINES = ROOT / "datasets" / "demo-indian-pines.zip"


def test_demos_are_valid_small_datasets_with_the_photo():
    cnn, texture = ifealid.load_dataset(CNN), ifealid.load_dataset(TEXTURE)
    assert cnn.shape == (64, 64, 112) and "EfficientNet-Lite0" in cnn.name
    assert texture.shape == (256, 256, 72) and "multiscale basic features" in texture.name
    for dataset in (cnn, texture):
        assert dataset.overlay_size == (512, 512)
        assert dataset.values().std() > 1  # not a constant array
        lo, hi = dataset.range  # they carry the range they were quantised from: true values too
        assert lo < 0 < hi  # signed features (a linear bottleneck; texture filters' edges)
    for path in (CNN, TEXTURE):
        originals_checks(path.read_bytes())  # and still open in the original app
    assert CNN.stat().st_size + TEXTURE.stat().st_size < 4e6


def test_serve_prints_the_demo_links(tmp_path):
    spec = importlib.util.spec_from_file_location("serve_for_demo_test", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    assert serve.demo_links(ROOT, "http://127.0.0.1:8000/") == [
        "http://127.0.0.1:8000/?d=demo-astronaut-efficientnet-lite0.zip#values=centred&metric=cosine",
        "http://127.0.0.1:8000/?d=demo-astronaut-texture.zip#values=centred&metric=cosine",
        "http://127.0.0.1:8000/?d=demo-indian-pines.zip#values=centred&metric=correlation",
    ]


def test_the_demo_buttons_open_the_views_the_links_do():
    """index.html's demo buttons carry the fragments scripts/serve.py prints: one view per demo."""
    from html.parser import HTMLParser

    spec = importlib.util.spec_from_file_location("serve_for_demo_buttons", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    buttons = {}

    class Buttons(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "button" and a.get("data-link", "").startswith("demo-"):
                buttons[a["data-link"]] = a.get("data-view")

    Buttons().feed((ROOT / "index.html").read_text())
    assert buttons == serve.DEMO_VIEWS


def test_the_hyperspectral_demo_is_indian_pines_with_its_wavelengths():
    """Indian Pines as the tensorly wheel ships it, through the ENVI path: every value quantised
    as `ifealid create` quantises the cube, its 200 wavelengths as the channel axis, a false-colour
    overlay, small enough to commit."""
    import sys

    import numpy as np

    sys.path.insert(0, str(ROOT / "scripts"))
    import make_demos
    from ifealid.quantise import quantise

    cube, classes, wavelengths = make_demos.indian_pines()
    dataset = ifealid.load_dataset(PINES)
    assert dataset.shape == (145, 145, 200) and dataset.precision == 8 and "Indian Pines" in dataset.name
    assert np.array_equal(dataset.values(), quantise(cube, 8).values)
    assert dataset.range == (float(cube.min()), float(cube.max()))
    axis = dataset.info.channel_axis
    assert axis == {"name": "wavelength", "unit": "nm", "values": wavelengths}
    assert 400 <= min(wavelengths) and max(wavelengths) <= 2500
    assert dataset.overlay_size == (145, 145)
    red, green, _ = np.asarray(dataset.overlay_image(), dtype=float).transpose(2, 0, 1)
    # near infrared as red: vegetated classes (woods, 14) are redder than green
    assert red[classes == 14].mean() > green[classes == 14].mean()
    assert set(np.unique(classes)) == set(range(17))  # the ground truth the page's test uses
    originals_checks(PINES.read_bytes())
    assert PINES.stat().st_size < 2e6
