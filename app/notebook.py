"""Features from a notebook or a script into the explorer (issue 18), without anywidget.

``prepare`` turns what a notebook holds (a numpy array, a torch tensor, a loaded dataset, a file)
into the dataset the page shows, quantised by `ifealid create`'s code (app/cube.py ``convert``:
one global min and max in float64, NaN and ±inf masked, the ``range`` recorded), with the
fields of the worker's DATASET message (pyworker/protocol.js); ``layer_chunks`` cuts its layers
into the pieces the widget sends (app/viewer.py). ``view`` serves the repository's page for a
plain script. Neither imports anywidget, and none of this is shipped to the browser's Pyodide.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis import channel_stats
from .dataset import Dataset
from .errors import DatasetError
from .inputs import RandomAccessStream

# The Jupyter server's websocket takes messages of at most 10 MiB; each chunk of the layers is a
# message of its own with a small JSON head, so 4 MiB keeps well clear of it.
WEBSOCKET_LIMIT = 10 * 1024 * 1024
CHUNK_BYTES = 4 * 1024 * 1024

# Where `ifealid view` finds the page: the repository this module lies in (a checkout).
REPOSITORY = Path(__file__).resolve().parent.parent


@dataclass
class Prepared:
    """A dataset as the explorer gets it: ``dataset`` (info, (L, H, W, 4) layers, overlay),
    ``stats`` (each channel's exact mean and std of the stored integers) and ``notes`` (what the
    conversion decided: masked values, the layout read)."""

    dataset: Dataset
    stats: dict
    notes: list[str]


class _BufferStream(RandomAccessStream):
    """A seekable read-only stream over a buffer, copying only what each read asks for, so an
    in-memory array is converted block by block as a file would be (no copy of the whole)."""

    def __init__(self, buffer: memoryview):
        super().__init__(len(buffer))
        self._buffer = buffer

    def _copy(self, start, view):
        view[:] = self._buffer[start:start + len(view)]


def _is_tensor(value) -> bool:
    return hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy")


def as_array(features):
    """(numpy array, layout default): a torch tensor as numpy (on the CPU; bfloat16, which numpy
    lacks, as float32), whose layout defaults to (C, H, W) as torch's maps are; anything else
    through np.asarray, its layout by the rule of app/arrays.py."""
    if _is_tensor(features):
        tensor = features.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.float()
        return tensor.numpy(), "chw"
    try:
        return np.asarray(features), None
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"the features cannot be read as an array: {exc}", rule="dtype") from None


def array_cube(array: np.ndarray, name: str, layout: str | None):
    """The Cube (app/cube.py) that reads an in-memory array as `ifealid create` reads an .npy
    with the same dtype, shape and order: the same layout rule, dtype checks and notes."""
    from .arrays import NpyHeader, check_dtype, cube_of

    check_dtype(array.dtype, name)
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = np.ascontiguousarray(array)
    fortran = not array.flags.c_contiguous  # only then: a C-contiguous array may be F-contiguous too
    flat = (array.T if fortran else array).reshape(-1).view(np.uint8)  # the bytes in memory order
    header = NpyHeader(dtype=array.dtype, shape=tuple(array.shape), fortran=fortran, offset=0)
    opener = lambda: contextlib.closing(_BufferStream(memoryview(flat)))  # noqa: E731
    return cube_of(header, opener, name, layout)


def prepare(features, image=None, *, precision: int = 8, name: str | None = None, layout: str | None = None,
            budget: int | None = None) -> Prepared:
    """What the explorer shows for ``features``: an (H, W, C), (C, H, W) or (1, C, H, W) array or
    torch tensor (``layout``: 'hwc' or 'chw' where the shape does not tell; a tensor's default is
    'chw'), a loaded Dataset, or a path (a dataset ZIP, .npy, .npz, ENVI .hdr) or ZIP bytes.
    Arrays, tensors and files other than ZIPs are converted as `ifealid create` converts them at
    ``precision`` 8, 16 or 32 bits; ``image`` (a path, PIL image, array or bytes) becomes the
    overlay. Raises a ValueError (DatasetError) that says what is wrong with the input."""
    from .cube import convert
    from .inputs import check_options
    from .reader import DEFAULT_MEMORY_BUDGET, read_dataset
    from .writer import overlay_jpeg

    budget = DEFAULT_MEMORY_BUDGET if budget is None else budget
    options = check_options({"precision": precision, "layout": layout})
    notes: list[str] = []
    if isinstance(features, Dataset):
        dataset = dataclasses.replace(features)
    elif isinstance(features, (str, os.PathLike)):
        dataset, notes = _from_file(Path(features), options, budget)
    elif isinstance(features, (bytes, bytearray, memoryview)):
        dataset = read_dataset(bytes(features), memory_budget=budget)
    else:
        array, default = as_array(features)
        converted = convert(array_cube(array, name or "features", options["layout"] or default),
                            options["precision"], budget=budget)
        dataset, notes = converted.dataset, converted.notes
    if name is not None:
        dataset.info = dataclasses.replace(dataset.info, name=str(name))
    if image is not None:
        dataset.overlay_bytes, dataset.overlay_size = overlay_jpeg(image)
        dataset.info = dataclasses.replace(dataset.info, overlay=True)
    return Prepared(dataset, channel_stats(dataset.layers, dataset.info.features), notes)


def _from_file(path: Path, options: dict, budget: int):
    """A file as the page opens it: a dataset ZIP decoded, an .npy/.npz/ENVI cube converted."""
    from . import envi, inputs
    from .reader import read_dataset

    if not path.is_file():
        raise DatasetError(f"no such file: {path}", rule="not-found")
    files = [inputs.from_path(path)]
    if path.name.lower().endswith(".hdr"):
        for candidate in envi.data_candidates(path.name):
            if (path.parent / candidate).is_file():
                files.append(inputs.from_path(path.parent / candidate))
                break
    source = inputs.identify(files)
    if source is None:
        return read_dataset(path, memory_budget=budget), []
    if source.required(options):
        usable = [m.key for m in source.members if m.problem is None]
        raise DatasetError(f"{path} holds {len(usable)} arrays ({', '.join(usable)}): open one, e.g. "
                           f"numpy.load(path)[{usable[0]!r}]", rule="input")
    converted = inputs.convert_source(source, options, budget=budget)
    return converted.dataset, converted.notes


def begin_message(prepared: Prepared, chunk_bytes: int = CHUNK_BYTES) -> tuple[dict, list]:
    """The widget's `begin` message (glue/widget/widget.js): DATASET's info, the overlay's size,
    the layers' byte count and chunk count, the colour maps' names and the notes; its buffers:
    the stats' mean and std (float64, exact), the overlay's bytes (when there is one) and each
    colour table (768 RGB bytes), in the order of the names."""
    from .browser import colormaps, page_info

    dataset = prepared.dataset
    tables = colormaps()
    total = int(dataset.layers.nbytes)
    head = {
        "type": "begin",
        "info": page_info(dataset.info),
        "overlaySize": list(dataset.overlay_size) if dataset.overlay_bytes is not None else None,
        "bytes": total,
        "chunks": -(-total // chunk_bytes),
        "colormaps": list(tables),
        "notes": list(prepared.notes),
    }
    buffers = [np.ascontiguousarray(prepared.stats["mean"], dtype="<f8").tobytes(),
               np.ascontiguousarray(prepared.stats["std"], dtype="<f8").tobytes()]
    if dataset.overlay_bytes is not None:
        buffers.append(bytes(dataset.overlay_bytes))
    buffers.extend(bytes(t) for t in tables.values())
    return head, buffers


def layer_chunks(layers: np.ndarray, chunk_bytes: int = CHUNK_BYTES):
    """Yield (head, buffer) of each `chunk` message: the layers' bytes in order (little-endian,
    as the page's typed arrays), ``chunk_bytes`` at most each, as views (nothing copied)."""
    if chunk_bytes < 1 or chunk_bytes > WEBSOCKET_LIMIT - 64 * 1024:
        raise ValueError(f"a chunk must be 1 byte to {WEBSOCKET_LIMIT - 64 * 1024} bytes, not {chunk_bytes}")
    data = np.ascontiguousarray(layers)
    if data.dtype.byteorder == ">" or (data.dtype.byteorder == "=" and not np.little_endian):
        data = data.astype(data.dtype.newbyteorder("<"))
    flat = memoryview(data.reshape(-1).view(np.uint8))
    for index, offset in enumerate(range(0, len(flat), chunk_bytes)):
        yield {"type": "chunk", "index": index, "offset": offset}, flat[offset:offset + chunk_bytes]


