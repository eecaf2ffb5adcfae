"""A dataset's classes in a model's label space: the Runner's class → logit mapping, and label sets.

:func:`label_mapping` maps each dataset class to the model's logit of the same name before a run (the Runner
stores labels as logit indices). A dataset whose classes are sets of model labels declares
``metadata["label_sets"]`` (class name → model labels: logit indices or label names) and
``metadata["set_reduction"]`` (see :mod:`robustscope.metrics.label_space`). The Runner stores the model's
full logits; :func:`to_dataset_space` reduces them at metric time, so a new mapping never re-runs the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from robustscope.data.base import Dataset
from robustscope.engine.predictions import Predictions
from robustscope.errors import LabelSpaceError
from robustscope.metrics.label_space import reduce_logits
from robustscope.registry import suggest

if TYPE_CHECKING:
    from robustscope.models.base import Model

#: The class name of the extra column ``top1_in_set`` adds (top-1 outside every set).
OTHER_CLASS = "(other)"


def label_mapping(model: Model, dataset: Dataset) -> tuple[int, ...]:
    """Map each dataset class (by name) to the model's logit index; raise for unknown used classes.

    Classes no sample uses map to ``-1`` rather than failing, so a subset of a dataset keeps
    working with a model that only knows the classes that remain. Datasets scored through label
    sets (``metadata["label_sets"]``), used as out-of-distribution data (``metadata["ood"]``), or whose
    labels an axis scores itself (``metadata["external_labels"]``, e.g. per-image ImageNet index sets)
    map unknown classes to ``-1`` without failing.

    Example:
        >>> import pandas as pd
        >>> from torch import nn
        >>> from robustscope.models import Model, Preprocessing
        >>> model = Model.from_module(nn.Identity(), preprocessing=Preprocessing(8, 1.0), labels=["dog", "cat"])
        >>> data = Dataset("toy", ".", ["cat", "dog"],
        ...                pd.DataFrame({"sample_id": ["a"], "path": ["a.png"], "label": [1]}))
        >>> label_mapping(model, data)
        (1, 0)
    """
    index = model.label_index()
    if any(dataset.metadata.get(k) for k in ("label_sets", "ood", "external_labels")):
        # Scored through label sets at metric time (see engine.label_space), or not at all (OOD):
        # the store keeps the model's full logits and -1 for classes outside its label space.
        return tuple(index.get(name, -1) for name in dataset.classes)
    used = set(np.unique(dataset.manifest["label"].to_numpy()).tolist())
    missing = [name for i, name in enumerate(dataset.classes) if i in used and name not in index]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        near = {m: suggest(m, model.labels) for m in missing[:5]}
        near_text = "; ".join(f"{m!r} → {', '.join(map(repr, s))}" for m, s in near.items() if s)
        some_labels = ", ".join(repr(x) for x in model.labels[:8]) + (", …" if len(model.labels) > 8 else "")
        raise LabelSpaceError(
            f"dataset {dataset.name!r} has class(es) {shown} outside the label space of model {model.name!r} "
            f"({model.label_space}, {model.num_classes} labels: {some_labels})"
            + (f"; near misses: {near_text}" if near_text else "")
            + ". Map the dataset's classes onto the model's labels (rename them, or use a label-space "
            "mapping) or evaluate a model trained on these classes."
        )
    return tuple(index.get(name, -1) for name in dataset.classes)


def has_label_sets(dataset: Dataset) -> bool:
    """Whether the dataset scores models through label sets (cue-conflict, ImageNet-9, FOCUS, ImageNet-R…)."""
    return bool(dataset.metadata.get("label_sets"))


def label_set_columns(model_labels: Sequence[str], label_index: dict[str, int], dataset: Dataset) -> list[list[int]]:
    """The model logit columns of each dataset class's label set, in ``dataset.classes`` order.

    A set member is a logit index (int) or a model label name / alias (str). Unknown names and
    out-of-range indices raise :class:`LabelSpaceError`.

    Example:
        >>> import pandas as pd
        >>> data = Dataset("toy", ".", ["pet"], pd.DataFrame({"sample_id": ["a"], "path": ["a.png"], "label": [0]}),
        ...                metadata={"label_sets": {"pet": ["cat", 1]}, "set_reduction": "mean_prob"})
        >>> label_set_columns(["cat", "dog"], {"cat": 0, "dog": 1}, data)
        [[0, 1]]
    """
    sets = dataset.metadata.get("label_sets") or {}
    missing_classes = [c for c in dataset.classes if c not in sets]
    if missing_classes:
        raise LabelSpaceError(f"dataset {dataset.name!r} has no label set for class(es) {missing_classes[:5]}")
    columns = []
    for name in dataset.classes:
        resolved = []
        for member in sets[name]:
            if isinstance(member, (int, np.integer)) and not isinstance(member, bool):
                if not 0 <= int(member) < len(model_labels):
                    raise LabelSpaceError(
                        f"dataset {dataset.name!r}: label set of {name!r} names logit {member}, but the model has "
                        f"{len(model_labels)} labels; these label sets are for a different label space"
                    )
                resolved.append(int(member))
            elif str(member) in label_index:
                resolved.append(label_index[str(member)])
            else:
                raise LabelSpaceError(
                    f"dataset {dataset.name!r}: label set of {name!r} names {member!r}, "
                    "which is not a label of the model"
                )
        columns.append(resolved)
    return columns


def to_dataset_space(
    predictions: Predictions, dataset: Dataset, model_labels: Sequence[str], label_index: dict[str, int]
) -> Predictions:
    """Reduce stored model-space predictions to the dataset's classes (labels from the manifest).

    Datasets without label sets come back unchanged.

    Example:
        >>> import pandas as pd
        >>> data = Dataset("toy", ".", ["pet", "wild"],
        ...                pd.DataFrame({"sample_id": ["a"], "path": ["a.png"], "label": [1]}),
        ...                metadata={"label_sets": {"pet": [0], "wild": [1, 2]}, "set_reduction": "top1_in_set"})
        >>> p = Predictions(np.array(["a"]), np.array([[0.0, 1.0, 3.0]]), np.array([-1]), pd.DataFrame(index=[0]),
        ...                 ["cat", "wolf", "bear"])
        >>> q = to_dataset_space(p, data, p.class_names, {"cat": 0, "wolf": 1, "bear": 2})
        >>> q.class_names, q.labels.tolist(), q.logits.argmax(1).tolist()
        (['pet', 'wild'], [1], [1])
    """
    if not has_label_sets(dataset):
        return predictions
    reduction = str(dataset.metadata.get("set_reduction", "mean_prob"))
    columns = label_set_columns(model_labels, label_index, dataset)
    logits = reduce_logits(predictions.logits, columns, reduction).astype(np.float32)
    label_of = dict(zip(dataset.manifest["sample_id"].astype(str), dataset.manifest["label"].astype(int), strict=True))
    labels = np.array([label_of[str(s)] for s in predictions.sample_ids], dtype=np.int64)
    names = list(dataset.classes) + [OTHER_CLASS] * (logits.shape[1] - len(dataset.classes))
    return Predictions(predictions.sample_ids, logits, labels, predictions.factors, names)
