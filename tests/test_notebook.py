"""The notebook viewer's kernel side (issue 18; app/notebook.py, app/viewer.py): what it sends is
what `ifealid create` makes, in chunks under the websocket's limit that put the layers back
together byte for byte; its traits refuse what the explorer could not show, with ValueErrors;
the front end's messages are answered; the bundle it ships is what the sources build; and
`ifealid.view` serves the page with a temporary dataset. The browser half is
tests/browser/test_notebook_lab.py."""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import ifealid
from ifealid import cli
from ifealid.analysis import channel_stats
from ifealid.browser import colormaps, encode_for_worker
from ifealid.notebook import CHUNK_BYTES, WEBSOCKET_LIMIT, begin_message, layer_chunks, prepare, serving
from ifealid.viewer import Viewer

ROOT = Path(__file__).resolve().parents[1]


def created(tmp_path, array, *args) -> ifealid.Dataset:
    """The dataset `ifealid create` makes of `array` saved as an .npy."""
    path = tmp_path / "features.npy"
    np.save(path, array)
    assert cli.main(["create", str(path), "--out", str(tmp_path / "out.zip"), *args]) == 0
    return ifealid.load_dataset(tmp_path / "out.zip")


def same_dataset(prepared, reference):
    assert prepared.dataset.info.shape == reference.info.shape
    assert prepared.dataset.info.precision == reference.info.precision
    assert prepared.dataset.info.range == reference.info.range
    np.testing.assert_array_equal(prepared.dataset.layers, reference.layers)
    stats = channel_stats(reference.layers, reference.info.features)
    np.testing.assert_array_equal(prepared.stats["mean"], stats["mean"])
    np.testing.assert_array_equal(prepared.stats["std"], stats["std"])


rng = np.random.default_rng(5)


@pytest.mark.parametrize("array, args, kwargs", [
    (rng.normal(size=(9, 13, 6)).astype(np.float32), [], {}),                       # (H, W, C): no equal axes
    (rng.normal(size=(7, 11, 11)), [], {}),                                           # (C, H, W) by the rule
    (rng.normal(size=(1, 7, 11, 11)).astype(np.float32), [], {}),                     # a batch of one
    (rng.normal(size=(9, 13, 6)).astype(np.float32), ["-p", "16"], {"precision": 16}),
    (rng.normal(size=(9, 13, 6)), ["-p", "32"], {"precision": 32}),
    (rng.normal(size=(6, 9, 13)).astype(">f4"), ["--layout", "chw"], {"layout": "chw"}),  # big-endian
    (np.asfortranarray(rng.normal(size=(9, 13, 6))), [], {}),                         # Fortran order
    (rng.integers(-5, 300, size=(8, 8, 3)).astype(np.int16), [], {}),
    (rng.random((8, 8, 3)) > 0.5, [], {}),                                            # bool
])
def test_arrays_are_quantised_as_ifealid_create_quantises_them(tmp_path, array, args, kwargs):
    same_dataset(prepare(array, **kwargs), created(tmp_path, array, *args))


def test_masked_values_and_the_notes_are_create_s(tmp_path):
    array = rng.normal(size=(6, 10, 4))
    array[1, 2, 3] = np.nan
    array[4, 4, 0] = np.inf
    prepared = prepare(array)
    same_dataset(prepared, created(tmp_path, array))
    assert any("2 of 240 values" in n for n in prepared.notes)
    assert any("could be (H, W, C) or (C, H, W)" in n for n in prepared.notes)


def test_a_strided_view_is_read_as_its_values(tmp_path):
    base = rng.normal(size=(12, 20, 8))
    view = base[::2, 1::3, ::-1]
    same_dataset(prepare(view), created(tmp_path, np.ascontiguousarray(view)))


def test_a_torch_tensor_is_c_h_w_unless_told(tmp_path):
    import torch  # the `extract` extra, which the test command installs
    tensor = torch.from_numpy(rng.normal(size=(1, 6, 9, 13)).astype(np.float32))
    same_dataset(prepare(tensor), created(tmp_path, tensor.numpy()[0], "--layout", "chw"))
    same_dataset(prepare(tensor[0].permute(1, 2, 0), layout="hwc"), created(tmp_path, tensor.numpy()[0], "--layout", "chw"))
    bf16 = prepare(tensor.to(torch.bfloat16))
    assert bf16.dataset.info.shape == (9, 13, 6)


