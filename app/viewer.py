"""``ifealid.Viewer``: the explorer in a Jupyter notebook, as an anywidget (issue 18).

Needs the ``notebook`` extra (anywidget; ipykernel 7.4 or later for the read-backs). The front
end is the page's own explorer and renderer, bundled into widget/widget.js
(scripts/build_widget.mjs); the kernel quantises the features as `ifealid create` does
(app/notebook.py) and sends the layers in chunks under the Jupyter server's 10 MiB message limit
when a view asks for them. Messages: glue/widget/widget.js.
"""
from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import anywidget
import numpy as np
import traitlets

from .notebook import CHUNK_BYTES, begin_message, layer_chunks, prepare

METRICS = ("angular", "cosine", "correlation", "euclidean", "dot")  # glue/model/view.js's
VALUES = ("stored", "true", "centred", "zscore")
MAX_PINS = 16
SYNCED = ("reference", "locked", "pins", "metric", "values", "view", "threshold")  # glue/widget/traits.js
REPLY_TIMEOUT = 60.0  # seconds a read-back waits for the front end


class Viewer(anywidget.AnyWidget):
    """The explorer on ``features``: hover, lock, pins, regions, colour maps, values and metrics,
    masks and the PCA view as on the page.

    ``features``: an (H, W, C), (C, H, W) or (1, C, H, W) numpy array or torch tensor (``layout``
    'hwc' or 'chw' where the shape does not tell; a tensor's default is 'chw'), a loaded dataset
    or a path (dataset ZIP, .npy, .npz, ENVI .hdr); ``image``: the overlay (a path, PIL image or
    array). Quantised at ``precision`` bits as `ifealid create` does; a wrong shape or dtype
    raises a ValueError.

    Synced both ways: ``reference`` (x, y) — set from Python it is locked there; None: the
    pointer's pixel takes no part —, ``locked``, ``pins`` [(x, y), ...], ``metric``, ``values``,
    ``view`` ('similarity', 'pca' or 'channel:K'), ``threshold`` (a number, or None: no mask).
    ``await viewer.map()``, ``await viewer.mask()`` and ``await viewer.save_png(path)`` read back
    from the front end: the viewer must be displayed (its cell's output on screen), and they are
    awaited because the kernel handles the front end's reply only while the cell awaits.
    """

    _esm = Path(__file__).parent / "widget" / "widget.js"

    reference = traitlets.Any(None, allow_none=True).tag(sync=True)
    locked = traitlets.Bool(False).tag(sync=True)
    pins = traitlets.List([]).tag(sync=True)
    metric = traitlets.Any("angular").tag(sync=True)
    values = traitlets.Any("stored").tag(sync=True)
    view = traitlets.Any("similarity").tag(sync=True)
    threshold = traitlets.Any(None, allow_none=True).tag(sync=True)
    height = traitlets.Int(560).tag(sync=True)  # of the widget, in CSS pixels

    def __init__(self, features, image=None, *, precision: int = 8, name: str | None = None,
                 layout: str | None = None, **traits):
        self._prepared = prepare(features, image, precision=precision, name=name, layout=layout)
        info = self._prepared.dataset.info
        self._width, self._height, self._features = info.width, info.height, info.features
        self._has_range = info.range is not None
        self._replies: dict[int, tuple] = {}
        self._waiting: set[int] = set()
        self._ids = itertools.count(1)
        self.chunk_bytes = CHUNK_BYTES
        self._set_here: set[str] = set()
        super().__init__(**traits)
        self.on_msg(self._on_message)
        self.observe(self._changed, names=list(SYNCED))

    @property
    def dataset(self):
        """The dataset shown (app/dataset.py): its info, stored layers, overlay."""
        return self._prepared.dataset

    # ------------------------------------------------------------ validation: clear ValueErrors

    def _pixel(self, value, what: str):
        try:
            x, y = value
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a pixel (x, y), not {value!r}") from None
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (x, y)):
            raise ValueError(f"{what} must be a pixel (x, y) of whole numbers, not {value!r}")
        if not (0 <= x < self._width and 0 <= y < self._height):
            raise ValueError(f"{what} {(int(x), int(y))} is off the map: x in 0…{self._width - 1}, "
                             f"y in 0…{self._height - 1}")
        return [int(x), int(y)]

    @traitlets.validate("reference")
    def _valid_reference(self, proposal):
        value = proposal["value"]
        return None if value is None else self._pixel(value, "reference")

    @traitlets.validate("pins")
    def _valid_pins(self, proposal):
        pins = [self._pixel(p, "a pin") for p in proposal["value"]]
        if len(pins) > MAX_PINS:
            raise ValueError(f"at most {MAX_PINS} pins, not {len(pins)}")
        return pins

    @traitlets.validate("metric")
    def _valid_metric(self, proposal):
        if proposal["value"] not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("values")
    def _valid_values(self, proposal):
        value = proposal["value"]
        if value not in VALUES:
            raise ValueError(f"values must be one of {', '.join(VALUES)}, not {value!r}")
        if value == "true" and not self._has_range:
            raise ValueError("values 'true' needs the range the dataset was quantised from, and this one records none")
        return value

    @traitlets.validate("view")
    def _valid_view(self, proposal):
        value = proposal["value"]
        if value in ("similarity", "pca"):
            return value
        if isinstance(value, str) and value.startswith("channel:") and value[8:].isdigit():
            k = int(value[8:])
            if k < self._features:
                return f"channel:{k}"
            raise ValueError(f"view {value!r}: the channels are 0…{self._features - 1}")
        raise ValueError(f"view must be 'similarity', 'pca' or 'channel:K', not {value!r}")

    @traitlets.validate("threshold")
    def _valid_threshold(self, proposal):
        value = proposal["value"]
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value):
            raise ValueError(f"threshold must be a finite number or None, not {value!r}")
        return float(value)

    # ------------------------------------------------------------ messages from the front end

    def _on_message(self, _widget, content, buffers):
        kind = content.get("type")
        if kind == "load":
            self._send_dataset()
        elif kind == "reply" and content.get("id") in self._waiting:  # the first view's answer counts
            self._waiting.discard(content["id"])
            self._replies[content["id"]] = (content, buffers)
        elif kind == "encode":
            self._encode(content, buffers)
        elif kind == "state":
            # The user's changes, applied as ipywidgets applies a front end's state update (so
            # they count as the front end's, and are not sent back); see glue/widget/widget.js.
            self.set_state({k: v for k, v in content.get("traits", {}).items() if k in SYNCED})

    def _send_dataset(self):
        head, buffers = begin_message(self._prepared, self.chunk_bytes)
        self.send(head, buffers)
        for chunk, data in layer_chunks(self.dataset.layers, self.chunk_bytes):
            self.send(chunk, [data])

    def _encode(self, content, buffers):
        # An export's file, made as the page's worker makes it (app/browser.py).
        from .browser import encode_for_worker

        try:
            data = encode_for_worker(content["what"], bytes(buffers[0]), content["arrayType"], content["shape"],
                                     content.get("meta"))
        except Exception as exc:  # noqa: BLE001 - said in the page, as the worker's ERROR is
            self.send({"type": "encoded", "id": content["id"], "ok": False, "error": str(exc)})
            return
        self.send({"type": "encoded", "id": content["id"], "ok": True, "error": None}, [data])

    # ------------------------------------------------------------ read-backs

    def _changed(self, change):
        # Which traits Python set (not the front end: ipywidgets locks those while it applies
        # them): a read-back carries these, so it answers for what Python last asked even where
        # the front end has not applied the trait messages yet.
        if change["name"] in self._property_lock:
            self._set_here.discard(change["name"])
        else:
            self._set_here.add(change["name"])

    def _state(self) -> dict:
        state = {k: getattr(self, k) for k in SYNCED if k in self._set_here}
        self._set_here.clear()
        return state

    async def _request(self, what: str, timeout: float):
        """Ask the front end for ``what`` and wait for its reply.

        A cell holds the kernel's shell while it runs, so the reply (a comm message) can only be
        handled while the cell *awaits*: ipykernel 7.4 dispatches comm messages beside an awaiting
        cell (a blocking wait would never see the reply, so there is none)."""
        import asyncio

        from IPython import get_ipython

        if getattr(get_ipython(), "kernel", None) is None:
            raise RuntimeError(f"viewer.{what}() reads from the viewer on screen: it needs a Jupyter kernel "
                               "and the viewer displayed")
        request_id = next(self._ids)
        self._waiting.add(request_id)
        self.send({"type": "request", "id": request_id, "what": what, "state": self._state()})
        deadline = time.monotonic() + timeout
        while request_id not in self._replies:
            if time.monotonic() > deadline:
                self._waiting.discard(request_id)
                raise TimeoutError(f"the viewer did not answer within {timeout:g} s: it must be displayed "
                                   "(show it in a cell's output, e.g. put `viewer` last in a cell) before "
                                   f"`await viewer.{what}()`")
            await asyncio.sleep(0.005)
        content, buffers = self._replies.pop(request_id)
        if not content.get("ok"):
            raise RuntimeError(f"the viewer could not read back the {what}: {content.get('error')}")
        return content, buffers

    async def map(self, timeout: float = REPLY_TIMEOUT) -> np.ndarray:
        """``await viewer.map()``: what the viewer shows before colouring, float32: the similarity map
        (H, W) in the metric's units, channel K's values, or the PCA view's scores (H, W, k). The
        viewer must be displayed."""
        content, buffers = await self._request("map", timeout)
        return np.frombuffer(bytes(buffers[0]), dtype="<f4").reshape(content["shape"]).copy()

    async def mask(self, timeout: float = REPLY_TIMEOUT) -> np.ndarray | None:
        """``await viewer.mask()``: the threshold's mask, (H, W) bool, or None without a threshold.
        The viewer must be displayed."""
        content, buffers = await self._request("mask", timeout)
        if not buffers:
            return None
        return np.frombuffer(bytes(buffers[0]), dtype=np.uint8).reshape(content["shape"]) != 0

    async def save_png(self, path, timeout: float = REPLY_TIMEOUT) -> Path:
        """``await viewer.save_png(path)``: the view as on screen (with its pins and regions) as a
        PNG; returns the path. The viewer must be displayed."""
        _, buffers = await self._request("png", timeout)
        path = Path(path)
        path.write_bytes(bytes(buffers[0]))
        return path
