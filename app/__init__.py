"""IFeaLiD: read, write and validate feature-localisation datasets.

>>> import ifealid
>>> ifealid.save_dataset(features, "layer3.zip", precision=8, overlay="image.jpg")
>>> ds = ifealid.load_dataset("layer3.zip"); ds.values().shape
>>> ifealid.save_features(model, "image.jpg", "layer3.zip", layer="layer3")  # needs ifealid[extract]
>>> ifealid.similarity_map("layer3.zip", refs=[(10, 4)], metric="cosine", values="centred")
>>> ifealid.pca("layer3.zip", components=(1, 2, 3)).rgb      # (H, W, 3) in [0, 1]
"""
from __future__ import annotations

from .analysis import (
    channel_stats,
    label_components,
    reference_vectors,
    similarity_map,
    similarity_mask,
    value_array,
)
from .dataset import Dataset
from .errors import ConstantDataWarning, DatasetError
from .format import DatasetInfo
from .pca import PCAResult, pca
from .quantise import dequantise, quantise
from .reader import read_dataset, read_info
from .writer import save_dataset, write_quantised

__version__ = "0.1.0"


# Feature extraction needs torch (the `extract` extra); app/extract.py imports it only inside its
# functions, and is imported here only when one of these names is first used, so `import ifealid`
# (and the Pyodide worker) never needs torch.
_EXTRACT_EXPORTS = ("capture", "extract_images", "load_model", "preprocess", "save_features")


def __getattr__(name: str):
    if name in _EXTRACT_EXPORTS:
        from . import extract

        return getattr(extract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_dataset(path, **kwargs) -> Dataset:
    """Read and validate a dataset ZIP (path, bytes or file object); see ``read_dataset``."""
    return read_dataset(path, **kwargs)


__all__ = [
    "ConstantDataWarning",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "PCAResult",
    "channel_stats",
    "dequantise",
    "label_components",
    "load_dataset",
    "pca",
    "quantise",
    "read_dataset",
    "read_info",
    "reference_vectors",
    "save_dataset",
    "similarity_map",
    "similarity_mask",
    "value_array",
    "write_quantised",
    *_EXTRACT_EXPORTS,
]
