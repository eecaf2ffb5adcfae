"""Penultimate features of a model on a dataset, computed once and then read back from the PredictionStore.

Last-layer methods (DFR, last-layer retraining, Last Layer Ensembles) fit heads on a backbone's features, many
times over, and must never run the backbone twice on the same data. :func:`extract_features` cuts the model with
:func:`~robustscope.models.features.split_model` and stores the features where logits go, in the same checksummed
Parquet shards (the ``logits`` column holds the ``D`` features, ``meta.json`` says ``"kind":
"penultimate_features"``). Their key (:func:`feature_key`) is a prediction key (model fingerprint, preprocessing,
dataset fingerprint, shift, seed) plus that tag and the head's path, so a changed model or dataset
recomputes and nothing else does. Labels are the dataset's own (index into ``dataset.classes``): a new head is
trained on the dataset's classes, whatever the model's label space.

Features of a *shifted* dataset (``shift="background_swap:noise"``, ``"corruption:fog:3"``, a
:class:`~robustscope.shifts.Shift`) are the features of the images the Runner would feed the model for that shift's
predictions: the same shard tasks apply it, bound to the dataset when it ``needs_dataset`` (masks…), with the same
per-sample seeds. The shift's key (name, version, parameters, what a bound shift reads) enters the feature key as
it enters a prediction key; the shift ``none`` leaves the key exactly as it was before shifts were supported.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from robustscope.config import Workspace
from robustscope.data.base import Dataset
from robustscope.data.content_index import ContentIndex
from robustscope.engine.fingerprint import KEY_LENGTH, key_payload
from robustscope.engine.prediction_store import PredictionStore, shard_ranges
from robustscope.engine.runner import Runner
from robustscope.engine.shard_tasks import ShardTask
from robustscope.errors import BadImageError, CorruptStoreError, RobustscopeError
from robustscope.models.base import Model
from robustscope.models.features import FeatureHead, head_path, split_model
from robustscope.shifts.base import Identity, Shift
from robustscope.shifts.registry import load_shift

__all__ = ["FEATURE_KIND", "FeatureSet", "FeatureShiftError", "extract_features", "feature_key", "feature_shift"]

#: The tag in a feature key and in its ``meta.json``: what the stored vectors are.
FEATURE_KIND = "penultimate_features"


@dataclass
class FeatureSet:
    """Penultimate features of one model on one dataset, in manifest order (skipped bad images absent).

    Attributes:
        sample_ids: ``[N]`` str.
        features: ``[N, D]`` float32.
        labels: ``[N]`` int64, index into :attr:`class_names` (the dataset's classes).
        factors: DataFrame with N rows, one column per dataset factor.
        class_names: the dataset's classes.
        head_path: where the model's head was cut off (``fc``, ``classifier.6``, ``class_embeddings``…).
        key: the PredictionStore key the features are stored under.
        shards_computed, shards_reused: what this call computed and found stored.
        bad_images: paths of images skipped (``on_bad_image="skip"``).
    """

    sample_ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    factors: pd.DataFrame
    class_names: list[str]
    head_path: str
    key: str
    shards_computed: int = 0
    shards_reused: int = 0
    bad_images: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        """N, the number of samples."""
        return len(self.sample_ids)

    @property
    def dim(self) -> int:
        """D, the number of features."""
        return int(self.features.shape[1])


def feature_key(
    model: Model,
    dataset: Dataset,
    head: str,
    seed: int = 0,
    *,
    model_fingerprint: str | None = None,
    dataset_fingerprint: str | None = None,
    max_image_pixels: int | None = None,
    shift: Shift | None = None,
) -> str:
    """The PredictionStore key of ``model``'s features (cut at ``head``) on ``dataset`` under ``shift`` (default
    ``none``; a shift that ``needs_dataset`` is given bound, as :func:`feature_shift` returns it): a prediction
    key's fields plus ``{"output": {"kind": "penultimate_features", "head": head}}``.

    Example:
        >>> from torch import nn
        >>> from robustscope.models import Preprocessing
        >>> from robustscope.engine.fingerprint import prediction_key
        >>> model = Model.from_module(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), Preprocessing(2, 1.0), ["a", "b"])
        >>> data = Dataset("toy", "/nonexistent", ["a", "b"],
        ...                pd.DataFrame({"sample_id": ["x"], "path": ["x.png"], "label": [0]}))
        >>> key = feature_key(model, data, "1", dataset_fingerprint="d")
        >>> len(key), key == prediction_key(model, data, Identity(), 0, dataset_fingerprint="d")
        (24, False)
        >>> key == feature_key(model, data, "1", dataset_fingerprint="d", shift=load_shift("corruption:fog:3"))
        False
    """
    payload = key_payload(
        model,
        dataset,
        shift or Identity(),
        seed,
        model_fingerprint=model_fingerprint,
        dataset_fingerprint=dataset_fingerprint,
        max_image_pixels=max_image_pixels,
    )
    payload["output"] = {"kind": FEATURE_KIND, "head": head}
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


class FeatureShiftError(RobustscopeError, ValueError):
    """A shift that features cannot be computed under (an attack: it needs the whole model's loss)."""


def feature_shift(shift: str | Shift, model: Model, dataset: Dataset) -> Shift:
    """``shift`` (a spec or a :class:`~robustscope.shifts.Shift`) ready to apply to ``dataset``'s images as
    ``model`` sees them: bound to the dataset when it ``needs_dataset``, as the Runner binds it for predictions.

    Example:
        >>> from torch import nn
        >>> from robustscope.models import Preprocessing
        >>> model = Model.from_module(nn.Linear(2, 2), Preprocessing(2, 1.0), ["a", "b"])
        >>> data = Dataset("toy", "/nonexistent", ["a", "b"],
        ...                pd.DataFrame({"sample_id": ["x"], "path": ["x.png"], "label": [0]}))
        >>> feature_shift("corruption:fog:3", model, data).spec(), feature_shift("none", model, data).name
        ('corruption:fog:3', 'none')
    """
    loaded = load_shift(shift)
    if loaded.needs_model:
        raise FeatureShiftError(
            f"shift {loaded.spec()!r} is an attack: it differentiates through the whole model's loss, so it has "
            "no features of its own; use a corruption, overlay or background shift, or run the attack as predictions"
        )
    return loaded.bind(dataset, model.preprocessing) if loaded.needs_dataset else loaded


def extract_features(
    model: Model,
    dataset: Dataset,
    *,
    store: PredictionStore | Workspace | str | Path,
    batch_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
    seed: int = 0,
    split: FeatureHead | None = None,
    shard_size: int = 512,
    on_bad_image: str = "raise",
    content_index: ContentIndex | None = None,
    shift: str | Shift = "none",
) -> FeatureSet:
    """``model``'s penultimate features on ``dataset`` (under ``shift``): computed once, then read back from ``store``.

    Args:
        model: any model :func:`~robustscope.models.features.split_model` can cut.
        dataset: the images.
        store: a :class:`PredictionStore`, its root folder, or a :class:`~robustscope.config.Workspace`
            (its prediction store and content index).
        batch_size, device, progress, shard_size, on_bad_image: as for :class:`~robustscope.engine.Runner`.
        seed: part of the key, as for predictions.
        split: a split already made (skips the check's two-image forward pass).
        content_index: the stat index the dataset is fingerprinted through (default: the workspace's).
        shift: a shift spec (``"background_swap:noise"``, ``"watermark"``, ``"corruption:fog:3"``) or
            :class:`~robustscope.shifts.Shift` applied to the images before the backbone, exactly as for predictions
            (:func:`feature_shift`; ``seed`` seeds it per sample). Attacks raise :class:`FeatureShiftError`.

    A stored, complete key runs no forward pass at all (not even the split's check). A shard that fails its
    checksum is moved aside and recomputed, as for logits.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> from torch import nn
        >>> from robustscope.models import Preprocessing
        >>> root = tempfile.mkdtemp()
        >>> Image.new("RGB", (2, 2), "red").save(f"{root}/x.png")
        >>> data = Dataset("toy", root, ["a", "b"], pd.DataFrame({"sample_id": ["x"], "path": ["x.png"], "label": [1]}))
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 2))
        >>> model = Model.from_module(net, Preprocessing(2, 1.0), ["a", "b"], head="3")
        >>> first = extract_features(model, data, store=root + "/store", progress=False)
        >>> again = extract_features(model, data, store=root + "/store", progress=False)
        >>> first.features.shape, first.labels.tolist(), first.shards_computed, again.shards_computed
        ((1, 4), [1], 1, 0)
        >>> noisy = extract_features(model, data, store=root + "/store", progress=False,
        ...                          shift="corruption:gaussian_noise:3")
        >>> noisy.key != first.key, noisy.shards_computed
        (True, 1)
    """
    if isinstance(store, Workspace):
        content_index = content_index or ContentIndex(store.content_index)
        store = store.predictions
    runner = Runner(
        store,
        batch_size=batch_size,
        shard_size=shard_size,
        device=device,
        on_bad_image=on_bad_image,
        progress=progress,
        content_index=content_index,
    )
    path = split.head_path if split is not None else head_path(model)
    bound = feature_shift(shift, model, dataset)
    model_fp = model.fingerprint()
    dataset_fp = dataset.fingerprint(content_index)
    key = feature_key(model, dataset, path, seed, model_fingerprint=model_fp, dataset_fingerprint=dataset_fp,
                      shift=bound)  # fmt: skip
    computed = 0
    for _attempt in range(2):  # a second pass recomputes shards that failed their checksum on reading
        tasks, split = _plan(runner, model, dataset, bound, key, seed, split, model_fp, dataset_fp)
        if tasks:
            # The Runner's executor: its progress bar, and no forward pass while results are being rebuilt.
            shown = "" if type(bound) is Identity else f" · {bound.spec()}"
            runner._execute(tasks, f"{model.name} · {dataset.name}{shown} · features ({path})")
            computed += len(tasks)
        runner.store.clean(key)
        try:
            predictions, bad = runner.store.load_with_bad_images(key)
            break
        except CorruptStoreError:
            if _attempt:
                raise
    meta = runner.store.read_meta(key)
    if bad and on_bad_image == "raise":
        raise BadImageError(bad[0]["path"], f"skipped by an earlier run with on_bad_image='skip' (features {key})")
    return FeatureSet(
        sample_ids=predictions.sample_ids,
        features=predictions.logits,
        labels=predictions.labels,
        factors=predictions.factors,
        class_names=list(meta.get("dataset_classes") or dataset.classes),
        head_path=path,
        key=key,
        shards_computed=computed,
        shards_reused=int(meta["num_shards"]) - min(computed, int(meta["num_shards"])),
        bad_images=[record["path"] for record in bad],
    )


def _plan(
    runner: Runner,
    model: Model,
    dataset: Dataset,
    shift: Shift,
    key: str,
    seed: int,
    split: FeatureHead | None,
    model_fp: str,
    dataset_fp: str,
) -> tuple[list[ShardTask], FeatureHead | None]:
    """The shard tasks still missing for ``key`` (the model is split only when one is), and the split."""
    store = runner.store
    if store.has_meta(key) and not store.missing_shards(key):
        return [], split
    split = split or split_model(model)
    if not store.has_meta(key):
        store.write_meta(
            key,
            {
                "kind": FEATURE_KIND,
                "head": split.head_path,
                "feature_dim": split.dim,
                "model": model.describe(model_fp),
                "dataset": {"name": dataset.name, "fingerprint": dataset_fp, "len": len(dataset)},
                "shift": {**shift.key(), "spec": shift.spec()},
                "seed": int(seed),
                "num_rows": len(dataset),
                "shard_size": runner.shard_size,
                "num_shards": len(shard_ranges(len(dataset), runner.shard_size)),
                "class_names": list(split.features.labels),  # one per stored column: feature_0 … feature_{D-1}
                "dataset_classes": list(dataset.classes),
                "factor_columns": list(dataset.factor_columns),
            },
        )
    meta = store.read_meta(key)
    if int(meta["num_rows"]) != len(dataset):
        raise ValueError(f"stored features {key} have {meta['num_rows']} rows, dataset has {len(dataset)}")
    identity = tuple(range(len(dataset.classes)))  # labels stay the dataset's own
    # one shift object: execute_tasks checks that its tasks come from one plan
    tasks = runner.missing_tasks(split.features, dataset, shift, seed, key, int(meta["shard_size"]), identity)
    return tasks, split
