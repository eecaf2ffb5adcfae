"""Save a mitigated model: a new linear head over a base model's features, fingerprinted against the base.

The folder's format (``robustscope-mitigated/1``) and its loader live in :mod:`robustscope.models.mitigated`, so
that ``load_model("file:FOLDER")`` reads it like any checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustscope.errors import CheckpointError
from robustscope.models.features import FeatureHead, head_path
from robustscope.models.heads import EnsembleHead
from robustscope.models.mitigated import HEAD_FILE, MITIGATED_FORMAT
from robustscope.models.registry import load_model

__all__ = ["save_mitigated"]


def save_mitigated(
    base_spec: str,
    split: FeatureHead,
    weight: np.ndarray | torch.Tensor | EnsembleHead,
    bias: np.ndarray | torch.Tensor | None,
    labels: Sequence[str],
    out_dir: str | Path,
    method: str,
    details: Mapping[str, Any],
    *,
    base_options: Mapping[str, Any] | None = None,
    base_fingerprint: str | None = None,
) -> Path:
    """Write ``out_dir/config.json`` and ``out_dir/head.safetensors``: the head ``weight [K, D]``, ``bias [K]``
    over the features of ``split`` (cut from the model ``base_spec`` loads), one row per label.

    The base is loaded from ``base_spec`` (with ``base_options``) and its fingerprint recorded, so the saved model
    loads back only while the base is unchanged. ``base_fingerprint`` (the model the head was fitted on) must
    match it: a model that ``base_spec`` does not reproduce (one built in memory) cannot be saved this way.
    ``method`` and ``details`` (JSON-able) record how the head was made. Returns ``out_dir``.
    An :class:`~robustscope.models.heads.EnsembleHead` (LLE) is passed as ``weight`` with ``bias=None``: its
    state dict is saved and its :meth:`~robustscope.models.heads.EnsembleHead.spec` recorded under ``head``.

    Example:
        >>> import json, pathlib, tempfile
        >>> from safetensors.torch import save_file
        >>> from robustscope.models.features import split_model
        >>> from robustscope.models.smallcnn import SmallCNN
        >>> base = pathlib.Path(tempfile.mkdtemp())
        >>> save_file(SmallCNN(2, width=4, depth=2).state_dict(), str(base / "model.safetensors"))
        >>> _ = (base / "config.json").write_text(json.dumps({"arch": "smallcnn", "arch_kwargs": {"width": 4,
        ...     "depth": 2}, "labels": ["a", "b"], "preprocessing": {"input_size": 16, "crop_pct": 1.0}}))
        >>> split = split_model(load_model(f"file:{base}"))
        >>> out = save_mitigated(f"file:{base}", split, np.ones((3, split.dim)), np.zeros(3), ["x", "y", "z"],
        ...                      base / "mitigated", "demo", {"note": "all ones"})
        >>> model = load_model(f"file:{out}")
        >>> model.labels, model.metadata["method"]
        (['x', 'y', 'z'], 'demo')
    """
    labels = [str(label) for label in labels]
    if isinstance(weight, EnsembleHead):
        if bias is not None or (weight.in_features, weight.out_features) != (split.dim, len(labels)):
            raise ValueError(f"an ensemble head {weight.spec()} needs bias=None, {split.dim} features, {len(labels)} "
                             "labels")  # fmt: skip
        tensors = {k: v.detach().float().contiguous() for k, v in weight.state_dict().items()}
        spec: dict[str, Any] = weight.spec()
    else:
        weight_t = torch.as_tensor(np.asarray(weight), dtype=torch.float32).contiguous()
        bias_t = torch.as_tensor(np.asarray(bias), dtype=torch.float32).contiguous()
        tensors, spec = {"weight": weight_t, "bias": bias_t}, {}
    if not spec and (weight_t.shape != (len(labels), split.dim) or bias_t.shape != (len(labels),)):
        raise ValueError(
            f"head of shape weight {tuple(weight_t.shape)}, bias {tuple(bias_t.shape)} does not fit {len(labels)} "
            f"labels over {split.dim} features (expected ({len(labels)}, {split.dim}) and ({len(labels)},))"
        )
    options = dict(base_options or {})
    base = load_model(base_spec, **options)
    fingerprint = base.fingerprint()
    if base_fingerprint is not None and fingerprint != base_fingerprint:
        raise CheckpointError(
            f"{base_spec!r} loads a model with fingerprint {fingerprint}, not the {base_fingerprint} the head was "
            "fitted on: a mitigated model is saved as its base's spec plus the new head, so the base must load "
            "from its spec. Save the model first (safetensors + config.json) and load it with file:PATH."
        )
    path = head_path(base)
    if path != split.head_path:
        raise CheckpointError(f"{base_spec!r} has its head at {path!r}, the split was cut at {split.head_path!r}")
    config = {
        "format": MITIGATED_FORMAT,
        "base": {"spec": base_spec, "options": options, "fingerprint": fingerprint},
        "head": {"path": path, "file": HEAD_FILE, "in_features": split.dim, "out_features": len(labels), **spec},
        "labels": labels,
        "label_space": "custom",
        "method": {"name": method, "params": dict(details)},
    }
    text = json.dumps(config, indent=2, default=_jsonable)  # fails here, before anything is written
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    tmp = out / f".{HEAD_FILE}.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, out / HEAD_FILE)
    tmp = out / ".config.json.tmp"
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, out / "config.json")
    return out


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays in ``details`` as plain numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} in the method's details is not JSON-able")
