"""Penultimate features and the final linear head of any :class:`~robustscope.models.base.Model`.

Last-layer methods (DFR, last-layer retraining, Last Layer Ensembles) retrain or replace only a model's final
linear layer, on features computed once. :func:`split_model` cuts a model into ``features(images) -> [B, D]``
(on [0,1] pixels, normalisation inside, exactly as ``Model.forward``) and a linear head (``weight [K, D]``,
``bias [K]``) such that ``head(features(x))`` reproduces ``model(x)``.

Where the head is found (:func:`head_path`):

- ``Model.from_module(..., head="fc")`` and every adapter record the dotted path of the final ``nn.Linear``
  in ``model.metadata["head"]`` (:func:`head_path_of`: ``fc``, ``classifier.6``, ``heads.head``, timm's
  ``get_classifier()``, SmallCNN's ``head``); the features are the network with that submodule replaced by
  ``nn.Identity`` in a shallow copy (the model itself is never changed; the weights are shared, not copied).
- open_clip zero-shot models: the features are the normalised image embedding, the head's weight the class
  text embeddings times the logit scale, its bias 0.
- otherwise the last ``nn.Linear`` whose ``out_features`` is the number of labels.

Every split is checked on a random batch (``head(features(x))`` against ``model(x)``) before it is returned;
compiled formats (``torch.export`` ``.pt2``, TorchScript) cannot be cut and raise
:class:`~robustscope.errors.FeatureSplitError`, as does a split that does not reproduce the logits.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from robustscope.errors import FeatureSplitError
from robustscope.models.base import Model
from robustscope.models.clip_adapter import ZeroShotClassifier
from robustscope.models.exported import ExportedNetwork
from robustscope.models.head_paths import check_head_path, head_path_of

__all__ = ["ZERO_SHOT_HEAD", "FeatureHead", "check_head_path", "head_path", "head_path_of", "split_model"]

#: The head path of open_clip zero-shot models: their class embeddings (times the logit scale) are the head.
ZERO_SHOT_HEAD = "class_embeddings"
_COMPILED_FORMATS = ("torch.export", "torchscript")
#: Where torchvision classifiers keep their final layer (``classifier`` may be a Sequential ending in it).
@dataclass
class FeatureHead:
    """A model cut in two: ``features`` (a :class:`Model` whose outputs are the ``D`` penultimate features)
    and the final linear layer (``weight [K, D]``, ``bias [K]``; ``head`` is it as an ``nn.Linear``).

    ``weight``, ``bias`` and ``head`` are copies: training ``head`` leaves the model alone. ``features``
    shares the model's weights (and so its train/eval mode). ``labels`` are the model's, one per head row.

    Example:
        >>> from robustscope.models.preprocessing import Preprocessing
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
        >>> model = Model.from_module(net, Preprocessing(2, 1.0), ["a", "b"], head="3")
        >>> split = split_model(model)
        >>> x = torch.rand(4, 3, 2, 2)
        >>> split.dim, torch.allclose(split.head(split.features(x)), model(x), atol=1e-6)
        (5, True)
    """

    features: Model
    weight: torch.Tensor
    bias: torch.Tensor
    head_path: str
    labels: list[str]
    head: nn.Linear = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.weight = self.weight.detach().clone()
        self.bias = self.bias.detach().clone()
        self.head = nn.Linear(self.dim, len(self.labels), device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            self.head.weight.copy_(self.weight)
            self.head.bias.copy_(self.bias)

    @property
    def dim(self) -> int:
        """``D``, the number of features."""
        return int(self.weight.shape[1])

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``head(features(images))``: the model's logits through the split."""
        return F.linear(self.features(images), self.weight.to(images.device), self.bias.to(images.device))


class NormalisedEmbedding(nn.Module):
    """An image tower's embedding, L2-normalised as a zero-shot classifier normalises it before its head."""

    def __init__(self, image_encoder: nn.Module):
        super().__init__()
        self.image_encoder = image_encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        embedding = self.image_encoder(images)
        if isinstance(embedding, (tuple, list)):
            embedding = embedding[0]
        return F.normalize(embedding.float(), dim=-1)


def head_path(model: Model) -> str:
    """Where ``model``'s final linear head is (no forward pass): the recorded path, ``class_embeddings`` for a
    zero-shot model, or the last ``nn.Linear`` with one output per label. :func:`split_model` checks it.

    Example:
        >>> from robustscope.models.preprocessing import Preprocessing
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
        >>> head_path(Model.from_module(net, Preprocessing(2, 1.0), ["a", "b"]))
        '3'
    """
    network, num_classes = model.network, model.num_classes
    kind = model.metadata.get("format")
    if isinstance(network, (torch.jit.ScriptModule, ExportedNetwork)) or kind in _COMPILED_FORMATS:
        kind = kind if kind in _COMPILED_FORMATS else type(network).__name__
        raise FeatureSplitError(
            f"model {model.name!r}: penultimate features are not available for {kind} models (their graph is "
            "compiled, so the final layer cannot be cut off); load the network's code and weights (a "
            "safetensors checkpoint with a config.json naming its arch, or the module itself) and wrap it "
            "with Model.from_module(network, preprocessing=..., labels=[...], head='fc'), naming its final nn.Linear"
        )
    if isinstance(network, ZeroShotClassifier):
        return ZERO_SHOT_HEAD
    recorded = model.metadata.get("head")
    if recorded:
        check_head_path(network, str(recorded), num_classes)
        return str(recorded)
    linears = [
        name
        for name, module in network.named_modules()
        if name and isinstance(module, nn.Linear) and module.out_features == num_classes
    ]
    if not linears:
        raise FeatureSplitError(
            f"model {model.name!r}: no nn.Linear with {num_classes} outputs (one per label) in its "
            f"{type(network).__name__} network, so its features and head cannot be found; wrap it with "
            "Model.from_module(network, preprocessing=..., labels=[...], head='path.of.final.linear')"
        )
    return linears[-1]


