"""The ImageNet-X axis: accuracy, error ratio and ECE per factor of variation on ImageNet val.

B. Y. Idrissi et al., "ImageNet-X: Understanding Model Mistakes with Factor of Variation Annotations",
ICLR 2023. The model runs on an ``imagenet-val`` dataset (a cached forward pass, shared with every other
axis that reads ImageNet val); its predictions are joined by file name to the annotations the
``imagenet-x`` package ships (:mod:`robustscope.data.benchmarks.imagenet_x`), and every number is a
pure function of the joined table (:mod:`robustscope.metrics.factors`).

Axis params: :class:`Params`. ``docs/axes/imagenet-x.md`` gives the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from robustscope.data.benchmarks.imagenet_x import (
    FACTORS,
    PACKAGE,
    annotations_dir,
    join_annotations,
    load_imagenet_x_annotations,
    metaclass_of_classes,
    predictions_frame,
    real_labels,
)
from robustscope.errors import LabelSpaceError, MissingDataError, SpecError
from robustscope.metrics.factors import (
    CORRECTNESS,
    IMAGENET_X_BINS,
    correct_predictions,
    factor_table,
    factor_table_by_group,
)
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = [
    "AXIS",
    "FACTOR_SLICE",
    "METACLASS_FACTOR_SLICE",
    "METACLASS_SLICE",
    "Params",
    "evaluate_predictions",
    "imagenet_x_axis",
    "per_factor",
]

#: ``slice_factor`` of per-factor rows (``slice_value``: the factor, e.g. ``pose``).
FACTOR_SLICE = "imagenet_x_factor"
#: ``slice_factor`` of per-metaclass rows over all of a metaclass's images (``slice_value``: ``dog``).
METACLASS_SLICE = "imagenet_x_metaclass"
#: ``slice_factor`` of per-(metaclass, factor) rows (``slice_value``: ``dog/pose``).
METACLASS_FACTOR_SLICE = "imagenet_x_metaclass_factor"
_PAPER = "Idrissi et al., ICLR 2023 (ImageNet-X)"
_DEFINITIONS = {
    "top1": "accuracy on the annotated images with the factor (whole set: on every annotated image)",
    "error_ratio": "ER(f) = (1 - acc on images with factor f) / (1 - acc on all annotated images)",
    "ece": "top-1 ECE over the images with the factor, equal-width bins",
    "worst_factor_top1": "lowest factor accuracy",
    "worst_factor_error_ratio": "highest factor error ratio",
    "worst_factor_ece": "highest factor ECE",
}


def _annotation_source(folder: Any) -> str:
    try:
        from importlib.metadata import version

        installed = f"imagenet-x {version('imagenet-x')}"
    except Exception:  # the package is not installed: an explicit folder
        installed = ""
    return f"{installed} ({folder})" if installed else str(folder)


@dataclass(frozen=True)
class Params:
    """Params of the ``imagenet_x`` axis.

    Attributes:
        factors: ``top`` (the one most salient factor per image, the paper's main setting) or ``multi``.
        filter_prototypes: drop the prototype images, as the package's ``load_annotations`` does.
        correctness: ``class``, ``metaclass`` or ``real`` (the package's error types).
        n_bins: ECE bins (15, ImageNet-X's setting).
        metaclass: also write the per-metaclass view.
        annotations: a folder with the annotation files instead of the installed package's.

    Example:
        >>> Params().n_bins, Params(correctness="real").correctness
        (15, 'real')
    """

    factors: Literal["top", "multi"] = "top"
    filter_prototypes: bool = True
    correctness: Literal["class", "metaclass", "real"] = "class"
    n_bins: int = IMAGENET_X_BINS
    metaclass: bool = False
    annotations: str | None = None

    def __post_init__(self) -> None:
        if self.correctness not in CORRECTNESS:  # the metric's list is the reference; the Literal mirrors it
            raise SpecError(f"correctness={self.correctness!r}; choose one of {list(CORRECTNESS)}")
        if self.n_bins < 1:
            raise SpecError(f"n_bins={self.n_bins}: ECE needs at least one bin")


def _check_labels(joined: pd.DataFrame, dataset: Dataset) -> None:
    """The dataset's folder label of each image must be its annotated class (a mis-sorted val folder fails)."""
    if "label_class" not in joined:
        return
    labelled = joined["label_class"].to_numpy() >= 0
    wrong = labelled & (joined["label_class"].to_numpy() != joined["class"].to_numpy())
    if wrong.any():
        first = joined[wrong].iloc[0]
        raise LabelSpaceError(
            f"dataset {dataset.name!r}: {int(wrong.sum())} image(s) sit in a class folder that is not their "
            f"ImageNet-X class, e.g. {first['file_name']} is in class {int(first['label_class'])} but annotated "
            f"as class {int(first['class'])}; the val images must be sorted into <wnid>/ folders by the "
            "official validation labels"
        )


def _correct(joined: pd.DataFrame, mode: str, folder: Any) -> np.ndarray:
    predicted = joined["predicted_class"].to_numpy()
    true = joined["class"].to_numpy()
    if mode == "metaclass":
        return correct_predictions(predicted, true, mode, metaclass_of=metaclass_of_classes(folder))
    if mode == "real":
        return correct_predictions(predicted, true, mode, real=real_labels(joined["image_key"], folder))
    return correct_predictions(predicted, true, mode)


def _records(
    ev: Evaluation, table: pd.DataFrame, protocol: dict[str, Any], ece_name: str, group: str | None = None
) -> list[dict[str, Any]]:
    records = []
    for row in table.itertuples(index=False):
        metric = ece_name if row.metric == "ece" else str(row.metric)
        extra: dict[str, Any] = {"name": metric, "definition": _DEFINITIONS[str(row.metric)]}
        if str(row.metric).startswith("worst_factor"):
            if group is not None:
                continue  # per-metaclass worst factors are not written: the (metaclass, factor) rows hold them
            extra["worst_factor"] = str(row.factor)
            slice_factor, slice_value = "", ""
        elif row.factor == "":
            slice_factor, slice_value = ("", "") if group is None else (METACLASS_SLICE, group)
        else:
            slice_factor, slice_value = (
                (FACTOR_SLICE, str(row.factor)) if group is None else (METACLASS_FACTOR_SLICE, f"{group}/{row.factor}")
            )
        records.append(
            ev.custom_row(
                metric,
                row.value,
                int(row.n),
                {**protocol, **extra},
                (row.ci_low, row.ci_high),
                slice_factor=slice_factor,
                slice_value=slice_value,
            )
        )
    return records


def evaluate_predictions(
    predictions: pd.DataFrame,
    factors: str = "top",
    filter_prototypes: bool = True,
    correctness: str = "class",
    n_bins: int = IMAGENET_X_BINS,
    n_resamples: int = 1000,
    seed: int = 0,
    annotations: str | Path | None = None,
) -> pd.DataFrame:
    """ImageNet-X numbers of one model's predictions (``file_name, predicted_class, predicted_probability``).

    The predictions (an ImageNet-X CSV read by :func:`~robustscope.data.benchmarks.imagenet_x.read_predictions_csv`,
    or :func:`~robustscope.data.benchmarks.imagenet_x.predictions_frame` of stored predictions) are joined
    to the annotations by file name and scored with :func:`robustscope.metrics.factors.factor_table`
    (Idrissi et al., ICLR 2023). ``attrs``: ``n_unannotated`` (predictions without an annotation) and
    ``annotations`` (where they were read from).

    Example:
        >>> from robustscope.data.benchmarks.imagenet_x import read_predictions_csv
        >>> table = evaluate_predictions(read_predictions_csv("model.csv"))  # doctest: +SKIP
        >>> table[table.metric == "error_ratio"].set_index("factor").value.round(2).head(2)  # doctest: +SKIP
        factor
        pose          1.02
        background    0.97
        Name: value, dtype: float64
    """
    if correctness not in CORRECTNESS:
        raise SpecError(f"correctness={correctness!r}; choose one of {list(CORRECTNESS)}")
    folder = annotations_dir(annotations)
    notes = load_imagenet_x_annotations(factors, "val", filter_prototypes, folder)
    joined = join_annotations(predictions, notes)
    if joined.empty:
        raise MissingDataError(
            f"none of the {len(predictions)} predictions names an ImageNet-X annotated image: ImageNet-X "
            "annotates the ImageNet val images by file name (ILSVRC2012_val_00000001.JPEG …)"
            + (", prototypes excluded" if filter_prototypes else "")
        )
    table = factor_table(
        _correct(joined, correctness, folder),
        joined["predicted_probability"].to_numpy(),
        joined[list(FACTORS)].to_numpy(),
        FACTORS,
        n_bins=n_bins,
        n_resamples=n_resamples,
        seed=seed,
    )
    table.attrs.update(n_unannotated=int(joined.attrs.get("unmatched", 0)), annotations=str(folder))
    return table


def per_factor(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`evaluate_predictions` table as one row per factor: n, top-1, error ratio, ECE and their CIs.

    Example:
        >>> long = pd.DataFrame({"metric": ["top1", "error_ratio", "ece", "top1"], "factor": ["pose"] * 3 + [""],
        ...                      "value": [0.5, 2.0, 0.1, 0.75], "ci_low": [0.4, 1.5, 0.0, 0.7],
        ...                      "ci_high": [0.6, 2.5, 0.2, 0.8], "n": [10, 10, 10, 40]})
        >>> per_factor(long).iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
        {'factor': 'pose', 'n': 10, 'top1': 0.5, 'top1_low': 0.4, 'top1_high': 0.6, 'error_ratio': 2.0,
         'error_ratio_low': 1.5, 'error_ratio_high': 2.5, 'ece': 0.1, 'ece_low': 0.0, 'ece_high': 0.2}
    """
    rows = table[(table["factor"] != "") & table["metric"].isin(["top1", "error_ratio", "ece"])]
    out: dict[str, dict[str, Any]] = {}
    for row in rows.itertuples(index=False):
        record = out.setdefault(str(row.factor), {"factor": str(row.factor), "n": int(row.n)})
        record[row.metric] = row.value
        record[f"{row.metric}_low"] = row.ci_low
        record[f"{row.metric}_high"] = row.ci_high
    columns = ["factor", "n"] + [f"{m}{s}" for m in ("top1", "error_ratio", "ece") for s in ("", "_low", "_high")]
    order = {name: i for i, name in enumerate(FACTORS)}
    records = sorted(out.values(), key=lambda r: order.get(r["factor"], len(order)))
    return pd.DataFrame(records, columns=columns)


def imagenet_x_axis(ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params) -> list[pd.DataFrame]:
    """Top-1, error ratio and ECE per ImageNet-X factor, and the worst factor (Idrissi et al., ICLR 2023).

    For each dataset (an ``imagenet-val`` set, or any set whose file names are ImageNet val names) and
    each shift of the axis, the model's predictions are joined by file name to the annotations (``top``
    factors and prototypes dropped by default, as the package's ``load_annotations``); images without an
    annotation are left out (their count is in the protocol as ``n_unannotated``). An image is correct
    when its top-1 ImageNet class is the annotated class (``correctness: class``).

    Rows (``slice_factor`` ``imagenet_x_factor``, ``slice_value`` the factor): ``top1``, ``error_ratio``
    and ``ece`` for each factor some image has; whole-set rows: ``top1`` and ``ece`` over the annotated
    images, ``worst_factor_top1``, ``worst_factor_error_ratio``, ``worst_factor_ece`` (the factor named
    in the protocol's ``worst_factor``). With ``metaclass: true`` also ``top1``/``ece`` per metaclass
    (``imagenet_x_metaclass``) and the three per-factor numbers per metaclass
    (``imagenet_x_metaclass_factor``, ``dog/pose``), the error ratio over the metaclass's own accuracy.
    CIs: percentile bootstrap over the annotated images, all numbers from the same resamples.

    Example:
        >>> # rows = imagenet_x_axis(ev, {"imagenet_val": load_dataset("imagenet-val:~/data/imagenet/val")},
        >>> #                        AxisSpec("imagenet_x", {"imagenet_val": "..."}), Params())
    """
    from robustscope.shifts.registry import load_shift

    folder = annotations_dir(params.annotations)
    annotations = load_imagenet_x_annotations(params.factors, "val", params.filter_prototypes, folder)
    ece_name = "ece" if params.n_bins == IMAGENET_X_BINS else f"ece{params.n_bins}"
    out = []
    for dataset in datasets.values():
        for shift in spec.shifts:
            predictions, key = ev.predict(dataset, shift)
            joined = join_annotations(predictions_frame(predictions), annotations)
            if joined.empty:
                raise MissingDataError(
                    f"none of the {len(predictions)} images of {dataset.name!r} has an ImageNet-X annotation: "
                    "ImageNet-X annotates the ImageNet val images by file name (ILSVRC2012_val_00000001.JPEG …)"
                    + (", prototypes excluded" if params.filter_prototypes else "")
                )
            _check_labels(joined, dataset)
            correct = _correct(joined, params.correctness, folder)
            confidence = joined["predicted_probability"].to_numpy()
            membership = joined[list(FACTORS)].to_numpy()
            options = {"n_bins": params.n_bins, "n_resamples": ev.n_resamples, "seed": ev.seed}
            protocol = {
                "paper": _PAPER,
                "factors": params.factors,
                "filter_prototypes": params.filter_prototypes,
                "correctness": params.correctness,
                "n_bins": params.n_bins,
                "annotations": _annotation_source(folder),
                "requirement": PACKAGE,
                "n_unannotated": int(joined.attrs.get("unmatched", 0)),
                "ci_resampling": "annotated images resampled jointly; every factor's number from each resample",
            }
            table = factor_table(correct, confidence, membership, FACTORS, **options)
            records = _records(ev, table, protocol, ece_name)
            if params.metaclass:
                by_group = factor_table_by_group(
                    correct, confidence, membership, FACTORS, joined["metaclass"].to_numpy(), **options
                )
                for group, part in by_group.groupby("group", sort=True):
                    records.extend(_records(ev, part.drop(columns="group"), protocol, ece_name, group=str(group)))
            out.append(ev.rows(pd.DataFrame(records), dataset, load_shift(shift), key))
    return out


AXIS = Axis(
    name="imagenet_x",
    title="ImageNet-X factors",
    summary="accuracy, error ratio and ECE per ImageNet-X factor of variation (Idrissi et al., ICLR 2023)",
    paper="Idrissi et al., ImageNet-X: Understanding Model Mistakes with Factor of Variation Annotations, ICLR 2023",
    params=Params,
    run=imagenet_x_axis,
    headlines=(
        Headline("top1", "none", "ImageNet-X top-1"),
        Headline("worst_factor_error_ratio", "none", "ImageNet-X worst-factor ER"),
    ),
    doc="docs/axes/imagenet-x.md",
)
