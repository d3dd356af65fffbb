"""IFeaLiD: read, write and validate feature-localisation datasets.

>>> import ifealid
>>> ifealid.save_dataset(features, "layer3.zip", precision=8, overlay="image.jpg")
>>> ds = ifealid.load_dataset("layer3.zip"); ds.values().shape
>>> ifealid.save_features(model, "image.jpg", "layer3.zip", layer="layer3")  # needs ifealid[extract]
>>> ifealid.similarity_map("layer3.zip", refs=[(10, 4)], metric="cosine", values="centred")
>>> ifealid.pca("layer3.zip", components=(1, 2, 3)).rgb      # (H, W, 3) in [0, 1]
>>> a, b = ifealid.similarity_maps(["a.zip", "b.zip"], refs=[(0, 10, 4)], values="centred")
>>> ifealid.best_matches(b, k=3, radius=4)                    # [(x, y, value), ...] in b
"""
from __future__ import annotations

import sys
import types

# Every name is imported on first use (PEP 562), so that `import ifealid.reader` and the other
# modules the Pyodide worker runs before numpy is imported (app/quickopen.py) do not import
# numpy through this package's __init__.
_EXPORTS = {
    "channel_stats": "analysis", "label_components": "analysis", "reference_vectors": "analysis",
    "similarity_map": "analysis", "similarity_mask": "analysis", "value_array": "analysis",
    "best_matches": "compare", "joint_values": "compare", "similarity_maps": "compare",
    "Dataset": "dataset", "ConstantDataWarning": "errors", "DatasetError": "errors",
    "DatasetInfo": "format", "PCAResult": "pca", "pca": "pca", "dequantise": "quantise",
    "quantise": "quantise", "read_dataset": "reader", "read_info": "reader",
    "save_dataset": "writer", "write_quantised": "writer",
}

__version__ = "0.1.0"


# Feature extraction needs torch (the `extract` extra); app/extract.py imports it only inside its
# functions, and is imported here only when one of these names is first used, so `import ifealid`
# (and the Pyodide worker) never needs torch.
_EXTRACT_EXPORTS = ("capture", "extract_images", "load_model", "preprocess", "save_features")


# The notebook viewer needs anywidget (the `notebook` extra): imported on first use too, so
# `import ifealid` never imports anywidget.
_NOTEBOOK_EXPORTS = ("Viewer", "view")


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _EXTRACT_EXPORTS:
        from . import extract

        return getattr(extract, name)
    if name == "Viewer":
        from .viewer import Viewer

        return Viewer
    if name == "view":
        from .notebook import view

        return view
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_dataset(path, **kwargs):
    """Read and validate a dataset ZIP (path, bytes or file object); see ``read_dataset``."""
    from .reader import read_dataset

    return read_dataset(path, **kwargs)


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """`ifealid.pca` and `ifealid.quantise` are functions, as the eager `from .pca import pca`
    made them: importing the submodule of that name (which sets it on the package) keeps them."""

    def __setattr__(self, name, value):
        if name in _EXPORTS and _EXPORTS[name] == name and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "ConstantDataWarning",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "PCAResult",
    "best_matches",
    "channel_stats",
    "dequantise",
    "label_components",
    "joint_values",
    "load_dataset",
    "pca",
    "quantise",
    "read_dataset",
    "read_info",
    "reference_vectors",
    "save_dataset",
    "similarity_map",
    "similarity_maps",
    "similarity_mask",
    "value_array",
    "write_quantised",
    *_EXTRACT_EXPORTS,
    *_NOTEBOOK_EXPORTS,
]
