"""Datasets: manifests of (sample id, file, label, factors) read from real on-disk formats."""

from robustscope.data.base import Dataset, read_image

__all__ = ["Dataset", "read_image"]
