"""The model every adapter returns: a classifier over [0,1] pixels that carries its preprocessing and labels."""

from __future__ import annotations

import hashlib
import json
import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from robustscope.errors import LabelSpaceError
from robustscope.models.preprocessing import Preprocessing


def label_names(labels: Sequence[Any]) -> list[str]:
    """Class names, one per logit, as strings: integers (``list(range(10))``) become ``"0"``, ``"1"``, …

    Anything else but strings and integers (floats, ``None``, nested lists) and duplicates (after
    conversion: ``[1, "1"]``) raise :class:`~robustscope.errors.LabelSpaceError`.

    Example:
        >>> label_names(range(3))
        ['0', '1', '2']
    """
    names = []
    for label in labels:
        if isinstance(label, bool) or not isinstance(label, (str, numbers.Integral)):
            raise LabelSpaceError(
                f"model label {label!r} is a {type(label).__name__}: labels must be class names (str) or integers; "
                "pass labels=[...] with one name per logit"
            )
        names.append(str(int(label)) if isinstance(label, numbers.Integral) else label)
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})[:5]
        raise LabelSpaceError(f"model labels must be unique, repeated: {repeated}; pass one distinct name per logit")
    return names


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` on ``[B,C,H,W]`` tensors, as a module so it travels with the model.

    One mean/std value per channel: three for RGB models, one for grayscale ones.

    Example:
        >>> Normalize([0.5], [0.25])(torch.full((1, 1, 2, 2), 1.0)).flatten().tolist()
        [2.0, 2.0, 2.0, 2.0]
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


class Model(nn.Module):
    """An image classifier in [0,1] pixel space.

    ``forward(images)`` takes ``[B, C, H, W]`` float tensors in [0, 1] (already resized and cropped
    with :attr:`preprocessing`; ``C = preprocessing.channels``, 3 or 1) and returns logits
    ``[B, len(labels)]``. Normalisation with the preprocessing's mean/std happens inside, so shifts
    and attacks act on raw pixels.

    Attributes:
        name: the spec it was loaded from (``timm:resnet18``, ``file:model.safetensors``, …).
        preprocessing: resize/crop/interpolation/mean/std.
        labels: class names, one per logit. Integer labels (``list(range(10))``) are accepted and
            stored as strings (``"0"`` … ``"9"``), the way a folder dataset names its classes.
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
        version: str | None = None,
    ):
        super().__init__()
        self.network = network
        self.normalize = Normalize(preprocessing.mean, preprocessing.std)
        self.preprocessing = preprocessing
        self.labels = label_names(labels)
        self.name = name
        self.label_space = label_space
        self.metadata = dict(metadata or {})
        # Identifies code that cannot be hashed (a class defined in a REPL); always in the fingerprint.
        self.version = version

    @classmethod
    def from_module(
        cls,
        module: nn.Module,
        preprocessing: Preprocessing | None = None,
        labels: Sequence[str | int] = (),
        name: str | None = None,
        label_space: str = "custom",
        version: str | None = None,
        head: str | None = None,
    ) -> Model:
        """Wrap any ``nn.Module`` that maps normalised ``[B,C,H,W]`` images to logits.

        ``version`` names the network's code where its source cannot be read (see :meth:`fingerprint`).
        ``head`` is the dotted path of the network's final ``nn.Linear`` (``"fc"``, ``"classifier.6"``), kept
        in ``metadata["head"]``: where :func:`robustscope.models.features.split_model` cuts off the features.

        Without ``preprocessing=`` the defaults are assumed (224 px, crop 0.875, bicubic, ImageNet
        mean/std) and a warning names them: pass the network's own :class:`Preprocessing`.

        Example:
            >>> from torch import nn
            >>> pre = Preprocessing(input_size=8, crop_pct=1.0)
            >>> m = Model.from_module(nn.Conv2d(3, 3, 1), preprocessing=pre, labels=["a", "b", "c"])
            >>> m.num_classes
            3
        """
        labels = list(labels)
        if not labels:
            raise LabelSpaceError("labels=[...] is required: one class name per logit")
        if head is not None:
            from robustscope.models.head_paths import check_head_path

            check_head_path(module, head, len(labels))
        return cls(
            module,
            preprocessing or Preprocessing(),
            labels,
            name=name or f"module:{type(module).__name__}",
            label_space=label_space,
            metadata={"head": head} if head is not None else None,
            version=version,
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
            >>> pre = Preprocessing(input_size=8, crop_pct=1.0)
            >>> Model.from_module(nn.Identity(), preprocessing=pre, labels=["cat", "dog"]).label_index()
            {'cat': 0, 'dog': 1}
        """
        from robustscope.models.labels import label_aliases

        names = {label: i for i, label in enumerate(self.labels)}
        return {**label_aliases(self.label_space, self.num_classes), **names}

    def fingerprint(self) -> str:
        """A hash of what the model computes: the model part of every cache key.

        It covers the weights (and non-persistent buffers), preprocessing, labels, name, ``version``
        and the network's code: module tree, class names, the source of user-defined module classes
        and TorchScript code (:func:`robustscope.models.code_digest.network_code_digest`). A class
        whose source cannot be read is warned about once; pass ``version=`` to tell its versions apart.

        Example:
            >>> from torch import nn
            >>> pre = Preprocessing(input_size=8, crop_pct=1.0)
            >>> a = Model.from_module(nn.Linear(2, 2), preprocessing=pre, labels=["x", "y"])
            >>> b = Model.from_module(nn.Linear(2, 2), preprocessing=pre, labels=["x", "y"])
            >>> a.fingerprint() == b.fingerprint()  # different random weights
            False
        """
        from robustscope.models.code_digest import network_code_digest

        # Recomputed on every call (weights may change after training); callers keep it per run.
        digest = hashlib.sha256()
        # A subclass of Model may override forward: its code counts like the network's.
        subclasses = tuple(c for c in type(self).__mro__ if issubclass(c, Model) and c is not Model)
        header = {
            "name": self.name,
            "preprocessing": self.preprocessing.to_dict(),
            "labels": self.labels,
            "label_space": self.label_space,
            "version": self.version,
            "code": network_code_digest(self.network, subclasses, versioned=self.version is not None),
        }
        digest.update(json.dumps(header, sort_keys=True).encode())
        state = self.network.state_dict()
        # Non-persistent buffers are not in the state dict but still shape the outputs.
        transient = {name: buffer for name, buffer in self.network.named_buffers() if name not in state}
        for key, tensor in [*sorted(state.items()), *sorted(transient.items())]:
            digest.update(key.encode())
            digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()[:20]

    def describe(self, fingerprint: str | None = None) -> dict[str, Any]:
        """A JSON-able summary: name, fingerprint, preprocessing, the effective transform in words, the
        preprocessing values that were assumed (defaulted), label space, number of classes.

        Pass ``fingerprint`` when it is already computed (hashing large weights costs seconds).

        Example:
            >>> from torch import nn
            >>> pre = Preprocessing(input_size=8, crop_pct=1.0)
            >>> info = Model.from_module(nn.Identity(), preprocessing=pre, labels=["a"]).describe()
            >>> info["transform"].split("; ")[1:3], info["assumed"]
            (['resize shorter side to 8 (bicubic)', 'centre-crop 8×8'], ['interpolation', 'mean', 'std'])
        """
        return {
            "name": self.name,
            "fingerprint": fingerprint or self.fingerprint(),
            "preprocessing": self.preprocessing.to_dict(),
            "transform": self.preprocessing.describe(),
            "assumed": list(self.preprocessing.assumed),
            "label_space": self.label_space,
            "num_classes": self.num_classes,
            **self.metadata,
        }