def split_model(model: Model, *, check: bool = True) -> FeatureHead:
    """Cut ``model`` into penultimate features and its final linear head (see the module docstring).

    ``check`` (default) runs ``model`` and the split on two random images and raises
    :class:`FeatureSplitError` unless ``head(features(x))`` matches ``model(x)``: a wrong split is never
    returned silently. ``model`` is not changed (its train/eval mode is restored after the check).

    Example:
        >>> from robustscope.models.preprocessing import Preprocessing
        >>> from robustscope.models.smallcnn import SmallCNN
        >>> model = Model.from_module(SmallCNN(3, width=4), Preprocessing(16, 1.0), ["a", "b", "c"])
        >>> split = split_model(model)
        >>> split.head_path, split.dim, split.features(torch.rand(2, 3, 16, 16)).shape
        ('head', 32, torch.Size([2, 32]))
    """
    path = head_path(model)
    network = model.network
    if path == ZERO_SHOT_HEAD:
        assert isinstance(network, ZeroShotClassifier)
        trunk: nn.Module = NormalisedEmbedding(network.image_encoder)
        weight = network.logit_scale * network.class_embeddings
        bias = torch.zeros(len(weight), device=weight.device, dtype=weight.dtype)
    else:
        linear = check_head_path(network, path, model.num_classes)
        trunk = _without(network, path)
        weight = linear.weight
        bias = linear.bias if linear.bias is not None else torch.zeros_like(weight[:, 0])
    names = [f"feature_{i}" for i in range(weight.shape[1])]
    metadata = {"source": "features", "model": model.name, "head": path}
    features = Model(trunk, model.preprocessing, names, f"{model.name}#features", "features", metadata, model.version)
    features.normalize.to(model.normalize.mean.device)
    split = FeatureHead(features, weight, bias, path, list(model.labels))
    if check:
        _check(model, split)
    return split


def _shallow_copy(module: nn.Module) -> nn.Module:
    """A new module object over the same parameters, buffers and children (its dicts copied, not shared)."""
    clone = type(module).__new__(type(module))
    clone.__dict__.update({k: (copy.copy(v) if isinstance(v, dict) else v) for k, v in module.__dict__.items()})
    return clone


def _without(network: nn.Module, path: str) -> nn.Module:
    """``network`` with the submodule at ``path`` replaced by ``nn.Identity``, copying only the modules on the path."""
    *parents, last = path.split(".")
    root = parent = _shallow_copy(network)
    for name in parents:
        child = _shallow_copy(parent._modules[name])  # type: ignore[arg-type]
        parent._modules[name] = child
        parent = child
    parent._modules[last] = nn.Identity()
    return root


@contextlib.contextmanager
def _eval_mode(*roots: nn.Module) -> Iterator[None]:
    modes = {module: module.training for root in roots for module in root.modules()}
    try:
        for root in roots:
            root.eval()
        yield
    finally:
        for module, mode in modes.items():
            module.training = mode


def _check(model: Model, split: FeatureHead) -> None:
    pre = model.preprocessing
    mean = model.normalize.mean
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    images = torch.rand(2, pre.channels, pre.input_size, pre.input_size, generator=torch.Generator().manual_seed(0))
    images = images.to(mean.device, dtype)
    problem = ""
    with torch.no_grad(), _eval_mode(model, split.features):
        expected = model(images).float()
        try:
            features = split.features(images)
            if features.shape != (2, split.dim):
                problem = f"features of shape {tuple(features.shape)}, expected (2, {split.dim})"
            else:
                got = F.linear(features.float(), split.weight.float(), split.bias.float())
                scale = max(1.0, float(expected.abs().max()))
                if not torch.allclose(got, expected, rtol=1e-3, atol=1e-3 * scale):
                    problem = f"logits differ by up to {float((got - expected).abs().max()):.3g}"
        except Exception as err:  # a layer in the middle: what follows it no longer fits
            problem = f"the features fail: {type(err).__name__}: {err}"
    if problem:
        raise FeatureSplitError(
            f"model {model.name!r}: cutting off {split.head_path!r} as the final linear head does not reproduce "
            f"the model ({problem}): it is not the last operation. Wrap the network with Model.from_module(network, "
            "preprocessing=..., labels=[...], head='path.of.final.linear') naming the layer that computes the logits"
        )
