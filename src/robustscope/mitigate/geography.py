"""Last-layer retraining for geography (Richards et al. 2023): a new head fitted on a small region-balanced set.

M. Richards, P. Kirichenko, D. Bouchacourt, M. Ibrahim, "Does Progress On Object Recognition Benchmarks Improve
Real-World Generalization?", 2023, Sec. "last layer retraining": the last layer of a model is retrained on a
small, curated, region-balanced set of Dollar Street images whose households are disjoint from the test images,
and the region disparity shrinks. The authors' code, github.com/facebookresearch/Geographic_Generalization, commit
``47bb6a4af2747e74a001f5e855c0568fe38d9408``:

- ``datasets/dollarstreet.py``, ``DollarStreetDataModule``: ``house_separated_only`` ("a randomly generated
  training/test split based on the household") and ``house_separated_and_region_balanced`` ("a subsampled
  version of DollarStreet by region, such that regions has (not exactly) balanced subsets by region"), read from
  released CSVs (``house_separated_region_balanced_with_metadata/{stage}.csv``) whose building script is not in
  the repository;
- ``models/classifier_model.py``, ``ClassifierModule`` with ``linear_eval=True``: a fresh ``torch.nn.Linear`` on
  the backbone's penultimate features (``feature_extraction_layer_index=-2``), the backbone frozen in eval mode,
  cross-entropy, Adam;
- ``config/model/fvit{0,1,2}.yaml``: the retrained checkpoints evaluated, three seeds
  (``finetuning_household_lr1e-5_5epochs_seed{0,1,2}.ckpt``).

Here: :func:`region_balanced_house_separated` builds the set from a pool (keep the images whose house is not in
the test set, then downsample every region to the smallest one, seeded: exactly balanced where the authors'
CSVs are "not exactly" so, the same reconstruction for any pool), and :func:`geography_last_layer` fits a fresh
head with :func:`~robustscope.mitigate.last_layer.fit_erm` (plain cross-entropy: the set is already balanced) on
the base model's cached penultimate features and saves it with :func:`~robustscope.mitigate.save_mitigated`.
Departures: the features are computed once and cached (the backbone is frozen either way), and the head is
trained with the shared last-layer SGD (:data:`GEOGRAPHY_HEAD_CONFIG`) rather than the authors' Adam settings,
which are not published for the linear head.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robustscope.config import Workspace
from robustscope.data.base import Dataset
from robustscope.engine.features import extract_features
from robustscope.engine.prediction_store import PredictionStore
from robustscope.errors import SpecError
from robustscope.mitigate.last_layer import HeadFit, LastLayerConfig, fit_erm
from robustscope.mitigate.saved import save_mitigated
from robustscope.models.base import Model
from robustscope.models.features import split_model

__all__ = ["GEOGRAPHY_HEAD_CONFIG", "geography_last_layer", "region_balanced_house_separated"]

#: The head's SGD: small batches and a larger step than the ImageNet linear-probing default, so that a fresh head
#: converges on a few hundred images (the default's batches of 1024 give one step per epoch here).
GEOGRAPHY_HEAD_CONFIG = LastLayerConfig(epochs=100, batch_size=32, lr=0.1, momentum=0.9, weight_decay=1e-4)


def _column(data: Dataset, name: str) -> np.ndarray:
    if name not in data.manifest.columns:
        raise SpecError(f"dataset {data.name!r} has no {name!r} factor; its factors: {data.factor_columns}")
    return data.manifest[name].astype(str).to_numpy()


def region_balanced_house_separated(
    pool: Dataset, test: Dataset, *, seed: int = 0, region: str = "region", house: str = "house"
) -> Dataset:
    """The images of ``pool`` whose house is not in ``test``, every region downsampled to the smallest region.

    Richards et al.'s ``house_separated_and_region_balanced`` Dollar Street split, rebuilt: households disjoint
    from the test images, regions balanced (here exactly; ``seed`` picks which images stay). Rows keep the
    pool's order.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"sample_id": [str(i) for i in range(6)], "path": ["x.png"] * 6, "label": 0,
        ...                       "region": ["A", "A", "A", "B", "B", "B"],
        ...                       "house": ["h1", "h2", "h3", "h4", "h5", "h1"]})
        >>> pool = Dataset("pool", ".", ["c"], frame)
        >>> test = Dataset("test", ".", ["c"], frame.iloc[[0]])
        >>> region_balanced_house_separated(pool, test).manifest[["region", "house"]].values.tolist()
        [['A', 'h2'], ['A', 'h3'], ['B', 'h4'], ['B', 'h5']]
    """
    regions = _column(pool, region)
    test_houses = set(_column(test, house))
    kept = ~np.isin(_column(pool, house), list(test_houses))
    names = sorted(set(regions[kept]))
    if not names:
        raise SpecError(f"every house of {pool.name!r} is also in {test.name!r}: no house-separated image is left")
    per_region = min(int((kept & (regions == name)).sum()) for name in names)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(kept & (regions == name)), per_region, replace=False) for name in names]
    rows = np.sort(np.concatenate(chosen))
    return pool.subset(rows.tolist(), name=f"{pool.name}[house-separated,{region}-balanced,seed={seed}]")


def geography_last_layer(
    model: Model,
    balanced: Dataset,
    *,
    store: PredictionStore | Workspace | str | Path,
    out: str | Path,
    config: LastLayerConfig = GEOGRAPHY_HEAD_CONFIG,
    base_spec: str | None = None,
    base_options: Mapping[str, Any] | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[Path, HeadFit]:
    """Retrain ``model``'s last layer on ``balanced`` (a region-balanced, house-separated set) and save it.

    A fresh linear head (``config``; its ``seed`` initialises and shuffles) is fitted by ERM on the model's
    penultimate features of ``balanced`` (cached in ``store``), then saved to ``out`` as a model
    ``load_model(f"file:{out}")`` reads. The model must load back from ``base_spec`` (default its name,
    ``model.name``; a trained ``file:`` model names itself otherwise: pass ``f"file:{folder}"``), with
    ``base_options``. The head's labels are the dataset's classes, which must be the model's.
    Returns the folder and the :class:`~robustscope.mitigate.last_layer.HeadFit` (``details["train_accuracy"]``:
    the new head's accuracy on the set it was fitted on).

    Example:
        >>> from robustscope.mitigate.last_layer import LastLayerConfig
        >>> folder, fit = geography_last_layer(base, balanced, store=ws, out="geo-ll")  # doctest: +SKIP
    """
    split = split_model(model)
    if list(split.labels) != list(balanced.classes):
        raise SpecError(f"model {model.name!r} has labels {split.labels}, dataset {balanced.name!r} classes "
                        f"{balanced.classes}: retrain on a dataset of the model's classes")  # fmt: skip
    features = extract_features(model, balanced, store=store, batch_size=batch_size, device=device,
                                progress=progress, split=split)  # fmt: skip
    fit = fit_erm(features.features, features.labels, config=config, init=None)
    import torch

    with torch.no_grad():
        predicted = fit.head(torch.from_numpy(features.features)).argmax(1).numpy()
    regions = features.factors["region"].astype(str) if "region" in features.factors else None
    fit.details.update({
        "train_accuracy": float((predicted == features.labels).mean()),
        "n_images": len(features),
        "per_region": {str(k): int(v) for k, v in regions.value_counts().sort_index().items()} if regions is not None
        else {},
    })  # fmt: skip
    details = {**fit.params(), "data": balanced.name, "features": features.key,
               "reference": "Richards et al. 2023, last layer retraining on a region-balanced house-separated set"}
    folder = save_mitigated(base_spec or model.name, split, fit.weight, fit.bias, features.class_names, out,
                            "geography", details, base_options=base_options,
                            base_fingerprint=model.fingerprint())  # fmt: skip
    return folder, fit
