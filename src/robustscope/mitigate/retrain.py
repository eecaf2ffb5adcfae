"""From a model and its training data to a saved retrained last layer: the Last Layer Ensemble and the baselines.

:func:`lle_mitigate` fits :func:`~robustscope.mitigate.lle.fit_lle` on the model's features of the training set and
of each augmentation (augmented images, e.g. :func:`~robustscope.mitigate.urbancars_aug.materialise_urbancars_aug`,
or a shift applied to the training images); :func:`last_layer_mitigate` fits one of the baselines of
:mod:`robustscope.mitigate.last_layer` (ERM, group-balanced, GroupDRO, JTT). Both extract features through the
prediction store's cache (:func:`~robustscope.mitigate.pipeline.model_features`: the backbone runs once per dataset
and shift) and save the head with :func:`~robustscope.mitigate.pipeline.save_head`, a folder
``load_model("file:OUT")`` reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Unpack

from robustscope.config import Workspace
from robustscope.data.base import Dataset
from robustscope.engine.prediction_store import PredictionStore
from robustscope.errors import OptionError
from robustscope.mitigate.last_layer import (
    DEFAULT_CONFIG,
    HeadFit,
    LastLayerConfig,
    fit_erm,
    fit_group_balanced,
    fit_group_dro,
    fit_jtt,
)
from robustscope.mitigate.lle import LLEResult, fit_lle
from robustscope.mitigate.pipeline import (
    FeatureSource,
    GroupOf,
    RunOptions,
    base_head_init,
    groups_of,
    model_features,
    save_head,
)
from robustscope.models.base import Model
from robustscope.shifts.base import Shift
from robustscope.shifts.registry import canonical_spec

__all__ = ["LAST_LAYER_METHODS", "last_layer_mitigate", "lle_mitigate"]

#: The baselines by their command-line names: (fit function, whether it needs groups).
LAST_LAYER_METHODS: dict[str, tuple[Callable[..., HeadFit], bool]] = {
    "erm": (fit_erm, False),
    "group-balanced": (fit_group_balanced, True),
    "groupdro": (fit_group_dro, True),
    "jtt": (fit_jtt, False),
}


def _config(config: LastLayerConfig | None, seed: int | None) -> LastLayerConfig:
    """``config`` (default: the reference's linear probing) with ``seed`` when one is given."""
    config = config or DEFAULT_CONFIG
    return config if seed is None else dataclasses.replace(config, seed=int(seed))


def _run_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``options`` split into :class:`~robustscope.mitigate.pipeline.RunOptions` for extracting features, for
    saving, and the rest (a method's own options)."""
    extract = {k: options[k] for k in ("batch_size", "device", "progress") if k in options}
    save = {k: options[k] for k in ("base_spec", "base_options") if k in options}
    rest = {k: v for k, v in options.items() if k not in extract and k not in save}
    return extract, save, rest


def lle_mitigate(
    model: Model,
    train_data: Dataset,
    augmentations: Mapping[str, Dataset | str | Shift],
    *,
    store: PredictionStore | Workspace | str | Path,
    out: str | Path,
    seed: int | None = None,
    config: LastLayerConfig | None = None,
    **options: Unpack[RunOptions],
) -> tuple[Path, LLEResult]:
    """A Last Layer Ensemble for ``model``: one head for ``train_data`` and one per augmentation, saved to ``out``.

    Args:
        augmentations: name → augmented images (a :class:`~robustscope.data.base.Dataset` with ``train_data``'s
            classes, e.g. ``materialise_urbancars_aug(train, "bg")``) or a shift applied to ``train_data``
            (``"background_swap:noise"``, ``"watermark"``, ``"corruption:fog:3"``; its labels are the
            originals'). Head ``k`` (``k ≥ 1``) is the ``k``-th augmentation, head 0 the original data; for
            UrbanCars give ``{"bg": …, "co_occur_obj": …}`` to number them as the reference's ``dist_shift``.
        store: the prediction store (or workspace) features are cached in.
        seed: the fit's seed (default: ``config``'s); config: the SGD (default: the reference's linear probing).
        options: ``batch_size``, ``device``, ``progress``, ``base_spec``, ``base_options``
            (:class:`~robustscope.mitigate.pipeline.RunOptions`).

    Every head starts from the base model's head when its labels are ``train_data``'s classes (the ImageNet LLE
    trainer loads it into every head), else at random (:func:`~robustscope.mitigate.pipeline.base_head_init`).
    ``details`` of the saved model record each augmentation (a dataset's name, or a shift's canonical spec), every
    feature key and the initialisation. Returns the folder and the :class:`~robustscope.mitigate.lle.LLEResult`.

    Example:
        >>> folder, lle = lle_mitigate(model, train, {"bg": aug_bg, "co_occur_obj": aug_co},
        ...                            store=ws, out="lle", seed=0)  # doctest: +SKIP
        >>> load_model(f"file:{folder}").labels  # doctest: +SKIP
        ['urban', 'country']
    """
    if not augmentations:
        raise OptionError("lle_mitigate needs at least one augmentation (name → dataset or shift spec)")
    extract_options, save_options, unknown = _run_options(options)
    if unknown:
        raise OptionError(f"lle_mitigate does not take {sorted(unknown)}; its options: "
                          f"{list(RunOptions.__annotations__)}")  # fmt: skip
    sources: dict[str, FeatureSource] = {"original": train_data}
    recorded: dict[str, dict[str, str]] = {}
    for name, augmentation in augmentations.items():
        if str(name) == "original":
            raise OptionError("augmentation name 'original' is taken by the training data's own head; rename it")
        if isinstance(augmentation, Dataset):
            if list(augmentation.classes) != list(train_data.classes):
                raise OptionError(f"augmentation {name!r} ({augmentation.name}) has classes {augmentation.classes}, "
                                  f"the training data {train_data.classes}: give it the same classes")  # fmt: skip
            sources[str(name)] = augmentation
            recorded[str(name)] = {"kind": "dataset", "dataset": augmentation.name}
        else:
            sources[str(name)] = (train_data, augmentation)
            recorded[str(name)] = {"kind": "shift", "shift": canonical_spec(augmentation)}
    split, features = model_features(model, sources, store=store, **extract_options)
    original = features.pop("original")
    classes = original.class_names
    init = base_head_init(split, classes)
    config = _config(config, seed)
    augmented = {name: (fs.features, fs.labels) for name, fs in features.items()}
    result = fit_lle(original.features, original.labels, augmented, config=config, init=init, num_classes=len(classes))
    details = {**result.params(), "train_data": train_data.name, "augmentations": recorded,
               "features": {"original": original.key, **{name: fs.key for name, fs in features.items()}},
               "init": "base_head" if init is not None else "random"}  # fmt: skip
    folder = save_head(model, split, result.head, classes, out, "lle", details, **save_options)
    return folder, result


def last_layer_mitigate(
    method: str,
    model: Model,
    train_data: Dataset,
    *,
    group_of: GroupOf | None = None,
    store: PredictionStore | Workspace | str | Path,
    out: str | Path,
    seed: int | None = None,
    config: LastLayerConfig | None = None,
    **method_options: Any,
) -> tuple[Path, HeadFit]:
    """Retrain ``model``'s last layer on ``train_data`` with a baseline and save it to ``out``.

    Args:
        method: ``erm``, ``group-balanced``, ``groupdro`` or ``jtt`` (:data:`LAST_LAYER_METHODS`: the ``fit_*``
            functions of :mod:`robustscope.mitigate.last_layer`).
        group_of: the groups (a factor column, groups class × value, or a function:
            :func:`~robustscope.mitigate.pipeline.groups_of`); needed by ``group-balanced`` and ``groupdro``.
        store, out, seed, config: as for :func:`lle_mitigate`.
        method_options: the method's own options (``step_size``, ``balanced`` for GroupDRO; ``up_weight``,
            ``id_epochs`` for JTT) and the :class:`~robustscope.mitigate.pipeline.RunOptions` (``batch_size``,
            ``device``, ``progress``, ``base_spec``, ``base_options``).

    The head starts from the base model's head when its labels are ``train_data``'s classes, else at random.
    Returns the folder and the :class:`~robustscope.mitigate.last_layer.HeadFit`.

    Example:
        >>> folder, fit = last_layer_mitigate("groupdro", model, train, group_of="background", store=ws,
        ...                                   out="gdro", seed=0)  # doctest: +SKIP
        >>> fit.params()["step_size"]  # doctest: +SKIP
        0.01
    """
    key = str(method).lower().replace("_", "-")
    key = {"group-dro": "groupdro", "groupbalanced": "group-balanced"}.get(key, key)
    if key not in LAST_LAYER_METHODS:
        raise OptionError(f"last-layer method {method!r}: choose one of {list(LAST_LAYER_METHODS)}")
    fit_function, needs_groups = LAST_LAYER_METHODS[key]
    if needs_groups and group_of is None:
        raise OptionError(f"last-layer method {key!r} needs groups: pass group_of=FACTOR (e.g. 'background')")
    extract_options, save_options, method_options = _run_options(method_options)
    split, sets = model_features(model, {"train": train_data}, store=store, **extract_options)
    features = sets["train"]
    init = base_head_init(split, features.class_names)
    arguments: dict[str, Any] = {"config": _config(config, seed), "init": init, **method_options}
    if needs_groups:
        arguments["groups"] = groups_of(features, group_of)  # type: ignore[arg-type]
    try:
        fit = fit_function(features.features, features.labels, **arguments)
    except TypeError as err:
        if "unexpected keyword" not in str(err):
            raise
        raise OptionError(f"last-layer method {key!r} does not take {sorted(method_options)}: {err}") from None
    grouping = None if group_of is None else group_of if isinstance(group_of, str) else getattr(
        group_of, "__name__", "callable")  # fmt: skip
    details = {**fit.params(), "train_data": train_data.name, "features": features.key, "group_of": grouping,
               "init": "base_head" if init is not None else "random"}  # fmt: skip
    folder = save_head(model, split, (fit.weight, fit.bias), features.class_names, out, fit.method, details,
                       **save_options)
    return folder, fit