def test_files_datasets_and_overlays(tmp_path):
    array = rng.normal(size=(6, 10, 4)).astype(np.float32)
    reference = created(tmp_path, array)
    np.save(tmp_path / "a.npy", array)
    same_dataset(prepare(tmp_path / "a.npy"), reference)       # converted as create converts
    same_dataset(prepare(tmp_path / "out.zip"), reference)     # a dataset ZIP, decoded
    same_dataset(prepare((tmp_path / "out.zip").read_bytes()), reference)
    same_dataset(prepare(reference), reference)
    image = np.zeros((12, 20, 3), dtype=np.uint8)
    shown = prepare(array, image, name="mine")
    assert shown.dataset.info.name == "mine" and shown.dataset.info.overlay
    assert shown.dataset.overlay_size == (20, 12)
    assert shown.dataset.overlay_bytes[:2] == b"\xff\xd8"  # a JPEG, as create writes it


@pytest.mark.parametrize("features, kwargs, message", [
    (np.zeros((4, 5)), {}, "3 dimensions"),
    (np.zeros((2, 3, 4, 5)), {}, "batch of 2"),
    (np.zeros((4, 5, 6), dtype=np.complex64), {}, "complex"),
    (np.array([[["a"]]]), {}, "text"),
    (np.zeros((4, 5, 6), dtype=object), {}, "Python objects"),
    (np.zeros((4, 0, 6)), {}, "empty"),
    (np.full((4, 5, 6), np.nan), {}, "every value is NaN"),
    (np.zeros((4, 5, 6)), {"precision": 12}, "precision"),
    (np.zeros((4, 5, 6)), {"layout": "whc"}, "layout"),
    ("no-such-file.npy", {}, "no such file"),
])
def test_wrong_inputs_are_clear_value_errors(features, kwargs, message):
    with pytest.raises(ValueError, match=message):
        prepare(features, **kwargs)
    with pytest.raises(ValueError, match=message):
        Viewer(features, **kwargs)


# ---------------------------------------------------------------- what is sent

