"""Predictions of one model on one (shifted) dataset: what metrics are computed from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Predictions:
    """Logits, labels, sample ids and factors of one (model, dataset, shift, seed), in manifest order.

    Attributes:
        sample_ids: ``[N]`` str, the dataset's sample ids (skipped bad images are absent).
        logits: ``[N, K]`` float32.
        labels: ``[N]`` int64, index into :attr:`class_names` (the model's labels).
        factors: DataFrame with N rows, one column per dataset factor (values as strings).
        class_names: the model's labels, one per logit.

    Example:
        >>> import numpy as np, pandas as pd
        >>> p = Predictions(np.array(["a", "b"]), np.array([[2.0, 0.0], [0.0, 1.0]], dtype=np.float32),
        ...                 np.array([0, 1]), pd.DataFrame({"pose": ["front", "side"]}), ["cat", "dog"])
        >>> len(p), p.probs().sum(axis=1).round(6).tolist()
        (2, [1.0, 1.0])
    """

    sample_ids: np.ndarray
    logits: np.ndarray
    labels: np.ndarray
    factors: pd.DataFrame
    class_names: list[str]

    def __post_init__(self) -> None:
        self.sample_ids = np.asarray(self.sample_ids).astype(str)
        self.logits = np.asarray(self.logits, dtype=np.float32)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.factors = self.factors.reset_index(drop=True)
        self.class_names = list(self.class_names)
        n = len(self.sample_ids)
        if self.logits.ndim != 2 or self.logits.shape[0] != n:
            raise ValueError(f"logits must be [N={n}, K], got {self.logits.shape}")
        if self.logits.shape[1] != len(self.class_names):
            raise ValueError(f"logits have {self.logits.shape[1]} columns but {len(self.class_names)} class names")
        if self.labels.shape != (n,) or len(self.factors) != n:
            raise ValueError(f"labels {self.labels.shape} and factors ({len(self.factors)} rows) must have N={n}")

    def __len__(self) -> int:
        """N, the number of predicted samples."""
        return len(self.sample_ids)

    @property
    def num_classes(self) -> int:
        """K, the number of logits per sample."""
        return self.logits.shape[1]

    def probs(self) -> np.ndarray:
        """Softmax over classes, computed in float64 after subtracting the row max (no overflow)."""
        shifted = self.logits.astype(np.float64) - self.logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)

    def predicted(self) -> np.ndarray:
        """Top-1 class index per sample."""
        return self.logits.argmax(axis=1)
