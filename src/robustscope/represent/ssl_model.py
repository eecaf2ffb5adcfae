"""A self-supervised model on disk: SimCLR on a dataset's images, then a linear-probe head, saved as a checkpoint.

SimCLR never sees a label; the saved model's head is the linear probe (:func:`robustscope.metrics.linear_probe`,
scaler folded in) fitted on the frozen features of the same images, so ``load_model("file:OUT")`` is a classifier
like any other (every axis runs on it) and its penultimate features are the self-supervised ones (the
representation axis evaluates those).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustscope.data.base import Dataset
from robustscope.metrics.linear_probe import linear_probe
from robustscope.models.preprocessing import Preprocessing
from robustscope.represent.simclr import PosePairs, train_ssl

__all__ = ["train_ssl_model"]


def _features(model: Any, images: torch.Tensor) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return torch.cat([model.network.forward_features(model.normalize(images[i : i + 256].float() / 255))
                          for i in range(0, len(images), 256)]).numpy()  # fmt: skip


def train_ssl_model(
    dataset: Dataset,
    out_dir: str | Path,
    *,
    epochs: int = 30,
    seed: int = 0,
    image_size: int = 64,
    arch_kwargs: dict[str, Any] | None = None,
    pairs: PosePairs | None = None,
    lie_weight: float = 0.0,
    progress: bool = True,
) -> Path:
    """Train SimCLR on ``dataset``'s images, fit the probe head on its labels, save ``model.safetensors`` and
    ``config.json`` (``arch: smallcnn``) to ``out_dir``; return it.

    Example:
        >>> import pandas as pd, tempfile, pathlib
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for i in range(16):
        ...     Image.new("RGB", (16, 16), ["red", "blue"][i % 2]).save(root / f"{i}.png")
        >>> ds = Dataset("toy", root, ["red", "blue"], pd.DataFrame({"sample_id": [str(i) for i in range(16)],
        ...     "path": [f"{i}.png" for i in range(16)], "label": [i % 2 for i in range(16)]}))
        >>> out = train_ssl_model(ds, root / "ssl", epochs=1, image_size=16, arch_kwargs={"width": 4, "depth": 2},
        ...                       progress=False)
        >>> from robustscope.models import load_model
        >>> load_model(f"file:{out}").labels
        ['red', 'blue']
    """
    from robustscope.train.trainer import CHECKPOINT_FORMAT, load_images, save_checkpoint

    started = time.perf_counter()
    preprocessing = Preprocessing(input_size=image_size, crop_pct=1.0)
    images = load_images(dataset, preprocessing, progress=progress)
    labels = dataset.manifest["label"].to_numpy()
    kwargs = dict(arch_kwargs or {"width": 32, "depth": 3})
    result = train_ssl(images, list(dataset.classes), pairs=pairs, lie_weight=lie_weight, epochs=epochs, seed=seed,
                       arch_kwargs=kwargs, batch_size=min(128, len(images)), progress=progress)  # fmt: skip
    features = _features(result.model, images)
    probe = linear_probe(features, labels, features[:1], seed=seed)
    weight = np.zeros((len(dataset.classes), features.shape[1]), np.float32)
    bias = np.full(len(dataset.classes), -1e4, np.float32)  # a class absent from the data never wins
    weight[probe.classes], bias[probe.classes] = probe.weight, probe.bias
    network = result.model.network
    network.head.weight.data = torch.from_numpy(weight)
    network.head.bias.data = torch.from_numpy(bias)
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    head = {"protocol": "linear probe (robustscope.metrics.linear_probe)", "c": probe.c,
            "held_out_accuracy": probe.held_out_accuracy}
    training = {**result.settings, "head": head, "history": result.history,
                "seconds": round(time.perf_counter() - started, 2), "torch_version": torch.__version__}
    config = {
        "format": CHECKPOINT_FORMAT,
        "arch": "smallcnn",
        "arch_kwargs": kwargs,
        "labels": list(dataset.classes),
        "label_space": "custom",
        "preprocessing": preprocessing.to_dict(),
        "training": training,
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint(), "num_samples": len(dataset)},
    }
    return save_checkpoint(out_dir, state, config)
