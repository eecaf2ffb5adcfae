"""``file:PATH``: a local checkpoint — safetensors or a weights-only state dict, a ``torch.export`` archive
(``.pt2``), or TorchScript.

A checkpoint is weights plus a ``config.json`` beside it::

    {"arch": "smallcnn", "arch_kwargs": {"width": 32},
     "labels": ["cat", "dog"], "label_space": "custom",
     "preprocessing": {"input_size": 64, "crop_pct": 1.0, "interpolation": "bicubic",
                       "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}

A folder whose ``config.json`` says ``"format": "robustscope-mitigated/1"`` is a mitigated model (a base
model's features under a new head, :mod:`robustscope.models.mitigated`): ``load_model("file:PATH")`` loads it.

``PATH`` is the weights file or a folder holding ``model.safetensors`` (or ``model.pt``, a
``torch.export`` archive ``model.pt2``, or a TorchScript ``model.ts``) and ``config.json``; for code
formats (``.pt2``, TorchScript) the config gives ``labels`` and ``preprocessing`` only. Pickles are
only ever read with ``torch.load(weights_only=True)``: arbitrary objects are refused, never executed.

``.pt2`` archives (``torch.export.save``) are the successor of TorchScript, which torch 2.14
deprecates (it warns on every load; it still works here). ``torch.export.load`` itself is *not*
pickle-free in torch 2.14 (its docstring: "uses pickle under the hood"; it unpickles tensor
subclasses, opaque objects and, on a failed weights-only read, sample inputs, and evaluates shape
expressions with ``sympy.sympify``): :mod:`robustscope.models.exported` checks an archive first and
refuses every entry that would run code, so only plain-tensor exports load.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robustscope.errors import CheckpointError
from robustscope.models.base import Model
from robustscope.models.exported import is_export_archive, load_export_archive
from robustscope.models.head_paths import head_path_of
from robustscope.models.labels import generic_labels
from robustscope.models.mitigated import mitigated_config
from robustscope.models.networks import build_network
from robustscope.models.preprocessing import Preprocessing

CONFIG_NAME = "config.json"
#: Weight file names looked for, in order, when PATH is a folder.
WEIGHT_NAMES = (
    "model.safetensors", "model.pt", "model.pth", "model.bin", "model.pt2", "model.ts", "model.torchscript",
)

_SAFE_HINT = (
    "Save plain weights instead: safetensors.torch.save_file(model.state_dict(), 'model.safetensors') "
    "or torch.save(model.state_dict(), 'model.pt'), plus a config.json naming 'arch' and 'labels' "
    "(robustscope loads .pt files with torch.load(weights_only=True) only)."
)


def find_checkpoint(path: str | Path) -> tuple[Path, Path | None]:
    """The weights file and its ``config.json`` (``None`` if absent) for a file or folder ``path``.

    For a file ``x.pt`` the config is ``x.json``, ``x.pt.json`` or ``config.json`` beside it.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "model.safetensors").write_bytes(b""); _ = (folder / "config.json").write_text("{}")
        >>> [p.name for p in find_checkpoint(folder)]
        ['model.safetensors', 'config.json']
    """
    path = Path(path).expanduser()
    if path.is_dir():
        for name in WEIGHT_NAMES:
            if (path / name).is_file():
                config = path / CONFIG_NAME
                return path / name, config if config.is_file() else None
        suffixes = {".safetensors", ".pt", ".pth", ".bin", ".pt2", ".ts"}
        candidates = sorted(p for p in path.iterdir() if p.suffix in suffixes)
        if len(candidates) != 1:
            raise CheckpointError(
                f"{path} is a folder without {' / '.join(WEIGHT_NAMES[:2])}"
                + (f" and with several candidates {[p.name for p in candidates]}" if candidates else "")
                + "; point file: at the weights file or name it model.safetensors."
            )
        path = candidates[0]
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: the file does not exist")
    for config in (path.with_suffix(".json"), path.with_name(path.name + ".json"), path.parent / CONFIG_NAME):
        if config.is_file() and config != path:
            return path, config
    return path, None


def read_config(path: Path | None) -> dict[str, Any]:
    """The JSON config of a checkpoint (``{}`` when there is none); bad JSON names the file."""
    if path is None:
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"cannot read checkpoint config {path}: {err}") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"checkpoint config {path} must hold a JSON object")
    return config


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding compiled ``code/`` and ``constants.pkl``).

    Example:
        >>> import tempfile, torch
        >>> f = tempfile.mktemp(suffix=".pt"); torch.save({"w": torch.zeros(1)}, f)
        >>> is_torchscript(f)
        False
    """
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read weights from a safetensors file or a weights-only ``torch.save`` file.

    Raises :class:`CheckpointError` for anything that is not a mapping of names to tensors
    (a pickled ``nn.Module``, an arbitrary object, a corrupt file).

    Example:
        >>> import tempfile, torch
        >>> f = tempfile.mktemp(suffix=".pt"); torch.save({"w": torch.ones(2)}, f)
        >>> load_state_dict(f)["w"].tolist()
        [1.0, 1.0]
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"cannot read safetensors file {path}: {err}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path} is not a plain-weights checkpoint: torch.load(weights_only=True) refused it ({first}). "
            + _SAFE_HINT
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}. " + _SAFE_HINT) from None
    return _as_state_dict(state, path)


