"""Cache keys of stored predictions: a hash of everything that determines a model's outputs on a dataset."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.models.base import Model
    from robustscope.shifts.base import Shift

#: Version of the PredictionStore's on-disk format; part of every key, so a format change never
#: reuses (or misreads) predictions written by older code. 2: shards and meta.json carry checksums.
STORE_FORMAT_VERSION = 2

#: Hex characters kept from the sha256 (96 bits: collisions are not a practical concern).
KEY_LENGTH = 24


def key_payload(
    model: Model,
    dataset: Dataset,
    shift: Shift,
    seed: int,
    *,
    model_fingerprint: str | None = None,
    dataset_fingerprint: str | None = None,
    max_image_pixels: int | None = None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """The JSON-able fields a prediction key hashes (handy to see *why* two keys differ).

    ``model_fingerprint``/``dataset_fingerprint`` let callers that already computed them skip
    re-hashing the weights and the manifest. ``max_image_pixels`` decides which images are read and
    which are skipped as possible decompression bombs, so a limit other than PIL's default is part of
    the key (the default adds nothing, so keys made without a limit stay as they were). So is a
    forward-pass ``precision`` other than ``"fp32"`` (half-precision logits differ from float32 ones;
    float32 adds nothing, so every key stored before precisions existed still hits).
    """
    payload: dict[str, Any] = {
        "format_version": STORE_FORMAT_VERSION,
        "model": {
            "name": model.name,
            "fingerprint": model_fingerprint or model.fingerprint(),
            "preprocessing": model.preprocessing.to_dict(),
            "labels": list(model.labels),
        },
        "dataset": {"name": dataset.name, "fingerprint": dataset_fingerprint or dataset.fingerprint()},
        "shift": shift.key(),
        "seed": int(seed),
    }
    if max_image_pixels is not None:
        payload["max_image_pixels"] = int(max_image_pixels)
    if precision != "fp32":
        payload["precision"] = str(precision)
    return payload


def prediction_key(
    model: Model,
    dataset: Dataset,
    shift: Shift,
    seed: int,
    *,
    model_fingerprint: str | None = None,
    dataset_fingerprint: str | None = None,
    max_image_pixels: int | None = None,
    precision: str = "fp32",
) -> str:
    """The PredictionStore key of (model, dataset, shift, seed): 24 hex chars of a sha256.

    The model's fingerprint (weights, code, preprocessing, labels, name, version: see
    :meth:`~robustscope.models.base.Model.fingerprint`) and the dataset's (manifest and file
    contents, hashed through the workspace's stat index unless ``dataset_fingerprint`` is given:
    see :meth:`~robustscope.data.base.Dataset.fingerprint`) are always part of the key, so two
    different models, or a dataset whose images were overwritten, never share cached predictions.

    Example:
        >>> import pandas as pd
        >>> from torch import nn
        >>> from robustscope.data import Dataset
        >>> from robustscope.models import Model, Preprocessing
        >>> from robustscope.shifts import Identity
        >>> model = Model.from_module(nn.Linear(2, 2), labels=["a", "b"],
        ...                           preprocessing=Preprocessing(input_size=2, crop_pct=1.0))
        >>> data = Dataset("toy", "/nonexistent", ["a", "b"],
        ...                pd.DataFrame({"sample_id": ["x"], "path": ["x.png"], "label": [0]}))
        >>> key = prediction_key(model, data, Identity(), seed=0)
        >>> len(key), key == prediction_key(model, data, Identity(), seed=1)
        (24, False)
        >>> key == prediction_key(model, data, Identity(), seed=0, precision="bf16")
        False
    """
    payload = key_payload(
        model,
        dataset,
        shift,
        seed,
        model_fingerprint=model_fingerprint,
        dataset_fingerprint=dataset_fingerprint,
        max_image_pixels=max_image_pixels,
        precision=precision,
    )
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]
