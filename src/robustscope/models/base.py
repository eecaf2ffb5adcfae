"""The model every adapter returns: a classifier over [0,1] pixels that carries its preprocessing and labels."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from robustscope.models.preprocessing import Preprocessing


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` on ``[B,3,H,W]`` tensors, as a module so it travels with the model."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


class Model(nn.Module):
    """An image classifier in [0,1] pixel space.

    ``forward(images)`` takes ``[B, 3, H, W]`` float tensors in [0, 1] (already resized and cropped
    with :attr:`preprocessing`) and returns logits ``[B, len(labels)]``. Normalisation with the
    preprocessing's mean/std happens inside, so shifts and attacks act on raw pixels.

    Attributes:
        name: the spec it was loaded from (``timm:resnet18``, ``file:model.safetensors``, …).
        preprocessing: resize/crop/interpolation/mean/std.
        labels: class names, one per logit.
        label_space: a short tag for the label space (``imagenet-1k``, ``custom``, …).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from robustscope.models import Model, Preprocessing
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
        >>> model = Model.from_module(net, preprocessing=Preprocessing(input_size=8, crop_pct=1.0),
        ...                           labels=["cat", "dog"])
        >>> model(torch.rand(4, 3, 8, 8)).shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        network: nn.Module,
        preprocessing: Preprocessing,
        labels: Sequence[str],
        name: str = "module",
        label_space: str = "custom",
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__()
        if len(set(labels)) != len(labels):
            raise ValueError("model labels must be unique")
        self.network = network
        self.normalize = Normalize(preprocessing.mean, preprocessing.std)
        self.preprocessing = preprocessing
        self.labels = list(labels)
        self.name = name
        self.label_space = label_space
        self.metadata = dict(metadata or {})

    @classmethod
    def from_module(
        cls,
        module: nn.Module,
        preprocessing: Preprocessing | None = None,
        labels: Sequence[str] = (),
        name: str | None = None,
        label_space: str = "custom",
    ) -> Model:
        """Wrap any ``nn.Module`` that maps normalised ``[B,3,H,W]`` images to logits.

        Example:
            >>> from torch import nn
            >>> m = Model.from_module(nn.Conv2d(3, 3, 1), labels=["a", "b", "c"])
            >>> m.num_classes
            3
        """
        if not labels:
            raise ValueError("labels=[...] is required: one class name per logit")
        return cls(
            module,
            preprocessing or Preprocessing(),
            labels,
            name=name or f"module:{type(module).__name__}",
            label_space=label_space,
        )

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.network(self.normalize(images))
        if logits.ndim == 4:  # fully convolutional heads: pool away space
            logits = logits.mean(dim=(2, 3))
        return logits

    def label_index(self) -> dict[str, int]:
        """Map from class name (or an alias of the label space, e.g. an ImageNet WordNet id) to logit index.

        Example:
            >>> from torch import nn
            >>> Model.from_module(nn.Identity(), labels=["cat", "dog"]).label_index()
            {'cat': 0, 'dog': 1}
        """
        from robustscope.models.labels import label_aliases

        names = {label: i for i, label in enumerate(self.labels)}
        return {**label_aliases(self.label_space, self.num_classes), **names}

    def fingerprint(self) -> str:
        """A hash of the weights, preprocessing, labels and name: the model part of every cache key.

        Example:
            >>> from torch import nn
            >>> a = Model.from_module(nn.Linear(2, 2), labels=["x", "y"])
            >>> b = Model.from_module(nn.Linear(2, 2), labels=["x", "y"])
            >>> a.fingerprint() == b.fingerprint()  # different random weights
            False
        """
        # Recomputed on every call (weights may change after training); callers keep it per run.
        digest = hashlib.sha256()
        header = {
            "name": self.name,
            "preprocessing": self.preprocessing.to_dict(),
            "labels": self.labels,
            "label_space": self.label_space,
        }
        digest.update(json.dumps(header, sort_keys=True).encode())
        for key, tensor in sorted(self.network.state_dict().items()):
            digest.update(key.encode())
            digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()[:20]

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (name, fingerprint, preprocessing, label space, number of classes)."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint(),
            "preprocessing": self.preprocessing.to_dict(),
            "label_space": self.label_space,
            "num_classes": self.num_classes,
            **self.metadata,
        }