# ---------------------------------------------------------------- ifealid.view (no Jupyter)

def _page_files(root: Path) -> Path:
    """The page's folder, or a RuntimeError saying why it cannot be served from here."""
    if not (root / "index.html").is_file() or not (root / "glue" / "app.js").is_file():
        raise RuntimeError(
            "ifealid.view serves the page from a checkout of the IFeaLiD repository, and this ifealid is "
            f"installed without it ({root} has no index.html): use ifealid.Viewer in Jupyter, or "
            "ifealid.save_dataset and scripts/run in a checkout")
    if not (root / "runtime" / "offline-manifest.json").is_file():
        raise RuntimeError(f"the page's Python runtime is not built in {root / 'runtime'}: run scripts/run once "
                           "(or .venv/bin/python scripts/build_runtime.py)")
    return root


@contextlib.contextmanager
def serving(features, image=None, *, root: Path | None = None, host: str = "127.0.0.1", port: int = 0, **options):
    """Serve the page with ``features`` as a temporary dataset ZIP beside it; yields the ?d= link
    that opens it. The ZIP and its folder are removed on exit."""
    import importlib.util
    import secrets

    from .writer import write_dataset

    root = _page_files(Path(root) if root is not None else REPOSITORY)
    spec = importlib.util.spec_from_file_location("ifealid_serve", root / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    prepared = prepare(features, image, **options)
    with tempfile.TemporaryDirectory(prefix="ifealid-view-") as folder:
        # An unguessable name: the ZIP is served only to whoever has the link.
        name = f"view-{secrets.token_hex(8)}.zip"
        zip_path = Path(folder) / name
        write_dataset(zip_path, prepared.dataset)
        served = f"/datasets/{name}"

        class Handler(serve.StaticHandler):
            # The page opens ?d=NAME.zip from datasets/ beside it: that one name is the temporary ZIP.
            def translate_path(self, path):
                if path.split("?", 1)[0] == served:
                    return str(zip_path)
                return super().translate_path(path)

        server = serve.make_server(root, host=host, port=port, handler_class=Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            bound_host, bound_port = server.server_address[:2]
            yield f"http://{bound_host}:{bound_port}/?d={name}"
        finally:
            server.shutdown()
            server.server_close()


def view(features, image=None, *, open_browser: bool = True, **options) -> None:
    """Show ``features`` in the page from a plain script or IPython (no Jupyter needed): writes a
    temporary dataset ZIP, serves the repository's page on 127.0.0.1 on a free port, opens the
    browser at its ?d= link and returns when stopped with Ctrl+C, removing the ZIP. ``options``:
    prepare()'s (precision, name, layout). Needs a checkout with its runtime built (scripts/run)."""
    import webbrowser

    with serving(features, image, **options) as link:
        print(f"IFeaLiD shows the features at {link}  (Ctrl+C stops)", flush=True)
        if open_browser:
            webbrowser.open(link)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
