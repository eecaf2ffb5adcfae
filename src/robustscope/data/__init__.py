"""Datasets: manifests of (sample id, file, label, factors) read from real on-disk formats."""

from robustscope.data.base import Dataset, read_image
from robustscope.data.registry import DATASET_SCHEMES, load_dataset

__all__ = ["DATASET_SCHEMES", "Dataset", "load_dataset", "read_image"]
