"""The ``pug`` axis: accuracy per controlled factor value, held-out factor gaps, and SPAR caption retrieval.

Bordes et al., "PUG: Photorealistic and Semantically Controllable Synthetic Data for Representation
Learning", NeurIPS 2023 Datasets and Benchmarks. Loaders: :mod:`robustscope.data.benchmarks.pug`; metric
functions: :mod:`robustscope.metrics.pug`; splits: :mod:`robustscope.data.splits`; ``docs/axes/pug.md`` gives
the protocol.

Every role of the axis is one of:

- **a classification set with factor columns**: PUG:ImageNet (scored through its ImageNet index sets),
  PUG:Animals, PUG:AR4T, or a synthetic world's split (``synth:WORLD:SPLIT``, whose ``labels.csv`` has the
  PUG:ImageNet columns). Rows: ``top1`` on the whole set; ``top1`` per value of each factor (``slice_factor``
  the factor's column, ``slice_value`` the value; continuous factors in ``n_bins`` equal-width bins), taken
  on the factor's one-factor-at-a-time sweep (the images of its folder when the release's images sit in
  per-factor folders, the ``sweep`` column; else :func:`robustscope.metrics.pug.sweep_mask`); ``factor_gap``
  (max − min over the factor's values with at least ``min_count`` images; ``slice_factor`` ``pug_factor``,
  ``slice_value`` the factor). With ``held_out`` (factor → held-out values of a model trained on the others,
  :func:`robustscope.data.splits.factor_held_out_split`): ``top1_seen[F]``, ``top1_held_out[F]`` and
  ``held_out_gap[F]`` = seen − held out, on the whole set.
- **a PUG:SPAR retrieval task** (``pug-spar:PATH:TASK[:VARIANT]``): the model's scores over the task's
  captions. Rows: ``retrieval_top1``, ``retrieval_top5`` (when the task has more than 5 captions) and, for
  tasks with hard negatives, ``hard_negative_acc``; each also per ``world_name``. A model whose labels are
  the captions is used as it is; an ``open_clip`` model (``clip:ARCH/TAG``) is re-headed with the captions
  as its labels (one prompt each, ``"{}"``), which needs its pretrained weights or checkpoint.

A role the model's labels do not fit (an ImageNet model on PUG:Animals, a classifier on SPAR) gets no rows
and a warning. Params: :class:`Params`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from robustscope.data.benchmarks.pug import PAPER, is_retrieval, pug_factors, spar_columns
from robustscope.data.splits import held_out_mask
from robustscope.errors import LabelSpaceError, SpecError
from robustscope.metrics.geography import disparity, disparity_ci, max_min_disparity
from robustscope.metrics.pug import factor_value_accuracy, hard_negative_correct, retrieval_correct, sweep_mask
from robustscope.metrics.slicing import MAX_EXACT_NUMERIC_VALUES, bin_numeric
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.models.base import Model
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "FACTOR_GAP_SLICE", "Params", "caption_model", "factor_curve_values", "pug_axis"]

#: ``slice_factor`` of the per-factor ``factor_gap`` rows (``slice_value``: the factor).
FACTOR_GAP_SLICE = "pug_factor"
_DEFINITIONS = {
    "top1": "top-1 accuracy (through the dataset's label sets where it has them)",
    "factor_top1": "top-1 accuracy on the images with this factor value, within the factor's sweep",
    "factor_gap": "max - min top-1 over the factor's values (values with at least min_count images)",
    "top1_seen": "top-1 on images whose factor value is not held out",
    "top1_held_out": "top-1 on images whose factor value is held out",
    "held_out_gap": "top1_seen - top1_held_out",
    "retrieval": "correct if the image's caption is among the k highest-scoring captions of the task",
    "hard_negative_acc": "1 if the caption outscores its hard negative (animals swapped), 0.5 on a tie, else 0",
}


@dataclass(frozen=True)
class Params:
    """Params of the ``pug`` axis.

    Attributes:
        factors: factor columns to slice (default: the dataset's PUG factor columns).
        default_value: the value of a factor held at its default in another factor's sweep.
        n_bins: equal-width bins of a continuous factor.
        max_values: a text factor with more values is not sliced.
        min_count: values with fewer images are left out of a factor's gap.
        held_out: factor → its held-out values (or ``{range: [low, high]}``) of a model trained on the others.
        retrieval_k: the k of SPAR's ``retrieval_topK`` rows.
        spar_slices: factor columns SPAR's rows are sliced by.

    Example:
        >>> Params(held_out={"character_scale": {"range": [0.8, 1.2]}}).retrieval_k
        (1, 5)
    """

    factors: tuple[str, ...] | None = None
    default_value: str = "Default"
    n_bins: int = 6
    max_values: int = 64
    min_count: int = 1
    held_out: Mapping[str, Any] = field(default_factory=dict)
    retrieval_k: tuple[int, ...] = (1, 5)
    spar_slices: tuple[str, ...] = ("world_name",)

    def __post_init__(self) -> None:
        if self.n_bins < 1 or any(k < 1 for k in self.retrieval_k):
            raise SpecError("n_bins and retrieval_k must be at least 1")


def factor_curve_values(column: pd.Series, n_bins: int = 6) -> pd.Series:
    """The values a factor curve is drawn over: as they are, or equal-width bins for a continuous factor.

    A factor is continuous, and cut in ``n_bins`` bins, when all its values are numbers and either it has
    more than :data:`~robustscope.metrics.slicing.MAX_EXACT_NUMERIC_VALUES` of them or every image has its
    own (more than ``n_bins``): the synthetic world's sampled angles, sizes and light. PUG's factors have a
    handful of values (and ``Default``) shared by many images and stay as they are.

    Example:
        >>> factor_curve_values(pd.Series(["0", "90", "Default"])).tolist()
        ['0', '90', 'Default']
        >>> factor_curve_values(pd.Series([str(v) for v in range(20)]), n_bins=2).tolist()[:2]
        ['[0, 10)', '[0, 10)']
        >>> factor_curve_values(pd.Series(["0.5", "1.5", "0.25", "2.0"]), n_bins=2).tolist()
        ['[0.2, 1.1)', '[1.1, 2]', '[0.2, 1.1)', '[1.1, 2]']
    """
    numbers = pd.to_numeric(column, errors="coerce")
    distinct = column.nunique()
    sampled = distinct == len(column) and distinct > n_bins
    if numbers.notna().all() and (distinct > MAX_EXACT_NUMERIC_VALUES or sampled):
        return bin_numeric(numbers, n_bins)
    return column.astype(str)


def _chosen_factors(dataset: Dataset, factors: pd.DataFrame, params: Params) -> list[str]:
    if params.factors:  # an empty list, as no list, slices the dataset's own factors
        missing = [f for f in params.factors if f not in factors.columns]
        if missing:
            warnings.warn(f"pug: dataset {dataset.name!r} has no factor column(s) {missing}", stacklevel=3)
        return [f for f in params.factors if f in factors.columns]
    chosen = []
    for name in pug_factors(dataset):
        if name not in factors.columns:
            continue
        column = factors[name].astype(str)
        distinct = column.nunique()
        numeric = pd.to_numeric(column, errors="coerce").notna().all()
        # A text column with one value per image (the synthetic world's scene_light) is an id, not a factor.
        if distinct >= 2 and (numeric or (distinct <= params.max_values and distinct < len(column))):
            chosen.append(name)
    return chosen


def _protocol(dataset: Dataset, role: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "paper": PAPER,
        "role": role,
        "benchmark": str(dataset.metadata.get("benchmark", "")),
        "definition": _DEFINITIONS.get(name, ""),
        **extra,
    }


def _classification_rows(
    ev: Evaluation, role: str, dataset: Dataset, shift: str, params: Params
) -> pd.DataFrame | None:
    from robustscope.shifts.registry import load_shift

    try:
        predictions, key = ev.predict(dataset, shift)
    except LabelSpaceError as err:
        warnings.warn(f"pug: skipping {role} ({dataset.name!r}): {err}", stacklevel=3)
        return None
    correct = (predictions.logits.argmax(axis=1) == predictions.labels).astype(float)
    factors = predictions.factors.astype(str)
    records = [
        ev.custom_row(
            "top1", correct.mean(), correct.size, _protocol(dataset, role, "top1"), ev.bootstrap(np.mean, correct)
        )
    ]
    default = params.default_value
    chosen = _chosen_factors(dataset, factors, params)
    # Every factor of the design restricts a sweep, sliced or not: an unsliced factor still varies.
    design = list(dict.fromkeys([*chosen, *(f for f in pug_factors(dataset) if f in factors.columns)]))
    for factor in chosen:
        keep = sweep_mask(factors[design], factor, default)
        rows_kind = "one-factor-at-a-time sweep: every other factor at " + repr(default)
        if "sweep" in factors.columns and (factors["sweep"] == factor).any():
            keep, rows_kind = (factors["sweep"] == factor).to_numpy(), "the release's folder of this factor's sweep"
        elif not keep.any():
            keep, rows_kind = np.ones(len(factors), dtype=bool), "all images"
        elif keep.all():
            rows_kind = "all images"
        values = factor_curve_values(factors.loc[keep, factor], params.n_bins)
        table = factor_value_accuracy(correct[keep], values.tolist(), ev.n_resamples, ev.seed)
        protocol = _protocol(dataset, role, "top1", factor=factor, rows=rows_kind,
                             definition=_DEFINITIONS["factor_top1"])  # fmt: skip
        for row in table.itertuples(index=False):
            records.append(
                ev.custom_row("top1", row.accuracy, row.n, protocol, (row.ci_low, row.ci_high), factor, row.value)
            )
        counted = table[table["n"] >= params.min_count]
        if len(counted) >= 2:
            in_curve = values.isin(counted["value"]).to_numpy()
            groups, kept = values.to_numpy()[in_curve], correct[keep][in_curve]
            by_value = dict(zip(counted["value"], counted["accuracy"], strict=True))
            ci = disparity_ci(kept, list(groups), max_min_disparity, ev.n_resamples, ev.seed)
            gap_protocol = _protocol(dataset, role, "factor_gap", factor=factor, rows=rows_kind,
                                     min_count=params.min_count,
                                     ci_resampling="images resampled within each value (stratified)")  # fmt: skip
            gap, n = max_min_disparity(by_value), int(kept.size)
            records.append(ev.custom_row("factor_gap", gap, n, gap_protocol, ci, FACTOR_GAP_SLICE, factor))
    for factor, values in params.held_out.items():
        if factor not in factors.columns:
            warnings.warn(f"pug: dataset {dataset.name!r} has no factor {factor!r} to hold out", stacklevel=3)
            continue
        mask = held_out_mask(factors[factor], values)
        if not mask.any() or mask.all():
            warnings.warn(
                f"pug: held_out {factor}={values!r} leaves {'no' if not mask.any() else 'only'} held-out images "
                f"in {dataset.name!r}; no held-out rows",
                stacklevel=3,
            )
            continue
        groups = np.where(mask, "held_out", "seen")
        base = {"factor": factor, "held_out": values, "ci_resampling": "seen and held-out images resampled separately"}
        seen, held = correct[~mask], correct[mask]
        records += [
            ev.custom_row(f"top1_seen[{factor}]", seen.mean(), seen.size,
                           _protocol(dataset, role, "top1_seen", **base), ev.bootstrap(np.mean, seen)),
            ev.custom_row(f"top1_held_out[{factor}]", held.mean(), held.size,
                           _protocol(dataset, role, "top1_held_out", **base), ev.bootstrap(np.mean, held)),
            ev.custom_row(
                f"held_out_gap[{factor}]", float(seen.mean() - held.mean()), correct.size,
                _protocol(dataset, role, "held_out_gap", **base),
                disparity_ci(correct, list(groups), lambda a: disparity(a, "seen", "held_out"),
                             ev.n_resamples, ev.seed),
            ),
        ]  # fmt: skip
    return ev.rows(pd.DataFrame(records), dataset, load_shift(shift), key)


# -- PUG:SPAR ---------------------------------------------------------------------------------------------
def caption_model(model: Model, captions: Sequence[str]) -> Model:
    """A CLIP-style model whose labels are ``captions``: its logits are its image/text similarities.

    ``model`` itself when its labels already include every caption; otherwise, for an ``open_clip`` model
    (``clip:ARCH/TAG`` or a ``checkpoint``), the same weights re-headed with one text embedding per caption
    (:func:`robustscope.models.clip_adapter.load_clip` with the template ``"{}"``). A model without a text
    tower to re-head raises :class:`LabelSpaceError`.

    Example:
        >>> import torch
        >>> from robustscope.models import Model, Preprocessing
        >>> m = Model.from_module(torch.nn.Identity(), preprocessing=Preprocessing(8, 1.0),
        ...                       labels=["a photo of a cat", "a photo of a dog"])
        >>> caption_model(m, ["a photo of a dog"]) is m
        True
    """
    index = model.label_index()
    if all(c in index for c in captions):
        return model
    meta = model.metadata
    if meta.get("source") != "open_clip":
        raise LabelSpaceError(
            f"model {model.name!r} is not a CLIP-style model: its labels do not include the task's captions "
            f"(e.g. {captions[0]!r}) and it has no text tower to embed them; evaluate clip:ARCH/TAG"
        )
    tag, checkpoint = meta.get("pretrained_tag"), meta.get("checkpoint")
    if not tag and not checkpoint:
        raise LabelSpaceError(
            f"model {model.name!r} has random towers (pretrained=False): its text tower cannot be rebuilt to embed "
            "the captions; load it from pretrained weights or a checkpoint"
        )
    from robustscope.models.clip_adapter import load_clip

    arch = str(meta["architecture"])
    name = f"{arch}/{tag}" if tag else arch
    return load_clip(name, checkpoint=checkpoint, labels=list(captions), templates=["{}"])


def _spar_rows(
    ev: Evaluation,
    role: str,
    dataset: Dataset,
    shift: str,
    params: Params,
    heads: dict[tuple[str, ...], Evaluation],
) -> pd.DataFrame | None:
    from robustscope.shifts.registry import load_shift

    captions = tuple(dataset.classes)
    try:
        if captions not in heads:
            head = caption_model(ev.model, captions)
            heads[captions] = ev if head is ev.model else ev.with_model(head)
        sub = heads[captions]
        predictions, key = sub.predict(dataset, shift)
    except LabelSpaceError as err:
        warnings.warn(f"pug: skipping SPAR task {role} ({dataset.name!r}): {err}", stacklevel=3)
        return None
    columns = [sub.label_index[c] for c in captions]
    scores = predictions.logits[:, columns]
    targets_all, negatives_all = spar_columns(dataset)
    position = {s: i for i, s in enumerate(dataset.manifest["sample_id"].astype(str))}
    order = np.array([position[str(s)] for s in predictions.sample_ids], dtype=np.int64)
    targets, negatives = targets_all[order], negatives_all[order]
    factors = predictions.factors.astype(str)
    slices = [s for s in params.spar_slices if s in factors.columns]
    task = str(dataset.metadata.get("task", ""))
    measures: list[tuple[str, np.ndarray, dict[str, Any]]] = []
    for k in params.retrieval_k:
        if k == 1 or k < len(captions):
            extra = {"k": k, "task": task, "n_captions": len(captions), "definition": _DEFINITIONS["retrieval"]}
            measures.append((f"retrieval_top{k}", retrieval_correct(scores, targets, k).astype(float), extra))
    has_negative = negatives >= 0
    if has_negative.any():
        values = hard_negative_correct(scores[has_negative], targets[has_negative], negatives[has_negative])
        measures.append(("hard_negative_acc", values, {"task": task, "n_captions": 2}))
    records = []
    for metric, values, extra in measures:
        rows = has_negative if metric == "hard_negative_acc" else np.ones(len(targets), dtype=bool)
        protocol = _protocol(dataset, role, metric, **extra)
        records.append(ev.custom_row(metric, values.mean(), values.size, protocol, ev.bootstrap(np.mean, values)))
        for column in slices:
            table = factor_value_accuracy(values, factors.loc[rows, column].tolist(), ev.n_resamples, ev.seed)
            for row in table.itertuples(index=False):
                records.append(
                    ev.custom_row(metric, row.accuracy, row.n, protocol, (row.ci_low, row.ci_high), column, row.value)
                )
    return ev.rows(pd.DataFrame(records), dataset, load_shift(shift), key)


def pug_axis(ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params) -> list[pd.DataFrame]:
    """Accuracy per PUG factor value, factor and held-out gaps, and SPAR retrieval (Bordes et al., NeurIPS 2023).

    See the module docstring for the roles, rows and params. CIs: percentile bootstrap over images (per
    factor value over that value's images; gaps resample within each value / side).

    Example:
        >>> # run_suite(model, "pug", data_root="~/data")  → rows of axis "pug"
    """
    heads: dict[tuple[str, ...], Evaluation] = {}
    out = []
    for role, dataset in datasets.items():
        for shift in spec.shifts:
            if is_retrieval(dataset):
                rows = _spar_rows(ev, role, dataset, shift, params, heads)
            else:
                rows = _classification_rows(ev, role, dataset, shift, params)
            if rows is not None and len(rows):
                out.append(rows)
    return out


AXIS = Axis(
    name="pug",
    title="PUG factors",
    summary="accuracy per controlled factor value on PUG datasets (Bordes et al., NeurIPS 2023)",
    paper=PAPER,
    params=Params,
    run=pug_axis,
    headlines=(
        Headline("top1", "none", "PUG top-1"),
        Headline("held_out_gap", "none", "PUG held-out gap"),
        Headline("retrieval_top1", "none", "SPAR retrieval top-1"),
        Headline("hard_negative_acc", "none", "SPAR hard-negative acc"),
    ),
    doc="docs/axes/pug.md",
)
