"""IFeaLiD: read, write and validate feature-localisation datasets.

>>> import ifealid
>>> ifealid.save_dataset(features, "layer3.zip", precision=8, overlay="image.jpg")
>>> ds = ifealid.load_dataset("layer3.zip"); ds.values().shape
"""
from __future__ import annotations

from .dataset import Dataset
from .errors import ConstantDataWarning, DatasetError
from .format import DatasetInfo
from .quantise import dequantise, quantise
from .reader import read_dataset, read_info
from .writer import save_dataset, write_quantised

__version__ = "0.1.0"


def load_dataset(path, **kwargs) -> Dataset:
    """Read and validate a dataset ZIP (path, bytes or file object); see ``read_dataset``."""
    return read_dataset(path, **kwargs)


__all__ = [
    "ConstantDataWarning",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "dequantise",
    "load_dataset",
    "quantise",
    "read_dataset",
    "read_info",
    "save_dataset",
    "write_quantised",
]
