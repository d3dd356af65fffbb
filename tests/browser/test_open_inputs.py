"""Arrays and ENVI cubes opened in the real page: dropped, picked and linked, converted by the
worker with `ifealid create`'s code, they show the same map as the equivalent dataset ZIP (the
float64 reference, ifealid.similarity_map); the chart's axis shows an ENVI header's wavelengths;
"Save as dataset ZIP" downloads a ZIP that validates and opens again; a header dropped without
its data file, or a cancelled conversion, leaves the page ready."""
from __future__ import annotations

import base64
import warnings
from pathlib import Path

import numpy as np
import pytest
import spectral.io.envi as envi  # the `test` extra's Spectral Python: an independent ENVI writer

import ifealid
from pagekit import LOADED, SHOWN, forget_shown, wait_for, wait_idle
from sites import Server, make_site


WAVELENGTHS = [400.0, 455.5, 511.0, 566.5, 622.0, 677.5, 733.0, 788.5, 844.0]  # 9 bands: one padded layer
DIALOG_OPEN = "document.getElementById('convert-dialog').open"


def chw_values() -> np.ndarray:
    """(C, H, W) features: the rule reads them channels-first (the map is square)."""
    rng = np.random.default_rng(21)
    values = rng.normal(size=(10, 12, 12)).astype(np.float32)
    values[:, :, :5] += 1.5  # structure: a left part unlike the rest
    return values


def cube_values() -> np.ndarray:
    rng = np.random.default_rng(8)
    values = rng.integers(200, 4000, size=(11, 13, len(WAVELENGTHS))).astype(np.int16)
    values[:6] += np.linspace(0, 2000, len(WAVELENGTHS)).astype(np.int16)  # a top part with another spectrum
    return values


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    np.save(folder / "features.npy", chw_values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        envi.save_image(str(folder / "cube.hdr"), cube_values(), interleave="bil", byteorder=1,
                        metadata={"wavelength": WAVELENGTHS, "wavelength units": "Nanometers"})
    (folder / "notes.txt").write_text("not the data file")
    np.savez(folder / "two.npz", small=np.ones((3, 3, 2), np.float32), features=chw_values())
    # The equivalent ZIPs, made as `ifealid create` makes them, from the arrays themselves.
    ifealid.save_dataset(chw_values().transpose(1, 2, 0), folder / "features.zip", name="features")
    ifealid.save_dataset(cube_values(), folder / "cube.zip", name="cube")
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory, files):
    root = make_site(tmp_path_factory.mktemp("inputs-site") / "site", {
        name: (files / name).read_bytes() for name in ("cube.hdr", "cube.img", "features.npy", "two.npz")})
    server = Server(root)
    server.root = root
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(open_module_page, site):
    page = open_module_page(f"{site.url}/index.html", viewport=(1000, 700))
    assert page.evaluate("window.ifealid.state.boot.error") is None
    return page


def drop(page, paths: list[Path]):
    """Drop the files on the page together, as the OS would."""
    items = [[base64.b64encode(p.read_bytes()).decode(), p.name] for p in paths]
    forget_shown(page)
    page.evaluate("window.__ifealidBefore = window.ifealid.view.state.dataset")
    transfer = page.evaluate_handle("""(items) => {
      const transfer = new DataTransfer();
      for (const [data, name] of items) {
        transfer.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name));
      }
      return transfer;
    }""", items)
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event("body", event, {"dataTransfer": transfer})


def settle(page):
    """Until the newest open is on screen or refused; returns state.error."""
    wait_for(page, f"({SHOWN}) && (window.ifealid.state.error !== null"
                   " || window.ifealid.view.state.dataset !== window.__ifealidBefore)")
    return page.evaluate("window.ifealid.state.error")


def read_map(page) -> np.ndarray:
    out = page.evaluate("""() => { const m = window.ifealid.readMap();
      return {w: m.width, h: m.height, v: Array.from(m.values)}; }""")
    return np.array(out["v"], dtype=np.float64).reshape(out["h"], out["w"])


def page_layers(page) -> bytes:
    return base64.b64decode(page.evaluate("""() => { const a = window.ifealid.view.state.dataset.layers;
      const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength); let s = '';
      for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
      return btoa(s); }"""))


def same_map_as(page, zip_path: Path, refs, metric="cosine", values="centred"):
    """The page's map for refs (a locked reference and pins) equals the float64 reference of the ZIP."""
    (x, y), pins = refs[0], refs[1:]
    page.evaluate("""([x, y, pins, metric, values]) => window.ifealid.view.set({reference: {x, y}, locked: true,
      pins: pins.map(([px, py]) => ({x: px, y: py})), metric, values})""", [x, y, pins, metric, values])
    wait_idle(page)
    want = ifealid.similarity_map(ifealid.load_dataset(zip_path), refs=refs, metric=metric, values=values)
    got = read_map(page)
    assert got.shape == want.shape and np.abs(got - want).max() <= 1e-5