def _as_state_dict(state: Any, path: Path) -> dict[str, torch.Tensor]:
    # training checkpoints often nest the weights: {"state_dict": ...} or {"model": ...}
    if isinstance(state, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        kind = type(state).__name__
        raise CheckpointError(f"{path} holds a {kind}, not a mapping of names to tensors. " + _SAFE_HINT)
    state = dict(state)
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel/DDP
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def load_file(
    path: str,
    *,
    config: str | Path | Mapping[str, Any] | None = None,
    arch: str | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    labels: Sequence[str] | None = None,
    preprocessing: Preprocessing | Mapping[str, Any] | None = None,
    label_space: str | None = None,
    strict: bool = True,
) -> Model:
    """Load ``file:PATH`` as a :class:`Model`; keyword options override the checkpoint's ``config.json``.

    Args:
        path: weights file (``.safetensors``, ``.pt``/``.pth``/``.bin`` state dict, ``torch.export``
            ``.pt2`` archive, TorchScript) or a folder holding ``model.safetensors`` + ``config.json``.
        config: another config file, or the config itself as a dict.
        arch, arch_kwargs: the architecture (``smallcnn``, ``timm:NAME``, ``tv:NAME``) and its
            constructor arguments; not used for ``.pt2`` and TorchScript (they carry their code).
        labels: class names, one per logit.
        preprocessing: a :class:`Preprocessing` or its dict.
        strict: require the weights to match the architecture's parameters exactly.

    Example:
        >>> import tempfile, pathlib, json
        >>> from safetensors.torch import save_file
        >>> from robustscope.models.smallcnn import SmallCNN
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> save_file(SmallCNN(2, width=8).state_dict(), str(folder / "model.safetensors"))
        >>> _ = (folder / "config.json").write_text(json.dumps(
        ...     {"arch": "smallcnn", "arch_kwargs": {"width": 8}, "labels": ["a", "b"],
        ...      "preprocessing": {"input_size": 32, "crop_pct": 1.0}}))
        >>> load_file(str(folder)).labels
        ['a', 'b']
    """
    if config is None and mitigated_config(path) is not None:  # robustscope.models.registry loads these
        raise CheckpointError(f"{path} holds a mitigated model (a base model's features under a new head): "
                              f"load it with robustscope.load_model('file:{path}')")
    weights_path, config_path = find_checkpoint(path)
    if isinstance(config, Mapping):
        settings = dict(config)
    else:
        settings = read_config(Path(config) if config is not None else config_path)
    overrides = {"arch": arch, "arch_kwargs": arch_kwargs, "labels": labels, "label_space": label_space}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if preprocessing is not None:
        settings["preprocessing"] = preprocessing
    where = str(config_path or "the options")

    exported = weights_path.suffix != ".safetensors" and is_export_archive(weights_path)
    torchscript = not exported and weights_path.suffix != ".safetensors" and is_torchscript(weights_path)
    if exported:
        network: nn.Module = load_export_archive(weights_path)
        kind = "torch.export"
    elif torchscript:
        network = torch.jit.load(str(weights_path), map_location="cpu")
        kind = "torchscript"
    else:
        kind = "safetensors" if weights_path.suffix == ".safetensors" else "state_dict"
        network = _build_and_load(weights_path, settings, where, strict)
    network.eval()

    label_list = _labels(settings, network, where, weights_path)
    pre = settings.get("preprocessing")
    try:
        pre = pre if isinstance(pre, Preprocessing) else Preprocessing.from_dict(dict(pre or {}))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"bad 'preprocessing' in {where}: {err}") from None
    metadata = {
        "source": "file",
        "path": str(weights_path),
        "format": kind,
        "arch": settings.get("arch"),
        "head": None if kind in ("torch.export", "torchscript") else head_path_of(network),
        **{k: settings[k] for k in ("training", "dataset") if k in settings},
    }
    return Model(
        network,
        pre,
        label_list,
        name=str(settings.get("name") or f"file:{path}"),
        label_space=str(settings.get("label_space") or "custom"),
        metadata=metadata,
    )


def _build_and_load(weights_path: Path, settings: dict[str, Any], where: str, strict: bool) -> nn.Module:
    arch = settings.get("arch")
    if not arch:
        raise CheckpointError(
            f"{weights_path} holds weights only, and {where} does not name the architecture: add "
            "'arch' (smallcnn, timm:NAME or tv:NAME) and 'labels' to a config.json beside it, "
            "or pass arch=... and labels=[...]."
        )
    state = load_state_dict(weights_path)
    arch_kwargs = dict(settings.get("arch_kwargs") or {})
    labels = settings.get("labels")
    num_classes = int(arch_kwargs.pop("num_classes", len(labels) if labels else 0))
    if num_classes <= 0:
        raise CheckpointError(f"{where} gives neither 'labels' nor arch_kwargs.num_classes for {weights_path}")
    network = build_network(str(arch), num_classes, **arch_kwargs)
    try:
        network.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise CheckpointError(
            f"weights in {weights_path} do not fit architecture {arch!r} with {arch_kwargs or 'default arguments'} "
            f"and {num_classes} classes: {str(err).splitlines()[0]} (check 'arch' and 'arch_kwargs' in {where})"
        ) from None
    return network


def _labels(settings: dict[str, Any], network: nn.Module, where: str, weights_path: Path) -> list[str]:
    labels = settings.get("labels")
    if labels:
        return [str(label) for label in labels]
    num_classes = (settings.get("arch_kwargs") or {}).get("num_classes")
    if num_classes:
        return generic_labels(int(num_classes))
    raise CheckpointError(
        f"{where} gives no 'labels' for {weights_path}: add the class names (one per logit) to config.json "
        "or pass labels=[...]."
    )
