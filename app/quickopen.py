"""What the Pyodide worker runs before numpy is imported, so that a dataset ZIP can be on screen
while numpy is still loading (importing it is a second of Python's start in the browser): the
ZIP checked by the reader's own rules short of decoding pixels (app/reader.py check_archive),
where each PNG's bytes lie for the page's decoders (glue/data/png.js, which inflate, check and
unfilter them in parallel; a PNG they refuse sends the ZIP to app/browser.py, read_dataset's
messages), and the channel statistics from the exact sums those decoders return. Also the
colour tables, the versions and the page's names for a dataset's description.

Imports no numpy (tests/test_quickopen.py checks), and Pillow only to read an overlay's header.
"""
from __future__ import annotations

import io

from .colormaps import DEFAULT_COLORMAP, colormap_names, lut_bytes
from .errors import DatasetError
from .format import DatasetInfo, png_name
from .reader import _open_zip, check_archive, check_overlay_entry
from .stats import stats_from_sums
from .streams import RandomAccessStream

# The worker lives in 32-bit WebAssembly (4 GB address space at most) and needs the
# ZIP, the decoded array and a copy for the transfer at once: keep well below.
BROWSER_MEMORY_BUDGET = 1024 ** 3

def runtime_versions() -> dict:
    """Python's, numpy's, Pillow's and this package's versions, without importing numpy or
    Pillow: theirs from the names of their installed metadata folders (name-version.dist-info)."""
    import os
    import sys

    from . import __version__

    versions = {"python": sys.version.split()[0]}
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                dist, _, version = name[: -len(".dist-info")].rpartition("-")
                key = dist.lower()
                if key in ("numpy", "pillow"):
                    versions.setdefault(key, version)
    versions["ifealid"] = __version__
    return versions


def page_info(info: DatasetInfo) -> dict:
    """The dataset's description as the page uses it (DATASET's info): the metadata's fields
    under their metadata.json names (``range``: [lo, hi], or None when the file records none),
    and the derived counts. The only place these names are written for the page; the worker
    posts this object as it is."""
    return {**info.to_metadata(), "range": list(info.range) if info.range is not None else None,
            "pngCount": info.png_count, "layerCount": info.layer_count}


def colormaps() -> dict:
    """Every colour table as 768 RGB bytes, for the page (the tables live only in Python)."""
    names = [DEFAULT_COLORMAP] + sorted(n for n in colormap_names() if n != DEFAULT_COLORMAP)
    return {name: lut_bytes(name) for name in names}


class JsFile(RandomAccessStream):
    """A seekable binary stream over a JavaScript Uint8Array (in Pyodide): each read copies only
    the bytes asked for into Python, so headers are read without copying the file, and a cube
    is read block by block (app/cube.py) without a copy of the whole file in the WebAssembly heap."""

    def __init__(self, data):
        super().__init__(int(data.length))
        self._data = data

    def _copy(self, start, view):
        self._data.subarray(start, start + len(view)).assign_to(view)


def is_js_array(data) -> bool:
    return hasattr(data, "subarray") and hasattr(data, "assign_to")


def stream_of(data):
    """A buffered binary stream over bytes, or (in Pyodide) over a JavaScript Uint8Array read through views."""
    return io.BufferedReader(JsFile(data), 1 << 16) if is_js_array(data) else io.BytesIO(bytes(data))


# Names app/inputs.py identify() reads as something else than a dataset ZIP whatever they hold.
_OTHER_KINDS = (".npy", ".npz", ".h5", ".hdf5", ".he5", ".mat", ".hdr")
_HDF5_AT_512 = b"\x89HDF\r\n\x1a\n"  # an HDF5 file with a user block of 512 bytes


def check_for_worker(name: str, data, memory_budget: int = BROWSER_MEMORY_BUDGET) -> dict:
    """A dataset ZIP (bytes, or a JavaScript Uint8Array read through views) checked by every rule
    read_dataset applies before it reads the overlay and decodes the PNGs (app/reader.py
    check_archive). Returns {"error": {...}}, read_dataset's message; {"other": true} for a file
    that is not surely a dataset ZIP as app/inputs.py identify() tells them apart (a ZIP without
    metadata.json may be an .npz or a zipped ENVI cube; names such as .npz or .h5 are read as
    what they say): app/browser.py opens those; or {"info": page_info(), "pngs": [entry of
    k.png for k = 0 … N-1]}, an entry being [offset of its local header, its stored length,
    compression method (0 stored, 8 deflate), CRC-32, inflated length] as the ZIP's central
    directory gives them. Next: overlay_for_worker, while the PNGs are decoded."""
    stream = stream_of(data)
    head = stream.read(520)
    stream.seek(0)
    if (not head.startswith(b"PK") or head[512:520] == _HDF5_AT_512
            or str(name).lower().endswith(_OTHER_KINDS)):
        return {"other": True}
    try:
        with _open_zip(stream) as archive:
            if "metadata.json" not in archive.namelist():
                return {"other": True}
            checked = check_archive(archive, memory_budget, overlay=False)
    except DatasetError as exc:
        return {"error": exc.to_dict()}
    entries = [checked.entries[png_name(k)] for k in range(checked.info.png_count)]
    return {
        "info": page_info(checked.info),
        "pngs": [[e.header_offset, e.compress_size, e.compress_type, e.CRC, e.file_size] for e in entries],
    }


def overlay_for_worker(data, memory_budget: int = BROWSER_MEMORY_BUDGET) -> dict:
    """The overlay of a ZIP check_for_worker passed, read and checked (read_dataset's next step):
    {"error": {...}}, or {"overlay": bytes or None, "overlaySize": [w, h] or None}."""
    try:
        with _open_zip(stream_of(data)) as archive:
            checked = check_overlay_entry(archive, check_archive(archive, memory_budget, overlay=False))
    except DatasetError as exc:
        return {"error": exc.to_dict()}
    return {"overlay": checked.overlay_bytes,
            "overlaySize": list(checked.overlay_size) if checked.overlay_size else None}


def stats_for_worker(pixels: int, sums, squares) -> dict:
    """{"mean", "std"}: lists of float64, from each channel's exact Σq and Σq² (ints, or decimal
    strings as the page's decoders send them) over `pixels` pixels (app/stats.py)."""
    if hasattr(sums, "to_py"):
        sums = sums.to_py()
    if hasattr(squares, "to_py"):
        squares = squares.to_py()
    mean, std = stats_from_sums(int(pixels), [int(s) for s in sums], [int(q) for q in squares])
    return {"mean": mean, "std": std}
