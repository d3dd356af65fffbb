"""ifealid.Viewer in a real JupyterLab and Notebook 7 (issue 18): a server on 127.0.0.1 with a
temporary home for its settings and no token, a notebook opened in headless Chromium, its cells
run as a user runs them. What the viewer shows is read back in Python (viewer.map(), viewer.mask()) and compared
with the float64 reference (app/analysis.py); the user's hover and click reach Python's traits,
Python's reference reaches the map, an export is encoded by the kernel, keys reach the explorer,
a 30 MB dataset arrives intact in chunks, and no request of the browser leaves 127.0.0.1 (nor does
the server fetch news or updates: both are off).
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each cell prints one line "RESULT <json>" that the test reads from its output.
CELLS = [
    # 0: a generated map with structure (two kinds of pixels plus noise), shown.
    """import json, hashlib
import numpy as np
import ifealid
rng = np.random.default_rng(7)
H, W, C = 24, 36, 20
a, b = rng.random(C), rng.random(C)
features = np.where((np.arange(W) < W // 2)[None, :, None], a, b) + 0.3 * rng.random((H, W, C))
viewer = ifealid.Viewer(features.astype(np.float32), name="generated")
viewer""",
    # 1: the map of the hovered pixel, read back, against the float64 reference.
    """ref = tuple(viewer.reference)
m = await viewer.map()
expected = ifealid.similarity_map(viewer.dataset, refs=[ref])
print("RESULT", json.dumps({"reference": ref, "shape": list(m.shape), "err": float(np.abs(m - expected).max()),
                            "locked": viewer.locked}))""",
    # 2: after a click: the pin in Python.
    """print("RESULT", json.dumps({"pins": viewer.pins, "reference": viewer.reference}))""",
    # 3: Python moves the reference (pins cleared): the map follows; a threshold gives the mask.
    """viewer.pins = []
viewer.reference = (3, 5)
viewer.metric = "cosine"
viewer.values = "centred"
m2 = await viewer.map()
e2 = ifealid.similarity_map(viewer.dataset, refs=[(3, 5)], metric="cosine", values="centred")
viewer.threshold = 0.5
mask = await viewer.mask()
emask = ifealid.similarity_mask(e2, 0.5, "cosine")
print("RESULT", json.dumps({"err": float(np.abs(m2 - e2).max()), "changed": float(np.abs(m2 - m).max()),
                            "locked": viewer.locked, "mask": int(mask.sum()), "mask_diff": int((mask != emask).sum()),
                            "mask_expected": int(emask.sum())}))""",
    # 4: about 30 MB of layers (uint8 values, stored exactly), in several chunks.
    """big_values = np.random.default_rng(3).integers(0, 256, size=(512, 512, 116), dtype=np.uint8)
big_values[0, 0, 0], big_values[0, 0, 1] = 0, 255  # the range 0..255: q equals the value
big = ifealid.Viewer(big_values, name="big", height=300)
print("RESULT", json.dumps({"bytes": int(big.dataset.layers.nbytes), "chunk": big.chunk_bytes,
                            "sha256": hashlib.sha256(big.dataset.layers.tobytes()).hexdigest()}))
big""",
    # 5: the big one's map, read back.
    """bm = await big.map()
be = ifealid.similarity_map(big.dataset, refs=[tuple(big.reference)])
print("RESULT", json.dumps({"err": float(np.abs(bm - be).max()), "locked": viewer.locked}))""",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The front ends: (the server's module, the notebook's address under it).
FRONT_ENDS = {"jupyterlab": ("jupyterlab", "lab/tree/viewer.ipynb"), "notebook7": ("notebook", "notebooks/viewer.ipynb")}


@pytest.fixture(scope="module", params=list(FRONT_ENDS))
def lab(tmp_path_factory, request):
    """A JupyterLab (or Notebook 7) server on 127.0.0.1 (settings, data and runtime folders
    temporary; no token; news, update checks and the extension manager's index off), serving a
    folder with the notebook."""
    module, notebook_path = FRONT_ENDS[request.param]
    home = tmp_path_factory.mktemp("lab")
    notebooks = home / "notebooks"
    notebooks.mkdir()
    config = home / "config"
    config.mkdir()
    # Nothing that phones home: JupyterLab's news feed and update check, the extension manager's
    # PyPI listing.
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                   "extension_manager": "readonly"},
    }))
    # ... and JupyterLab does not ask whether to fetch the news (Notebook 7 has no such plugin,
    # and trips over settings for one).
    if module == "jupyterlab":
        settings = home / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [],
                   "source": source} for i, source in enumerate(CELLS)],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (notebooks / "viewer.ipynb").write_text(json.dumps(notebook))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"),
           "JUPYTER_PLATFORM_DIRS": "1", "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    port = _free_port()
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", module, "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=", "--allow-root",
         f"--ServerApp.root_dir={notebooks}"],
        env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(home / 'server.log').read_text()[-4000:]}")
                time.sleep(0.5)
        yield {"name": request.param, "base": base, "notebook": f"{base}/{notebook_path}", "log": home / "server.log"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _run_cell(page, index: int, timeout: float = 240.0) -> dict | None:
    """Run cell `index` (as Shift+Enter does) and return its RESULT line's object, or None for a
    cell that prints none (it waits until the cell has run)."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompt = cell.locator(".jp-InputPrompt").inner_text()
        text = cell.locator(".jp-OutputArea").inner_text()
        if "Traceback" in text:
            pytest.fail(f"cell {index} failed:\n{text[-3000:]}")
        if "[*]" not in prompt and prompt.strip("[]: \n"):
            for line in text.splitlines():
                if line.startswith("RESULT "):
                    return json.loads(line[len("RESULT "):])
            return None
        page.wait_for_timeout(100)
    pytest.fail(f"cell {index} did not finish within {timeout} s")


def _wait_kernel(base: str, timeout: float = 120.0):
    """Until the notebook's kernel has started and is idle (the server's own account)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/kernels", timeout=5) as reply:
            kernels = json.loads(reply.read())
        if kernels and all(k["execution_state"] == "idle" for k in kernels):
            return
        time.sleep(0.3)
    pytest.fail(f"no idle kernel within {timeout} s: {kernels}")


def _wait_viewer(page, index: int, timeout: float = 240.0):
    host = page.locator(".ifealid-host").nth(index)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if host.count() and host.get_attribute("data-ifealid") in ("shown", "error"):
            break
        page.wait_for_timeout(100)
    assert host.get_attribute("data-ifealid") == "shown", host.locator(".alert").inner_text()
    return host


def test_viewer_in_jupyter(lab, browser, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    requests = []
    context.on("request", lambda r: requests.append(r.url))
    # Anything for another host is refused (and recorded above): the test sees it as a failure.
    # A pattern, not a Python predicate: the driver matches it without waiting for this thread.
    context.route(re.compile(r"^(?!(?:https?|wss?)://127\.0\.0\.1[:/]|data:|blob:)"), lambda route: route.abort())
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(f"{e}\n{e.stack}"))
    console = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    try:
        page.goto(lab["notebook"], timeout=120_000)
        page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=120_000)
        _wait_kernel(lab["base"])

        # Notebook 7.6.5 itself throws one error while it starts (reading a plugin's settings
        # schema, in notebook_core.js); JupyterLab none. What counts is that the viewer adds none.
        page.wait_for_timeout(200)  # the page's events so far are delivered
        at_load = list(errors)
        assert lab["name"] == "notebook7" or not at_load, at_load
        _run_cell(page, 0)
        host = _wait_viewer(page, 0)
        canvas = host.locator("#map")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        # Hover: the reference follows the pointer, and reaches Python.
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
        page.mouse.move(box["x"] + box["width"] * 0.3 + 3, box["y"] + box["height"] * 0.4 + 2)
        hovered = page.evaluate("(el) => el.ifealidViewer.view.state.reference", host.element_handle())
        page.wait_for_timeout(500)  # the hovered reference is sent at most every 100 ms
        first = _run_cell(page, 1)
        assert first["reference"] == [hovered["x"], hovered["y"]]
        assert first["shape"] == [24, 36]
        assert first["err"] < 1e-5
        assert first["locked"] is False

        # A click pins the pixel under the pointer (after the double-click delay). Running a cell
        # may have scrolled the notebook: the canvas is found again.
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
        page.wait_for_timeout(800)
        pinned = page.evaluate("(el) => el.ifealidViewer.view.state.pins", host.element_handle())
        assert len(pinned) == 1
        second = _run_cell(page, 2)
        assert second["pins"] == [[pinned[0]["x"], pinned[0]["y"]]]

        third = _run_cell(page, 3)
        assert third["err"] < 1e-5
        assert third["changed"] > 0.01  # the map is another one
        assert third["locked"] is True  # a reference set from Python stays
        assert third["mask_diff"] == 0 and 0 < third["mask"] == third["mask_expected"]
        state = page.evaluate("(el) => el.ifealidViewer.view.state", host.element_handle())
        assert (state["reference"], state["metric"], state["values"], state["threshold"]) == \
            ({"x": 3, "y": 5}, "cosine", "centred", 0.5)

        # An export is encoded by the kernel, with the page's encoder: the map as .npy.
        host.locator("#export-box summary").click()
        with page.expect_download() as download:
            host.locator("button[data-export='map-npy']").click()
        exported = np.load(download.value.path())
        shown = page.evaluate("(el) => Array.from(el.ifealidViewer.explorer.renderer.readMap())", host.element_handle())
        assert exported.dtype == np.float32 and exported.shape == (24, 36)
        np.testing.assert_array_equal(exported.ravel(), np.array(shown, dtype=np.float32))

        # Keys pressed on the map reach the explorer, not JupyterLab's shortcuts: L unlocks, and
        # Python sees it (cell 5 prints it).
        canvas.focus()
        page.keyboard.press("l")
        assert page.evaluate("(el) => el.ifealidViewer.view.state.locked", host.element_handle()) is False

        big = _run_cell(page, 4)
        assert big["bytes"] > 3 * big["chunk"]  # several chunks, each under the websocket's limit
        big_host = _wait_viewer(page, 1)
        digest = page.evaluate("""async (el) => {
          const a = el.ifealidViewer.view.state.dataset.layers;
          const d = await crypto.subtle.digest('SHA-256', new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
          return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
        }""", big_host.element_handle())
        assert digest == big["sha256"]
        last = _run_cell(page, 5)
        assert last["err"] < 1e-5 and last["locked"] is False

        assert errors == at_load, errors
        leaving = [u for u in requests if not u.startswith(("data:", "blob:")) and urlparse(u).hostname != "127.0.0.1"]
        assert not leaving, leaving
        assert any("/api/kernels" in u for u in requests)  # the log did see the page's requests
    except BaseException:
        page.screenshot(path=str(tmp_path / "failed.png"))  # what the page showed, kept by pytest
        print("\n".join(console[-40:]), "\n".join(errors), sep="\n")
        raise
    finally:
        context.close()
