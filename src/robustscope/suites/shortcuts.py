"""The multiple-shortcuts axis: UrbanCars group accuracies and gaps, ImageNet-W gaps.

Li et al., "A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One Amplifies Others",
CVPR 2023. Definitions in :mod:`robustscope.metrics.shortcuts` (they follow the paper and the authors'
code, facebookresearch/Whac-A-Mole).

Roles whose name starts with ``urbancars`` are UrbanCars sets (``urbancars:PATH:test``,
``synth-urbancars:WORLD:test``: factors ``object``, ``background``, ``co_occur``); every other role is a
set the watermark is measured on (ImageNet-W: ``imagenet-val:PATH`` with the ``watermark`` shift). The
axis's ``shifts`` name the watermark shift(s) (default ``watermark``: opacity 0.5, after resize/crop,
before normalisation). A model whose labels do not fit a role (an ImageNet model on UrbanCars, a model
trained on UrbanCars on ImageNet) gets no rows for that role and a warning; so does a watermark without
a CJK font (:data:`robustscope.shifts.overlays.FONT_HINT`).

Rows, UrbanCars: ``top1``; ``id_acc``; ``bg_gap``, ``coobj_gap``, ``bg_coobj_gap``; ``worst_group_acc``
(8 cells), ``bg_worst_group_acc``, ``coobj_worst_group_acc``; ``group_acc`` sliced by ``group``;
``cell_acc`` sliced by ``cell`` (the release's folder names); ``cue_bg_acc`` and ``cue_coobj_acc`` (the
fraction of predictions equal to the background's / co-occurring object's value, the authors' cue
preference). CIs: stratified bootstrap within each of the 8 cells. Parameters ``bg_ratio`` and
``co_occur_obj_ratio`` (the training correlation that weighs the groups) default to the dataset's
``train_ratios`` metadata, else 0.95.

Rows, watermark (shift = the watermark's spec): ``top1`` on the clean (shift ``none``) and watermarked
set, ``in_w_gap``; with an ImageNet-1k model also ``carton_acc`` (clean and watermarked), ``carton_gap``
and ``delta_p_carton`` (class ``carton_class``, default 478). CIs: paired bootstrap over images.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from robustscope.errors import LabelSpaceError, SpecError
from robustscope.metrics.bootstrap import percentile_interval
from robustscope.metrics.shortcuts import (
    CARTON_CLASS_INDEX,
    GROUPS,
    PAPER,
    TRAIN_RATIO,
    URBANCARS_VALUES,
    bootstrap_cells,
    carton_accuracy,
    carton_probability,
    cell_counts,
    cell_name,
    group_name,
    group_weights,
    urbancars_summary,
)
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

#: The UrbanCars measures written for the whole set, in report order.
URBANCARS_METRICS = (
    "top1",
    "id_acc",
    "bg_gap",
    "coobj_gap",
    "bg_coobj_gap",
    "worst_group_acc",
    "bg_worst_group_acc",
    "coobj_worst_group_acc",
)
_DEFINITIONS = {
    "top1": "top-1 accuracy on the object, all images",
    "id_acc": "group accuracies weighted by the training group frequency p_bg * p_coobj",
    "bg_gap": "acc(bg absent, coobj present) - id_acc",
    "coobj_gap": "acc(bg present, coobj absent) - id_acc",
    "bg_coobj_gap": "acc(bg absent, coobj absent) - id_acc",
    "worst_group_acc": "min cell accuracy over the 8 (object, background, co-occurring object) cells",
    "bg_worst_group_acc": "min accuracy over (object, background) groups, pooled over co-occurring objects",
    "coobj_worst_group_acc": "min accuracy over (object, co-occurring object) groups, pooled over backgrounds",
    "group_acc": "mean over the two object classes of the group's cell accuracy",
    "cell_acc": "top-1 accuracy on one (object, background, co-occurring object) cell",
    "cue_bg_acc": "fraction of predictions equal to the background's value (cue preference)",
    "cue_coobj_acc": "fraction of predictions equal to the co-occurring object's value (cue preference)",
}


@dataclass(frozen=True)
class Params:
    """Params of the ``shortcuts`` axis.

    Attributes:
        bg_ratio, co_occur_obj_ratio: the training correlations of the background and the co-occurring
            object, which weight the ID accuracy (default: the dataset's ``train_ratios`` metadata, else 0.95).
        carton_class: the carton class of the ImageNet-W measures (a logit index or a label name; default
            478 for 1000-class models).

    Example:
        >>> Params(bg_ratio=0.9).co_occur_obj_ratio is None
        True
    """

    bg_ratio: float | None = None
    co_occur_obj_ratio: float | None = None
    carton_class: int | str | None = None

    def __post_init__(self) -> None:
        for name in ("bg_ratio", "co_occur_obj_ratio"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise SpecError(f"{name}={value}: a training correlation is a fraction between 0 and 1")


def is_urbancars_role(role: str) -> bool:
    """Whether a role of the axis is an UrbanCars set (its name starts with ``urbancars``).

    Example:
        >>> is_urbancars_role("urbancars"), is_urbancars_role("urbancars_val"), is_urbancars_role("imagenet_val")
        (True, True, False)
    """
    return role.startswith("urbancars")


def _ratios(dataset: Dataset, params: Params) -> tuple[float, float]:
    found = dataset.metadata.get("train_ratios") or {}
    bg = params.bg_ratio if params.bg_ratio is not None else found.get("bg", TRAIN_RATIO)
    co = params.co_occur_obj_ratio if params.co_occur_obj_ratio is not None else found.get("co_occur_obj", TRAIN_RATIO)
    return float(bg), float(co)


def _ci(distribution: np.ndarray | None) -> tuple[float, float]:
    if distribution is None:
        return float("nan"), float("nan")
    values = np.asarray(distribution, dtype=float)
    if not np.isfinite(values).any():
        return float("nan"), float("nan")
    return percentile_interval(values)


def urbancars_rows(ev: Evaluation, dataset: Dataset, params: Params) -> list[pd.DataFrame]:
    """The UrbanCars rows of one dataset (see the module docstring); none if the model's labels do not fit.

    Example:
        >>> # urbancars_rows(ev, load_dataset("urbancars:~/data/urbancars:test"), Params())
    """
    missing = [c for c in ("object", "background", "co_occur") if c not in dataset.manifest.columns]
    if missing:
        raise SpecError(
            f"shortcuts: dataset {dataset.name!r} has no {missing} factor(s); UrbanCars roles need an UrbanCars "
            "set (urbancars:PATH[:SPLIT] or synth-urbancars:WORLD[:SPLIT])"
        )
    try:
        predictions, key = ev.predict(dataset)
    except LabelSpaceError as err:
        warnings.warn(f"shortcuts: skipping UrbanCars set {dataset.name!r}: {err}", stacklevel=2)
        return []
    names = np.asarray(predictions.class_names, dtype=object)
    predicted = names[predictions.logits.argmax(axis=1)].astype(str)
    factors = predictions.factors
    objects = factors["object"].astype(str).to_numpy()
    backgrounds = factors["background"].astype(str).to_numpy()
    co_occur = factors["co_occur"].astype(str).to_numpy()
    correct = predicted == objects
    hits, totals = cell_counts(objects, backgrounds, co_occur, correct)
    bg_ratio, co_ratio = _ratios(dataset, params)
    point = urbancars_summary(hits, totals, bg_ratio, co_ratio)
    boot = None
    if ev.n_resamples > 0:
        boot = urbancars_summary(*bootstrap_cells(hits, totals, ev.n_resamples, ev.seed), bg_ratio, co_ratio)
    base: dict[str, Any] = {
        "paper": PAPER,
        "bg_ratio": bg_ratio,
        "co_occur_obj_ratio": co_ratio,
        "group_weights": group_weights(bg_ratio, co_ratio),
        "ci_resampling": "stratified bootstrap within each of the 8 cells",
    }

    def protocol(metric: str) -> dict[str, Any]:
        return {"name": metric, "definition": _DEFINITIONS[metric], **base}

    n = int(totals.sum())
    records = [
        ev.custom_row(m, float(point[m]), n, protocol(m), _ci(boot[m] if boot is not None else None))
        for m in URBANCARS_METRICS
    ]
    group = {
        group_name(bg, co): np.array([(b == o) == (bg == "present") and (c == o) == (co == "present")
                                      for o, b, c in zip(objects, backgrounds, co_occur, strict=True)], dtype=bool)
        for bg, co in GROUPS
    }  # fmt: skip
    for name, rows in group.items():
        records.append(
            ev.custom_row(
                "group_acc",
                float(point[name]),
                int(rows.sum()),
                protocol("group_acc"),
                _ci(boot[name] if boot is not None else None),
                slice_factor="group",
                slice_value=name,
            )
        )
    cells = np.where(totals > 0, hits / np.where(totals > 0, totals, 1), np.nan)
    boot_cells = None
    if boot is not None:
        resampled, boot_totals = bootstrap_cells(hits, totals, ev.n_resamples, ev.seed)
        boot_cells = np.where(boot_totals > 0, resampled / np.where(boot_totals > 0, boot_totals, 1), np.nan)
    for o, obj in enumerate(URBANCARS_VALUES):
        for b, bg in enumerate(URBANCARS_VALUES):
            for c, co in enumerate(URBANCARS_VALUES):
                records.append(
                    ev.custom_row(
                        "cell_acc",
                        float(cells[o, b, c]),
                        int(totals[o, b, c]),
                        protocol("cell_acc"),
                        _ci(boot_cells[:, o, b, c] if boot_cells is not None else None),
                        slice_factor="cell",
                        slice_value=cell_name(obj, bg, co),
                    )
                )
    for metric, cue in (("cue_bg_acc", backgrounds), ("cue_coobj_acc", co_occur)):
        agree = (predicted == cue).astype(float)
        records.append(ev.custom_row(metric, float(agree.mean()), n, protocol(metric), ev.bootstrap(np.mean, agree)))
    return [ev.rows(pd.DataFrame(records), dataset, "none", key)]


def _carton_index(class_names: list[str], params: Params) -> int | None:
    """The carton logit: ``carton_class`` (an index, or a label name) if given, else 478 for 1000-class models."""
    wanted = params.carton_class
    if wanted is None:
        return CARTON_CLASS_INDEX if len(class_names) == 1000 else None
    if isinstance(wanted, str):
        return class_names.index(wanted) if wanted in class_names else None
    return int(wanted) if 0 <= int(wanted) < len(class_names) else None


def watermark_rows(
    ev: Evaluation, dataset: Dataset, spec: AxisSpec, params: Params, clean_top1: bool = True
) -> list[pd.DataFrame]:
    """IN-W gap (and the carton measures with an ImageNet-1k model) of one dataset under each watermark shift.

    ``clean_top1=False`` leaves out the clean set's ``top1`` row (when an UrbanCars role already wrote it).

    Example:
        >>> # watermark_rows(ev, load_dataset("imagenet-val:~/data/imagenet/val"),
        >>> #                AxisSpec("shortcuts", {}, ("none", "watermark")), Params())
    """
    from robustscope.shifts.overlays import MissingFontError
    from robustscope.shifts.registry import load_shift

    shifts = [s for s in spec.shifts if s != "none"] or ["watermark"]
    try:
        clean, clean_key = ev.predict(dataset)
    except LabelSpaceError as err:
        warnings.warn(f"shortcuts: skipping watermark set {dataset.name!r}: {err}", stacklevel=2)
        return []
    order = {sid: i for i, sid in enumerate(clean.sample_ids.tolist())}
    clean_pred = clean.logits.argmax(axis=1)
    clean_correct = (clean_pred == clean.labels).astype(float)
    carton = _carton_index(list(clean.class_names), params)
    base = {"paper": PAPER, "overlay": "ImageNet-W watermark after resize/crop, before normalisation"}
    records = []
    if clean_top1:
        top1 = ev.custom_row(
            "top1", float(clean_correct.mean()), clean_correct.size, {"name": "top1", **base},
            ev.bootstrap(np.mean, clean_correct),
        )  # fmt: skip
        records.append(top1)
    is_carton = clean.labels == carton if carton is not None else np.zeros(len(clean_pred), dtype=bool)
    if carton is not None and is_carton.any():
        hit = (clean_pred[is_carton] == carton).astype(float)
        definition = "fraction of the carton-class images predicted as carton"
        records.append(
            ev.custom_row(
                "carton_acc",
                carton_accuracy(clean_pred, clean.labels, carton),
                int(is_carton.sum()),
                {"name": "carton_acc", "carton_class": carton, "definition": definition, **base},
                ev.bootstrap(np.mean, hit),
            )
        )
    out = [ev.rows(pd.DataFrame(records), dataset, "none", clean_key)] if records else []
    for shift_spec in shifts:
        try:
            shift = load_shift(shift_spec)
        except MissingFontError as err:
            warnings.warn(f"shortcuts: skipping {shift_spec!r} on {dataset.name!r}: {err}", stacklevel=2)
            continue
        marked, key = ev.predict(dataset, shift)
        # the same images in the same order (paired): align by sample id
        index = np.array([order[sid] for sid in marked.sample_ids.tolist()], dtype=np.int64)
        c_correct, c_pred, labels = clean_correct[index], clean_pred[index], clean.labels[index]
        m_pred = marked.logits.argmax(axis=1)
        m_correct = (m_pred == marked.labels).astype(float)
        name = shift.spec()
        info = {**base, "shift": name}
        rows = [
            ev.custom_row("top1", float(m_correct.mean()), m_correct.size, {"name": "top1", **info},
                           ev.bootstrap(np.mean, m_correct)),
            ev.custom_row(
                "in_w_gap",
                float(m_correct.mean() - c_correct.mean()),
                m_correct.size,
                {"name": "in_w_gap", "definition": "top1(watermarked) - top1(clean), same images", **info,
                 "ci_resampling": "paired bootstrap over images"},
                ev.bootstrap(np.mean, m_correct - c_correct),
            ),
        ]  # fmt: skip
        if carton is not None:
            chosen = labels == carton
            carton_info = {"carton_class": carton, **info, "ci_resampling": "paired bootstrap over images"}
            if chosen.any():
                w_hit = (m_pred[chosen] == carton).astype(float)
                c_hit = (c_pred[chosen] == carton).astype(float)
                rows.append(
                    ev.custom_row(
                        "carton_acc",
                        float(w_hit.mean()),
                        int(chosen.sum()),
                        {"name": "carton_acc", "definition": "fraction of the carton-class images predicted as "
                         "carton", **carton_info},
                        ev.bootstrap(np.mean, w_hit),
                    )
                )  # fmt: skip
                rows.append(
                    ev.custom_row(
                        "carton_gap",
                        float(w_hit.mean() - c_hit.mean()),
                        int(chosen.sum()),
                        {"name": "carton_gap", "definition": "carton_acc(watermarked) - carton_acc(clean)",
                         **carton_info},
                        ev.bootstrap(np.mean, w_hit - c_hit),
                    )
                )  # fmt: skip
            p_change = carton_probability(marked.logits, carton) - carton_probability(clean.logits[index], carton)
            rows.append(
                ev.custom_row(
                    "delta_p_carton",
                    float(p_change.mean()),
                    m_correct.size,
                    {"name": "delta_p_carton", "definition": "mean softmax p(carton), watermarked - clean, all "
                     "images", **carton_info},
                    ev.bootstrap(np.mean, p_change),
                )
            )  # fmt: skip
        out.append(ev.rows(pd.DataFrame(rows), dataset, shift, f"{clean_key}+{key}"))
    return out


def shortcuts_axis(ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params) -> list[pd.DataFrame]:
    """UrbanCars group accuracies and shortcut gaps, and ImageNet-W gaps (Li et al., CVPR 2023).

    Roles starting with ``urbancars`` get :func:`urbancars_rows`; every other role :func:`watermark_rows`.

    Example:
        >>> # run_suite("file:model", "shortcuts-offline", world="tiny")  (the axis of that suite)
    """
    out: list[pd.DataFrame] = []
    urban = {id(d) for role, d in datasets.items() if is_urbancars_role(role)}
    for role, dataset in datasets.items():
        if is_urbancars_role(role):
            out.extend(urbancars_rows(ev, dataset, params))
        else:  # a set that is also an UrbanCars role has its clean top-1 row already
            out.extend(watermark_rows(ev, dataset, spec, params, clean_top1=id(dataset) not in urban))
    return out


AXIS = Axis(
    name="shortcuts",
    title="Multiple shortcuts",
    summary="UrbanCars group accuracies and shortcut gaps, ImageNet-W gaps (Li et al., Whac-A-Mole, CVPR 2023)",
    paper="Li et al., A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One Amplifies Others, "
    "CVPR 2023",
    params=Params,
    run=shortcuts_axis,
    headlines=(
        Headline("id_acc", "none", "UrbanCars ID acc"),
        Headline("bg_gap", "none", "UrbanCars BG gap"),
        Headline("coobj_gap", "none", "UrbanCars CoObj gap"),
        Headline("bg_coobj_gap", "none", "UrbanCars BG+CoObj gap"),
        Headline("in_w_gap", "watermark", "IN-W gap"),
        Headline("carton_gap", "watermark", "carton gap"),
    ),
    doc="docs/axes/shortcuts.md",
)

__all__ = ["AXIS", "Params", "is_urbancars_role", "shortcuts_axis", "urbancars_rows", "watermark_rows"]