def test_an_npy_dropped_shows_the_same_map_as_the_equivalent_zip(page, files):
    drop(page, [files / "features.npy"])
    wait_for(page, DIALOG_OPEN)
    assert page.text_content("#convert-text") == "features.npy: float32 (10, 12, 12)"
    assert page.is_visible("#convert-layout-box") and page.is_hidden("#convert-key-box")
    assert page.input_value("#convert-layout") == "chw"  # the rule: the two equal axes are the map's
    assert page.is_hidden("#convert-layout-note")  # not ambiguous
    assert page.input_value("#convert-precision") == "8"
    page.click("#convert-open")
    assert settle(page) is None
    info = page.evaluate("window.ifealid.view.state.dataset.info")
    assert (info["height"], info["width"], info["features"]) == (12, 12, 10) and info["range"] is not None
    assert page_layers(page) == ifealid.load_dataset(files / "features.zip").layers.tobytes()
    same_map_as(page, files / "features.zip", [(3, 4), (9, 2)])
    same_map_as(page, files / "features.zip", [(7, 7)], metric="angular", values="stored")
    assert page.is_visible("#save-zip")


def test_an_envi_pair_dropped_shows_the_same_map_and_its_wavelengths(page, files):
    drop(page, [files / "cube.img", files / "cube.hdr"])  # in any order
    wait_for(page, DIALOG_OPEN)
    text = page.text_content("#convert-text")
    assert "cube.hdr: ENVI cube, 11×13 pixels, 9 bands of int16, bil, wavelengths 400–844 nm" in text
    assert "Overlay: natural colour" in text and page.is_hidden("#convert-layout-box")
    page.click("#convert-open")
    assert settle(page) is None
    info = page.evaluate("window.ifealid.view.state.dataset.info")
    assert info["channel_axis"] == {"name": "wavelength", "unit": "nm", "values": WAVELENGTHS}
    assert page.evaluate("window.ifealid.view.state.dataset.overlaySize") == [13, 11]
    assert page_layers(page) == ifealid.load_dataset(files / "cube.zip").layers.tobytes()
    same_map_as(page, files / "cube.zip", [(2, 3)])
    same_map_as(page, files / "cube.zip", [(10, 9), (0, 0)], metric="correlation", values="zscore")
    # The chart's channel axis: the header's wavelengths (the first with its unit), spread over the bands.
    ticks = page.evaluate("window.ifealid.explorer.panels.chart.ticks")
    assert ticks[0] == {"k": 0, "text": "400 nm"} and ticks[-1] == {"k": 8, "text": "844"}
    assert all(t["text"].split()[0] == f"{WAVELENGTHS[t['k']]:g}" for t in ticks) and len(ticks) >= 3
    assert "channels: wavelength 400–844 nm" in page.get_attribute("#chart", "aria-label")
    assert page.evaluate("window.ifealid.explorer.panels.chart.valueLabels")  # the value axis has numbers
    assert "wavelength 400–844 nm" in page.text_content("#summary")
    assert "Converted from" in page.text_content("#summary")


def test_save_as_dataset_zip_validates_and_round_trips(page, files, tmp_path):
    from test_range import originals_checks

    if page.evaluate("window.ifealid.view.state.dataset?.info.name") != "cube.hdr":
        drop(page, [files / "cube.hdr", files / "cube.img"])
        wait_for(page, DIALOG_OPEN)
        page.click("#convert-open")
        assert settle(page) is None
    shown = page_layers(page)
    with page.expect_download() as info:
        page.click("#save-zip")
    download = info.value
    assert download.suggested_filename == "cube.hdr.8.zip"  # as `ifealid create cube.hdr` names it
    data = Path(download.path()).read_bytes()
    originals_checks(data)  # the original app opens it
    dataset = ifealid.load_dataset(data)
    assert dataset.layers.tobytes() == shown and dataset.overlay_size == (13, 11)
    assert dataset.info.channel_axis["values"] == WAVELENGTHS
    assert dataset.range == ifealid.load_dataset(files / "cube.zip").range
    from ifealid.cli import main as cli_main

    assert cli_main(["validate", str(_write(tmp_path / "cube.hdr.8.zip", data))]) == 0  # `ifealid validate`
    # ... and opens again, at once (no dialog: it is a dataset ZIP), with the same data.
    forget_shown(page)
    page.evaluate("window.__ifealidBefore = window.ifealid.view.state.dataset")
    page.set_input_files("#file-input", str(tmp_path / "cube.hdr.8.zip"))
    assert settle(page) is None
    assert page_layers(page) == shown and page.is_hidden("#save-zip")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_two_file_drop_without_the_data_file_gets_a_message(page, files):
    drop(page, [files / "cube.hdr", files / "notes.txt"])
    error = settle(page)
    assert error["rule"] == "envi-pair"
    text = page.text_content("#error")
    assert text.startswith("cube.hdr: the data file is missing") and "notes.txt is not named like it" in text
    assert page.evaluate("document.getElementById('convert-dialog').open") is False
    # The page is ready for the next file.
    drop(page, [files / "features.zip"])
    assert settle(page) is None


