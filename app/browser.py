"""What the Pyodide worker calls: decode a dataset ZIP into the arrays the GPU uploads.

Kept free of any JavaScript so it runs and is tested in CPython too; the worker
(pyworker/worker.js) only moves bytes in and typed arrays out.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from .errors import DatasetError
from .format import DatasetInfo
from .reader import read_dataset

# The worker lives in 32-bit WebAssembly (4 GB address space at most) and needs the
# ZIP, the decoded array and a copy for the transfer at once: keep well below.
BROWSER_MEMORY_BUDGET = 1024 ** 3


def runtime_versions() -> dict:
    import PIL

    from . import __version__

    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "ifealid": __version__,
    }


def colormaps() -> dict:
    """Every colour table as 768 RGB bytes, for the page (the tables live only in Python)."""
    from .colormaps import COLORMAPS, DEFAULT_COLORMAP, lut_bytes

    names = [DEFAULT_COLORMAP] + sorted(n for n in COLORMAPS if n != DEFAULT_COLORMAP)
    return {name: lut_bytes(name) for name in names}


def page_info(info: DatasetInfo) -> dict:
    """The dataset's description as the page uses it (DATASET's info): the metadata's fields
    under their metadata.json names, and the derived counts. The only place these names are
    written for the page; the worker posts this object as it is."""
    return {**info.to_metadata(), "pngCount": info.png_count, "layerCount": info.layer_count}


def _declared(data) -> str:
    try:
        from .reader import read_info

        return read_info(bytes(data)).describe()
    except Exception:  # noqa: BLE001 - only for the message
        return "an unknown size"


def decode_for_worker(data, progress=None, memory_budget: int = BROWSER_MEMORY_BUDGET) -> dict:
    """Decode ZIP bytes. Returns either {"error": {...}} or the dataset, under the names of the
    DATASET message (pyworker/protocol.js), which the worker posts as they are:

    info: page_info(); layers: the (L, H, W, 4) unsigned array (uint8/uint16/uint32 by
    precision, layer-major, RGBA = channels 4l..4l+3); overlay: the overlay image's bytes or
    None; overlaySize: [w, h] or None; decodeMs: time spent here.
    """
    started = time.perf_counter()
    if hasattr(data, "to_bytes"):  # a JavaScript Uint8Array, in Pyodide
        data = data.to_bytes()
    try:
        dataset = read_dataset(bytes(data), memory_budget=memory_budget, progress=progress)
    except DatasetError as exc:
        return {"error": exc.to_dict()}
    except MemoryError:
        # The worker's 32-bit WebAssembly heap (4 GB at most, often less) ran out; Python is
        # still sound, so the worker stays ready for the next, smaller file.
        return {"error": {
            "message": "the dataset needs more memory than the browser gives the Python worker "
                       f"(it declares {_declared(data)}); try a lower precision or a smaller crop",
            "rule": "out-of-memory", "entry": None,
        }}
    return {
        "info": page_info(dataset.info),
        "layers": dataset.layers,
        "overlay": dataset.overlay_bytes,
        "overlaySize": list(dataset.overlay_size) if dataset.overlay_size else None,
        "decodeMs": (time.perf_counter() - started) * 1000.0,
    }