@pytest.mark.parametrize("precision", [8, 16, 32])
@pytest.mark.parametrize("chunk", [1000, 4096, CHUNK_BYTES])
def test_the_layers_go_in_chunks_that_put_them_back_together(precision, chunk):
    prepared = prepare(rng.normal(size=(33, 41, 9)), precision=precision)
    layers = prepared.dataset.layers
    head, _ = begin_message(prepared, chunk)
    chunks = list(layer_chunks(layers, chunk))
    assert head["bytes"] == layers.nbytes and head["chunks"] == len(chunks) == -(-layers.nbytes // chunk)
    assert all(len(data) <= chunk < WEBSOCKET_LIMIT for _, data in chunks)
    assert [c["index"] for c, _ in chunks] == list(range(len(chunks)))
    assembled = bytearray(layers.nbytes)
    for c, data in chunks:
        assembled[c["offset"]:c["offset"] + len(data)] = data
    # The page's typed array over these bytes (little-endian) is the layers.
    np.testing.assert_array_equal(np.frombuffer(bytes(assembled), dtype=layers.dtype.newbyteorder("<")).reshape(layers.shape),
                                  layers)


def test_a_30_mb_dataset_goes_in_chunks_under_the_limit():
    values = rng.integers(0, 256, size=(512, 512, 116), dtype=np.uint8)
    layers = prepare(values).dataset.layers
    chunks = list(layer_chunks(layers))
    assert layers.nbytes > 30_000_000 and len(chunks) == 8
    assert max(len(d) for _, d in chunks) == CHUNK_BYTES < WEBSOCKET_LIMIT


def test_chunks_over_the_limit_are_refused():
    layers = np.zeros((1, 2, 2, 4), dtype=np.uint8)
    for size in (0, WEBSOCKET_LIMIT):
        with pytest.raises(ValueError, match="chunk"):
            list(layer_chunks(layers, size))


def test_begin_carries_the_dataset_message_s_fields():
    prepared = prepare(rng.normal(size=(6, 10, 4)), np.zeros((12, 20, 3), dtype=np.uint8), name="n")
    head, buffers = begin_message(prepared)
    assert head["info"] == {**prepared.dataset.info.to_metadata(), "range": list(prepared.dataset.info.range),
                            "pngCount": 1, "layerCount": 1}
    assert head["overlaySize"] == [20, 12]
    mean, std, overlay, *tables = buffers
    assert np.frombuffer(mean, "<f8").tolist() == prepared.stats["mean"].tolist()
    assert np.frombuffer(std, "<f8").tolist() == prepared.stats["std"].tolist()
    assert overlay == prepared.dataset.overlay_bytes
    assert dict(zip(head["colormaps"], tables)) == colormaps()
    json.dumps(head)  # the head is JSON


# ---------------------------------------------------------------- the widget's Python side

@pytest.fixture
def viewer():
    v = Viewer(rng.normal(size=(6, 10, 4)))
    v.sent = []
    v.send = lambda content, buffers=None: v.sent.append((content, buffers))
    return v


def test_a_load_request_is_answered_with_the_dataset(viewer):
    viewer.chunk_bytes = 100
    viewer._handle_custom_msg({"type": "load"}, [])
    (head, _), *chunks = viewer.sent
    assert head["type"] == "begin" and len(chunks) == head["chunks"] == 3
    assert b"".join(bytes(b[0]) for _, b in chunks) == viewer.dataset.layers.tobytes()


def test_an_export_is_encoded_as_the_page_s_worker_encodes_it(viewer):
    values = np.arange(60, dtype=np.float32)
    viewer._handle_custom_msg({"type": "encode", "id": 7, "what": "map-npy", "shape": [6, 10], "meta": None,
                               "arrayType": "Float32Array"}, [memoryview(values.tobytes())])
    content, buffers = viewer.sent[-1]
    assert content == {"type": "encoded", "id": 7, "ok": True, "error": None}
    assert buffers[0] == encode_for_worker("map-npy", values.tobytes(), "Float32Array", [6, 10])
    viewer._handle_custom_msg({"type": "encode", "id": 8, "what": "nonsense", "shape": [6, 10], "meta": None,
                               "arrayType": "Float32Array"}, [memoryview(values.tobytes())])
    assert viewer.sent[-1][0]["ok"] is False and "nonsense" in viewer.sent[-1][0]["error"]


def run_async(coroutine):
    """asyncio.run in a thread of its own: a test session that has driven a browser with
    Playwright's sync API keeps an event loop running in the main thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class _Shell:
    kernel = object()


def test_read_backs_ask_the_front_end_and_decode_its_reply(viewer, monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: _Shell())
    values = rng.random((6, 10)).astype(np.float32)
    viewer.reference = (2, 3)

    def front_end(content, buffers=None):  # what glue/widget/widget.js answers
        viewer.sent.append((content, buffers))
        if content["type"] != "request":
            return
        states.append(content["state"])
        reply = {"type": "reply", "id": content["id"], "ok": True, "error": None}
        if content["what"] == "map":
            viewer._handle_custom_msg({**reply, "shape": [6, 10]}, [memoryview(values.tobytes())])
        elif content["what"] == "mask":
            viewer._handle_custom_msg({**reply, "shape": None}, [])
        else:
            viewer._handle_custom_msg({**reply, "ok": False, "error": "no canvas"}, [])

    states = []
    viewer.send = front_end
    np.testing.assert_array_equal(run_async(viewer.map()), values)
    viewer.set_state({"locked": True, "reference": [5, 5]})  # as the front end's own changes arrive
    viewer.metric = "cosine"
    assert run_async(viewer.mask()) is None
    # What Python set travels with a request (the front end may not have applied it yet); what the
    # front end set does not (Python's copy of it may be older than the front end's).
    assert states == [{"reference": [2, 3]}, {"metric": "cosine"}]
    with pytest.raises(RuntimeError, match="no canvas"):
        run_async(viewer.save_png("x.png"))
    # A reply nobody waits for (a second view's, or a late one) is dropped.
    viewer._handle_custom_msg({"type": "reply", "id": 99, "ok": True}, [])
    assert 99 not in viewer._replies


def test_a_viewer_not_displayed_times_out_with_the_reason(viewer, monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: _Shell())
    with pytest.raises(TimeoutError, match="must be displayed"):
        run_async(viewer.map(timeout=0.05))


def test_read_backs_need_a_kernel(viewer):
    with pytest.raises(RuntimeError, match="Jupyter kernel"):
        run_async(viewer.map())


@pytest.mark.parametrize("trait, value, message", [
    ("reference", (10, 0), "off the map"),
    ("reference", (1.5, 2), "whole numbers"),
    ("reference", (1, 2, 3), "pixel"),
    ("reference", "centre", "pixel"),
    ("pins", [(0, 0), (0, 6)], "off the map"),
    ("pins", [(0, 0)] * 17, "at most 16"),
    ("metric", "manhattan", "metric must be one of"),
    ("values", "raw", "values must be one of"),
    ("view", "channel:4", "channels are 0…3"),
    ("view", "heat", "view must be"),
    ("threshold", float("nan"), "finite"),
    ("threshold", "0.5", "finite"),
    ("threshold", True, "finite"),
])
def test_traits_refuse_what_the_explorer_cannot_show(viewer, trait, value, message):
    before = getattr(viewer, trait)
    with pytest.raises(ValueError, match=message):
        setattr(viewer, trait, value)
    assert getattr(viewer, trait) == before


def test_traits_are_kept_in_json_terms(viewer):
    viewer.reference = (np.int64(3), 4)
    viewer.pins = [(1, 2), [3, 4]]
    viewer.threshold = np.float32(0.25)
    viewer.view = "channel:2"
    assert (viewer.reference, viewer.pins, viewer.threshold, viewer.view) == ([3, 4], [[1, 2], [3, 4]], 0.25, "channel:2")
    json.dumps(viewer.get_state(["reference", "pins", "threshold", "view"]))


def test_true_values_need_a_range(viewer):
    viewer.values = "true"  # quantised here: the range is known
    original = dataclasses.replace(viewer.dataset, info=dataclasses.replace(viewer.dataset.info, range=None))
    with pytest.raises(ValueError, match="range"):
        Viewer(original).values = "true"


# ---------------------------------------------------------------- packaging

def test_import_ifealid_imports_no_anywidget():
    code = "import sys, ifealid; assert 'anywidget' not in sys.modules; ifealid.Viewer; assert 'anywidget' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_notebook_modules_stay_out_of_the_browser_s_python():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_runtime
    finally:
        sys.path.pop(0)
    shipped = build_runtime.browser_modules(ROOT / "app")
    assert "browser.py" in shipped and "notebook.py" not in shipped and "viewer.py" not in shipped


def test_the_bundle_is_what_the_sources_build_and_ships_in_the_wheel():
    # A stale app/widget/widget.js fails here: rebuild it with `node scripts/build_widget.mjs`.
    done = subprocess.run(["node", str(ROOT / "scripts" / "build_widget.mjs"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    bundle = (ROOT / "app" / "widget" / "widget.js").read_text()
    # One module: nothing imported, nothing fetched (the WebAssembly kernel is inside).
    assert not any(line.startswith(("import ", "export * from")) for line in bundle.splitlines())
    assert "import(" not in bundle and "fetch(" not in bundle
    assert "DOTS_WASM" in bundle and 'id="map"' in bundle
    assert str(Viewer._esm) == bundle
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "widget/*.js" in package_data["ifealid"]


# ---------------------------------------------------------------- ifealid.view

def test_serving_gives_the_page_and_the_temporary_dataset():
    array = rng.normal(size=(6, 10, 4))
    with serving(array, name="served") as link:
        base, d = link.split("?d=")
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base) as reply:
            assert b"glue/app.js" in reply.read()
        with urllib.request.urlopen(f"{base}datasets/{d}") as reply:
            served = ifealid.load_dataset(reply.read())
        same_dataset(prepare(array, name="served"), served)
        zips = list(Path(os.environ.get("TMPDIR", "/tmp")).glob(f"ifealid-view-*/{d}"))
        assert len(zips) == 1
    assert not zips[0].exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(base, timeout=5)


def test_view_serves_until_ctrl_c_and_cleans_up(tmp_path):
    np.save(tmp_path / "f.npy", rng.normal(size=(6, 10, 4)))
    code = f"import ifealid, numpy as np; ifealid.view(np.load({str(tmp_path / 'f.npy')!r}), open_browser=False)"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        line = process.stdout.readline()
        link = line.split(" at ")[1].split()[0]
        base, d = link.split("?d=")
        with urllib.request.urlopen(f"{base}datasets/{d}") as reply:
            assert ifealid.load_dataset(reply.read()).info.shape == (6, 10, 4)
        assert list(tmp_path.glob("ifealid-view-*"))
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert not list(tmp_path.glob("ifealid-view-*"))


def test_view_outside_a_checkout_says_what_to_do(tmp_path):
    with pytest.raises(RuntimeError, match="checkout"):
        with serving(np.zeros((2, 2, 2)), root=tmp_path):
            pass


def test_the_user_s_changes_arrive_as_the_front_end_s(viewer):
    viewer._handle_custom_msg({"type": "state", "traits": {"locked": True, "pins": [[1, 1]], "reference": [4, 2],
                                                          "height": 10}}, [])
    assert (viewer.locked, viewer.pins, viewer.reference, viewer.height) == (True, [[1, 1]], [4, 2], 560)
    assert viewer._state() == {}  # nothing Python set: a read-back carries none of it
