"""From a model and datasets to a saved last-layer model: cached features, groups, a fit, the folder.

:func:`model_features` (split the model once, extract each dataset's features, under a shift if asked, through the
cache) and :func:`save_head` (the new head saved against the base's spec and fingerprint) are the two halves every
pipeline shares: :func:`dfr_mitigate` here, :func:`~robustscope.mitigate.retrain.lle_mitigate` and
:func:`~robustscope.mitigate.retrain.last_layer_mitigate`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from robustscope.config import Workspace
from robustscope.data.base import Dataset
from robustscope.engine.features import FeatureSet, extract_features
from robustscope.engine.prediction_store import PredictionStore
from robustscope.mitigate.dfr import DFRResult, fit_dfr
from robustscope.mitigate.last_layer import Init
from robustscope.mitigate.saved import save_mitigated
from robustscope.models.base import Model
from robustscope.models.features import FeatureHead, split_model
from robustscope.models.heads import EnsembleHead
from robustscope.shifts.base import Shift

__all__ = ["GroupOf", "RunOptions", "base_head_init", "base_spec_of", "dfr_mitigate", "groups_of", "model_features",
           "save_head"]  # fmt: skip

#: What to extract: a dataset, or a dataset and the shift (spec or :class:`~robustscope.shifts.Shift`) to apply to it.
FeatureSource = Dataset | tuple[Dataset, str | Shift]


class RunOptions(TypedDict, total=False):
    """The keywords a pipeline takes besides its method's: how features are computed (``batch_size``, ``device``,
    ``progress``, as for :func:`model_features`) and how the saved folder reloads the base (``base_spec``, default
    :func:`base_spec_of`; ``base_options``, as for :func:`save_head`)."""

    batch_size: int
    device: str
    progress: bool
    base_spec: str | None
    base_options: Mapping[str, Any] | None

#: A factor column (groups are class × its value) or a function of the features' samples to group ids [N].
GroupOf = str | Callable[[FeatureSet], Sequence[Any] | np.ndarray]


def groups_of(features: FeatureSet, group_of: GroupOf) -> np.ndarray:
    """The group of every sample: ``"class|value"`` for a factor column name (DFR's groups are class × spurious
    attribute; a column that already encodes the class gives the same groups), or what a callable returns.

    Example:
        >>> import pandas as pd
        >>> fs = FeatureSet(np.array(["a", "b", "c"]), np.zeros((3, 2), np.float32), np.array([0, 1, 1]),
        ...                 pd.DataFrame({"place": ["land", "water", "land"]}), ["cat", "dog"], "fc", "k")
        >>> groups_of(fs, "place").tolist()
        ['cat|land', 'dog|water', 'dog|land']
    """
    if callable(group_of):
        groups = np.asarray(group_of(features))
    else:
        if group_of not in features.factors.columns:
            raise KeyError(f"group_of={group_of!r} is not a factor column; the dataset has {list(features.factors)}")
        values = features.factors[group_of].astype(str).to_numpy()
        names = np.asarray(features.class_names, dtype=object)[features.labels]
        groups = np.array([f"{name}|{value}" for name, value in zip(names, values, strict=True)])
    if groups.shape != (len(features),):
        raise ValueError(f"group_of gave groups of shape {groups.shape}, expected ({len(features)},)")
    return groups


def model_features(
    model: Model,
    sources: Mapping[str, FeatureSource],
    *,
    store: PredictionStore | Workspace | str | Path,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[FeatureHead, dict[str, FeatureSet]]:
    """``model`` split once (:func:`~robustscope.models.features.split_model`) and its features on every source
    (name → dataset, or ``(dataset, shift)``), each through :func:`~robustscope.engine.features.extract_features`'s
    cache: a dataset (and shift) already extracted runs no backbone.

    Example:
        >>> import pandas as pd, pathlib, tempfile
        >>> from PIL import Image
        >>> from robustscope.models import Preprocessing
        >>> from robustscope.models.smallcnn import SmallCNN
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("p", "q"):
        ...     Image.new("RGB", (8, 8), "blue").save(folder / f"{name}.png")
        >>> frame = pd.DataFrame({"sample_id": ["p", "q"], "path": ["p.png", "q.png"], "label": [0, 1]})
        >>> cnn = Model.from_module(SmallCNN(2, width=4), Preprocessing(8, 1.0), ["u", "v"], head="head")
        >>> split, sets = model_features(cnn, {"clean": Dataset("pq", folder, ["u", "v"], frame),
        ...                                    "noisy": (Dataset("pq", folder, ["u", "v"], frame), "corruption:fog:1")},
        ...                              store=folder / "store", progress=False)
        >>> split.dim, sorted(sets), sets["clean"].key != sets["noisy"].key, len(sets["noisy"])
        (32, ['clean', 'noisy'], True, 2)
    """
    split = split_model(model)
    options = {"store": store, "batch_size": batch_size, "device": device, "progress": progress, "split": split}
    features = {}
    for name, source in sources.items():
        data, shift = source if isinstance(source, tuple) else (source, "none")
        features[name] = extract_features(model, data, shift=shift, **options)
    return split, features


def base_head_init(split: FeatureHead, class_names: Sequence[str]) -> Init:
    """The base model's head ``(weight, bias)`` to start a new head from when its labels are ``class_names`` (in
    that order), else ``None`` (a random head): a head over other labels cannot be a starting point.

    Example:
        >>> from torch import nn
        >>> from robustscope.models import Model, Preprocessing
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
        >>> split = split_model(Model.from_module(net, Preprocessing(2, 1.0), ["a", "b"], head="1"))
        >>> base_head_init(split, ["a", "b"])[0].shape, base_head_init(split, ["b", "a"])
        (torch.Size([2, 12]), None)
    """
    if list(split.labels) != [str(name) for name in class_names]:
        return None
    return split.weight.detach().cpu().float(), split.bias.detach().cpu().float()


def base_spec_of(model: Model) -> str:
    """The spec that loads ``model`` again: its name (``tv:resnet50``, ``file:PATH``), or for a checkpoint whose
    ``config.json`` gives it a name of its own (a trained reference model) ``file:`` and its weights file.

    Example:
        >>> from torch import nn
        >>> base_spec_of(Model.from_module(nn.Linear(2, 2), labels=["a", "b"], name="tv:resnet18"))
        'tv:resnet18'
        >>> named = Model.from_module(nn.Linear(2, 2), labels=["a", "b"], name="tiny-urbancars-erm")
        >>> named.metadata.update(source="file", path="/models/erm/model.safetensors")
        >>> base_spec_of(named)
        'file:/models/erm/model.safetensors'
    """
    path = model.metadata.get("path")
    if model.metadata.get("source") == "file" and path and not str(model.name).startswith("file:"):
        return f"file:{path}"
    return model.name


def save_head(
    model: Model,
    split: FeatureHead,
    head: EnsembleHead | tuple[np.ndarray, np.ndarray],
    labels: Sequence[str],
    out: str | Path,
    method: str,
    details: Mapping[str, Any],
    *,
    base_spec: str | None = None,
    base_options: Mapping[str, Any] | None = None,
) -> Path:
    """:func:`~robustscope.mitigate.save_mitigated` for a head fitted on ``model``'s features: an
    :class:`~robustscope.models.heads.EnsembleHead` or ``(weight, bias)``, recorded against the base's spec
    (``base_spec``, default :func:`base_spec_of`) and fingerprint.

    Example:
        >>> # save_head(model, split, (fit.weight, fit.bias), classes, "out", "erm", fit.params())
    """
    weight, bias = (head, None) if isinstance(head, EnsembleHead) else head
    return save_mitigated(base_spec or base_spec_of(model), split, weight, bias, labels, out, method, details,
                          base_options=base_options, base_fingerprint=model.fingerprint())  # fmt: skip


def dfr_mitigate(
    model: Model,
    train_data: Dataset,
    val_data: Dataset,
    group_of: GroupOf,
    *,
    store: PredictionStore | Workspace | str | Path,
    out: str | Path,
    seed: int = 0,
    c: float | None = None,
    base_options: Mapping[str, Any] | None = None,
    base_spec: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[Path, DFRResult]:
    """DFR^Val_Tr for ``model``: a new last layer fitted on group-balanced ``val_data`` features (the scaler on
    ``train_data``'s), saved to ``out`` as a model ``load_model(f"file:{out}")`` reads.

    Features come from :func:`~robustscope.engine.features.extract_features` (cached in ``store``: the backbone
    runs once per dataset); groups from ``group_of`` (:func:`groups_of`); the fit from
    :func:`~robustscope.mitigate.dfr.fit_dfr` (``seed``; ``c`` skips the tuning). The model must load back from
    ``base_spec`` (default :func:`base_spec_of`: its name, e.g. ``tv:resnet50`` with ``base_options``, or ``file:``
    and the weights of a checkpoint whose config.json names it), since the saved
    folder records the base's spec and fingerprint, not its weights. The head's labels are the datasets' classes.
    Returns the folder and the :class:`~robustscope.mitigate.dfr.DFRResult`.

    Example:
        >>> import json, pathlib, tempfile
        >>> import pandas as pd
        >>> from PIL import Image
        >>> from safetensors.torch import save_file
        >>> from robustscope.models import load_model
        >>> from robustscope.models.smallcnn import SmallCNN
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> save_file(SmallCNN(2, width=4, depth=2).state_dict(), str(root / "model.safetensors"))
        >>> _ = (root / "config.json").write_text(json.dumps({"arch": "smallcnn", "arch_kwargs": {"width": 4,
        ...     "depth": 2}, "labels": ["a", "b"], "preprocessing": {"input_size": 8, "crop_pct": 1.0}}))
        >>> rows = []
        >>> for i in range(16):
        ...     label, place = i % 2, (i // 2) % 2
        ...     Image.new("RGB", (8, 8), (200 * label, 40 + 8 * i, 200 * place)).save(root / f"{i}.png")
        ...     rows.append({"sample_id": str(i), "path": f"{i}.png", "label": label, "place": place})
        >>> data = Dataset("toy", root, ["a", "b"], pd.DataFrame(rows))
        >>> folder, dfr = dfr_mitigate(load_model(f"file:{root}"), data, data, "place", store=root / "store",
        ...                            out=root / "dfr", progress=False)
        >>> load_model(f"file:{folder}").labels, dfr.groups, dfr.per_group
        (['a', 'b'], ['a|0', 'a|1', 'b|0', 'b|1'], 4)
    """
    if list(train_data.classes) != list(val_data.classes):
        raise ValueError(f"train and validation classes differ: {train_data.classes} vs {val_data.classes}")
    split, sets = model_features(model, {"train": train_data, "val": val_data}, store=store, batch_size=batch_size,
                                 device=device, progress=progress)  # fmt: skip
    train, val = sets["train"], sets["val"]
    result = fit_dfr(val.features, val.labels, groups_of(val, group_of), train_features=train.features,
                     seed=seed, c=c, num_classes=len(val.class_names))  # fmt: skip
    grouping = group_of if isinstance(group_of, str) else getattr(group_of, "__name__", "callable")
    details = {**result.params(), "train_data": train_data.name, "val_data": val_data.name,
               "train_features": train.key, "val_features": val.key, "group_of": grouping}  # fmt: skip
    folder = save_head(model, split, (result.weight, result.bias), val.class_names, out, "dfr", details,
                       base_spec=base_spec, base_options=base_options)  # fmt: skip
    return folder, result