def test_a_cancelled_conversion_leaves_the_page_as_it_was(page, files):
    before = page.evaluate("window.ifealid.view.state.dataset?.info.name")
    drop(page, [files / "features.npy"])
    wait_for(page, DIALOG_OPEN)
    page.click("#convert-cancel")
    wait_for(page, "window.ifealid.state.loading === null")
    assert page.evaluate("window.ifealid.view.state.dataset?.info.name") == before
    assert page.evaluate("window.ifealid.state.error") is None


def test_links_to_an_envi_header_an_npy_and_an_npz(open_page, site, files):
    page = open_page(f"{site.url}/index.html?d=cube.hdr", until=SHOWN)
    assert page.evaluate("window.ifealid.state.error") is None
    assert page.evaluate("window.ifealid.view.state.dataset.info.channel_axis.values") == WAVELENGTHS
    assert any(p.endswith("/datasets/cube.img") for p in site.paths)  # found beside the header
    assert "Overlay: natural colour" in page.text_content("#notice")
    assert page_layers(page) == ifealid.load_dataset(files / "cube.zip").layers.tobytes()
    assert page.evaluate("new URLSearchParams(location.search).get('d')") == "cube.hdr"
    # An .npy by link opens with the defaults, no dialog.
    page.evaluate("window.__ifealidBefore = window.ifealid.view.state.dataset; window.ifealid.openLink('features.npy'), 0")
    assert settle(page) is None
    assert page.evaluate("window.ifealid.view.state.dataset.info.features") == 10
    # An .npz with several arrays asks which, even by link.
    page.evaluate("window.__ifealidBefore = window.ifealid.view.state.dataset; window.ifealid.openLink('two.npz'), 0")  # (not awaited: it waits for the dialog)
    wait_for(page, DIALOG_OPEN)
    assert page.is_visible("#convert-key-box")
    assert page.evaluate("Array.from(document.getElementById('convert-key').options).map((o) => o.value)") == ["small", "features"]
    page.select_option("#convert-key", "features")
    assert page.input_value("#convert-layout") == "chw"
    page.select_option("#convert-precision", "16")
    page.click("#convert-open")
    assert settle(page) is None
    info = page.evaluate("window.ifealid.view.state.dataset.info")
    assert (info["name"], info["precision"], info["features"]) == ("two.npz[features]", 16, 10)


def test_a_link_to_a_header_without_its_data_file_says_so(open_page, site, tmp_path):
    (site.root / "datasets" / "lone.hdr").write_bytes(
        b"ENVI\nsamples = 2\nlines = 2\nbands = 1\ndata type = 1\n")
    page = open_page(f"{site.url}/index.html?d=lone.hdr", until=LOADED)
    error = page.evaluate("window.ifealid.state.error")
    assert error["rule"] == "envi-pair" and "none of lone.img, lone.dat" in error["message"]


def test_a_map_wider_than_the_largest_texture_opens_and_shows_the_same_map_on_both_paths(page, tmp_path):
    """Issue 19: a dataset one pixel wider than this GPU's largest texture is drawn in tiles, not
    refused; its maps, on the CPU path and on the GPU's (tile by tile), are float64's."""
    size = page.evaluate("window.ifealid.renderer.limits.maxTextureSize")
    rng = np.random.default_rng(3)
    values = rng.normal(size=(6, size + 8, 5)).astype(np.float32)
    values[:, size - 4:] += 2.0  # a band across the border unlike the rest
    ifealid.save_dataset(values, tmp_path / "wide.zip", name="wide")
    drop(page, [tmp_path / "wide.zip"])
    assert settle(page) is None
    assert page.evaluate("window.ifealid.renderer.ds.tiles.map((t) => [t.x0, t.w])") == [[0, size], [size, 8]]
    for compute in ("cpu", "gpu"):
        page.evaluate(f"window.ifealid.explorer.setCompute('{compute}')")
        assert page.evaluate("window.ifealid.renderer.computeOn") == compute
        same_map_as(page, tmp_path / "wide.zip", [(size + 2, 3), (size - 3, 1)], metric="cosine", values="centred")
        same_map_as(page, tmp_path / "wide.zip", [(size - 1, 5)], metric="angular", values="stored")
    page.evaluate("window.ifealid.explorer.setCompute('auto')")
    assert page.evaluate("window.ifealid.state.error") is None
