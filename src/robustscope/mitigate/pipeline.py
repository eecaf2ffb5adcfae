"""From a model and two datasets to a saved DFR model: cached features, groups, :func:`fit_dfr`, the folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robustscope.config import Workspace
from robustscope.data.base import Dataset
from robustscope.engine.features import FeatureSet, extract_features
from robustscope.engine.prediction_store import PredictionStore
from robustscope.mitigate.dfr import DFRResult, fit_dfr
from robustscope.mitigate.saved import save_mitigated
from robustscope.models.base import Model
from robustscope.models.features import split_model

__all__ = ["GroupOf", "dfr_mitigate", "groups_of"]

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
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[Path, DFRResult]:
    """DFR^Val_Tr for ``model``: a new last layer fitted on group-balanced ``val_data`` features (the scaler on
    ``train_data``'s), saved to ``out`` as a model ``load_model(f"file:{out}")`` reads.

    Features come from :func:`~robustscope.engine.features.extract_features` (cached in ``store``: the backbone
    runs once per dataset); groups from ``group_of`` (:func:`groups_of`); the fit from
    :func:`~robustscope.mitigate.dfr.fit_dfr` (``seed``; ``c`` skips the tuning). The model must load back from
    its name (``model.name``, e.g. ``file:PATH`` or ``tv:resnet50`` with ``base_options``), since the saved
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
    split = split_model(model)
    options = {"store": store, "batch_size": batch_size, "device": device, "progress": progress, "split": split}
    train = extract_features(model, train_data, **options)
    val = extract_features(model, val_data, **options)
    result = fit_dfr(val.features, val.labels, groups_of(val, group_of), train_features=train.features,
                     seed=seed, c=c, num_classes=len(val.class_names))  # fmt: skip
    grouping = group_of if isinstance(group_of, str) else getattr(group_of, "__name__", "callable")
    details = {**result.params(), "train_data": train_data.name, "val_data": val_data.name,
               "train_features": train.key, "val_features": val.key, "group_of": grouping}  # fmt: skip
    folder = save_mitigated(model.name, split, result.weight, result.bias, val.class_names, out, "dfr", details,
                            base_options=base_options, base_fingerprint=model.fingerprint())  # fmt: skip
    return folder, result
