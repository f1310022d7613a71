"""Datasets and the device-resident batch loader.

`load_dataset(DataConfig(...), device)` returns the splits as uint8 tensors on the device;
`DeviceLoader` turns a split into normalized, augmented batches there. The registry lists the
datasets (`list_datasets`, `ablate datasets`) and accepts new ones (`register_dataset`).
"""

from ablate.data import sources as _sources  # noqa: F401  (registers the built-in datasets)
from ablate.data.datasets import DataConfig, Split, Splits, load_dataset
from ablate.data.loader import DeviceLoader, augment_batch, normalize_batch
from ablate.data.registry import DatasetInfo, RawData, get_dataset, list_datasets, register_dataset

__all__ = [
    "DataConfig",
    "DatasetInfo",
    "DeviceLoader",
    "RawData",
    "Split",
    "Splits",
    "augment_batch",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "normalize_batch",
    "register_dataset",
]
