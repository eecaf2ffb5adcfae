"""Mitigated models: a base model's penultimate features under a new linear head, saved as a folder ``file:`` loads.

A last-layer method (DFR, :mod:`robustscope.mitigate`) keeps a model's backbone and replaces its final linear
layer. What it saves is the new head and how to get the rest, never a copy of the backbone::

    out/config.json        {"format": "robustscope-mitigated/1",
                            "base": {"spec": "tv:resnet50", "options": {}, "fingerprint": "…"},
                            "head": {"path": "fc", "file": "head.safetensors", "in_features": D, "out_features": K},
                            "labels": [...], "label_space": "custom",
                            "method": {"name": "dfr", "params": {...}}}
    out/head.safetensors   weight [K, D], bias [K] (float32)

A Last Layer Ensemble's head (:class:`~robustscope.models.heads.EnsembleHead`) is saved as its state dict, with
``"kind": "ensemble"`` and ``"num_heads"`` in ``head``; it is rebuilt as that module (the model cannot be split
again: its head is not one linear layer).

``load_model("file:out")`` loads the base from its spec (with its options), checks that its fingerprint is still
the one recorded (:class:`~robustscope.errors.CheckpointError` otherwise: the head was fitted on the features of
a model that no longer exists), cuts it with :func:`~robustscope.models.features.split_model` at the recorded
head path, and returns a :class:`Model` whose network is ``Sequential(features=<base without its head>,
head=nn.Linear)`` (the head at path ``head``, so it can be cut again). Its fingerprint covers the new head's
weights, so it never shares cached predictions with the base. A relative ``file:`` base spec is read relative to
the working directory, as it was when the model was saved.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robustscope.errors import CheckpointError
from robustscope.models.base import Model

__all__ = ["HEAD_FILE", "MITIGATED_FORMAT", "build_mitigated", "load_mitigated", "mitigated_config"]

#: The ``format`` tag of a mitigated model's ``config.json``.
MITIGATED_FORMAT = "robustscope-mitigated/1"
HEAD_FILE = "head.safetensors"
_PREFIX = MITIGATED_FORMAT.split("/")[0] + "/"


def mitigated_config(path: str | Path) -> dict[str, Any] | None:
    """The ``config.json`` of a mitigated-model folder, or ``None`` when ``path`` is not one.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> mitigated_config(folder) is None
        True
        >>> _ = (folder / "config.json").write_text('{"format": "robustscope-mitigated/1"}')
        >>> mitigated_config(folder)["format"]
        'robustscope-mitigated/1'
    """
    config_path = Path(path).expanduser() / "config.json"
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # not ours to judge: the file: loader reports a bad config
    tag = config.get("format") if isinstance(config, dict) else None
    if not isinstance(tag, str) or not tag.startswith(_PREFIX):
        return None
    if tag != MITIGATED_FORMAT:
        raise CheckpointError(f"{config_path}: format {tag!r} is not one this robustscope reads ({MITIGATED_FORMAT})")
    return config


def build_mitigated(
    base: Model,
    weight: torch.Tensor | nn.Module,
    bias: torch.Tensor | None,
    labels: Sequence[str],
    *,
    name: str,
    label_space: str = "custom",
    metadata: Mapping[str, Any] | None = None,
    head: str | None = None,
) -> Model:
    """``base``'s features under the linear head ``weight [K, D]``, ``bias [K]``, as a :class:`Model`.

    ``head`` is the path the base must be cut at (the one recorded when the head was fitted); the cut is checked.
    ``weight`` may be a head module (an :class:`~robustscope.models.heads.EnsembleHead`, ``bias=None``), used as is.

    Example:
        >>> from robustscope.models.preprocessing import Preprocessing
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
        >>> base = Model.from_module(net, Preprocessing(2, 1.0), ["a", "b"], head="3")
        >>> new = build_mitigated(base, torch.zeros(3, 5), torch.tensor([0.0, 1.0, 0.0]), ["x", "y", "z"], name="m")
        >>> new(torch.rand(4, 3, 2, 2)).argmax(1).tolist(), new.metadata["head"]
        ([1, 1, 1, 1], 'head')
    """
    from robustscope.models.features import split_model

    split = split_model(base)
    if head is not None and split.head_path != head:
        raise CheckpointError(
            f"{name}: the head was fitted on {base.name}'s features cut at {head!r}, but that model's head is now "
            f"at {split.head_path!r}; refit the head on the current model"
        )
    if isinstance(weight, nn.Module):
        sizes = (getattr(weight, "in_features", None), getattr(weight, "out_features", None))
        if bias is not None or sizes != (split.dim, len(labels)):
            raise CheckpointError(f"{name}: head module with (in, out) {sizes} does not fit {len(labels)} labels "
                                  f"over {base.name}'s {split.dim} features")  # fmt: skip
        network = nn.Sequential(OrderedDict(features=split.features.network, head=weight)).eval()
        info = {**dict(metadata or {}), "head": None, "base_head": split.head_path}
        return Model(network, base.preprocessing, labels, name=name, label_space=label_space, metadata=info,
                     version=base.version)  # fmt: skip
    weight, bias = torch.as_tensor(weight, dtype=torch.float32), torch.as_tensor(bias, dtype=torch.float32)
    if weight.ndim != 2 or weight.shape != (len(labels), split.dim) or bias.shape != (len(labels),):
        raise CheckpointError(
            f"{name}: head of shape weight {tuple(weight.shape)}, bias {tuple(bias.shape)} does not fit "
            f"{len(labels)} labels over {base.name}'s {split.dim} features (expected ({len(labels)}, {split.dim}))"
        )
    linear = nn.Linear(split.dim, len(labels))
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)
    network = nn.Sequential(OrderedDict(features=split.features.network, head=linear)).eval()
    info = {**dict(metadata or {}), "head": "head", "base_head": split.head_path}
    return Model(network, base.preprocessing, labels, name=name, label_space=label_space, metadata=info,
                 version=base.version)  # fmt: skip


def load_mitigated(
    path: str | Path, config: Mapping[str, Any] | None = None, *, load_base: Callable[..., Model]
) -> Model:
    """The mitigated model saved in folder ``path`` (see the module docstring); ``load_model("file:PATH")`` calls this.

    ``load_base(spec, **options)`` loads the base model (``robustscope.models.registry.load_model``; passed in
    so that this module does not import the registry, which names the ``file:`` loader).

    Raises :class:`CheckpointError` when the base model's fingerprint is no longer the recorded one.

    Example (``robustscope.mitigate.save_mitigated`` writes such a folder):
        >>> import json, pathlib, tempfile
        >>> from safetensors.torch import save_file
        >>> from robustscope.models.registry import load_model
        >>> from robustscope.models.smallcnn import SmallCNN
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> save_file(SmallCNN(2, width=4, depth=2).state_dict(), str(root / "model.safetensors"))
        >>> _ = (root / "config.json").write_text(json.dumps({"arch": "smallcnn", "arch_kwargs": {"width": 4,
        ...     "depth": 2}, "labels": ["a", "b"], "preprocessing": {"input_size": 16, "crop_pct": 1.0}}))
        >>> base = load_model(f"file:{root}")
        >>> dim = base.network.head.in_features
        >>> (root / "new").mkdir()
        >>> save_file({"weight": torch.zeros(2, dim), "bias": torch.tensor([0.0, 1.0])}, str(root / "new" / HEAD_FILE))
        >>> _ = (root / "new" / "config.json").write_text(json.dumps({"format": MITIGATED_FORMAT,
        ...     "base": {"spec": f"file:{root}", "fingerprint": base.fingerprint()}, "head": {"path": "head"},
        ...     "labels": ["a", "b"]}))
        >>> model = load_mitigated(root / "new", load_base=load_model)
        >>> model(torch.rand(1, 3, 16, 16)).argmax(1).tolist(), model.fingerprint() != base.fingerprint()
        ([1], True)
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(path).expanduser()
    config = dict(config if config is not None else mitigated_config(folder) or {})
    try:
        base_info, head_info = dict(config["base"]), dict(config["head"])
        spec, recorded, labels = str(base_info["spec"]), str(base_info["fingerprint"]), list(config["labels"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{folder / 'config.json'} is not a complete {MITIGATED_FORMAT} config ({err})") from None
    base = load_base(spec, **dict(base_info.get("options") or {}))
    now = base.fingerprint()
    if now != recorded:
        raise CheckpointError(
            f"file:{path}: its head was fitted on base model {spec!r} with fingerprint {recorded}, but {spec!r} now "
            f"loads with fingerprint {now}: the base changed (weights, code, preprocessing or labels), so the head "
            "no longer fits its features. Restore the base model, or fit the head again on the current one."
        )
    head_file = folder / str(head_info.get("file") or HEAD_FILE)
    try:
        tensors = load_file(str(head_file), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"cannot read the head of file:{path} ({head_file}): {err}") from None
    head_module: nn.Module | None = None
    if head_info.get("kind") == "ensemble":
        from robustscope.models.heads import EnsembleHead

        try:
            head_module = EnsembleHead(head_info["in_features"], head_info["out_features"], head_info["num_heads"])
            head_module.load_state_dict(tensors)
        except (KeyError, RuntimeError) as err:
            raise CheckpointError(f"{head_file} is not the ensemble head its config describes: {err}") from None
    elif head_info.get("kind") not in (None, "linear"):
        raise CheckpointError(f"{folder / 'config.json'}: head kind {head_info.get('kind')!r} is not one robustscope "
                              "reads (linear, ensemble)")  # fmt: skip
    elif set(tensors) != {"weight", "bias"}:
        raise CheckpointError(f"{head_file} must hold exactly 'weight' and 'bias', found {sorted(tensors)}")
    method = dict(config.get("method") or {})
    metadata = {"source": "file", "format": "mitigated", "path": str(folder), "base": spec,
                "base_fingerprint": recorded, "method": method.get("name")}  # fmt: skip
    return build_mitigated(
        base,
        head_module if head_module is not None else tensors["weight"],
        None if head_module is not None else tensors["bias"],
        labels,
        name=str(config.get("name") or f"file:{path}"),
        label_space=str(config.get("label_space") or "custom"),
        metadata=metadata,
        head=str(head_info.get("path") or "") or None,
    )
