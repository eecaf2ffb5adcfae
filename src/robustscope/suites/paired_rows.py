"""How one row of a before/after table is paired: which prediction sets, which resampling, or why not.

The rules are listed in :mod:`robustscope.suites.before_after`'s docstring; :func:`pair_row` applies them to one
(before, after) pair of result rows, reading both models' predictions from the PredictionStore by each row's
``prediction_key`` and checking, before pairing, that the stored numbers are the ones recomputed from them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from robustscope.errors import RobustscopeError

if TYPE_CHECKING:
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.engine.predictions import Predictions

__all__ = ["URBANCARS_PAIRED", "PredictionLoader", "pair_row"]

#: The UrbanCars measures paired by the stratified cell bootstrap (the shortcuts axis's whole-set rows).
URBANCARS_PAIRED = (
    "top1", "id_acc", "bg_gap", "coobj_gap", "bg_coobj_gap", "worst_group_acc", "bg_worst_group_acc",
    "coobj_worst_group_acc",
)  # fmt: skip
_PER_IMAGE = "paired bootstrap over images"
_CELLS = "stratified paired bootstrap over images within the 8 UrbanCars cells"
#: Why an axis's rows are not paired, where the axis has only such rows (the fallback says it per row).
_NOT_PAIRED = {
    "progress_gap": "a fit across models (slopes, effective robustness): no image-level pairing",
    "shape_bias": "a fraction over the axis's cue-conflict decisions (its own label mapping): not recomputed here",
    "context_bias": "the axis's own statistic over its context splits: not recomputed here",
    "background_bias": "the axis's own statistic over background variants: not recomputed here",
    "geography": "region/income statistics (disparities) of the axis: not recomputed here",
    "pug": "factor curves of the axis: not recomputed here",
    "imagenet_x": "factor error ratios of the axis: not recomputed here",
    "ood": "a statistic of an ID and an OOD prediction set (two samples, not pairs of one)",
}
# A stored number counts as reproduced from the stored predictions within this (float32 logits, float64 sums).
_TOLERANCE = 1e-6


def _protocol(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class PredictionLoader:
    """Predictions by key, each read once from the store (a missing key is remembered as its error).

    Example:
        >>> import tempfile
        >>> from robustscope.engine.prediction_store import PredictionStore
        >>> load = PredictionLoader(PredictionStore(tempfile.mkdtemp()))
        >>> try:
        ...     load("no-such-key")
        ... except RobustscopeError:
        ...     print("missing")
        missing
    """

    def __init__(self, store: PredictionStore):
        self.store = store
        self.cache: dict[str, Predictions | Exception] = {}

    def __call__(self, key: str) -> Predictions:
        if key not in self.cache:
            try:
                self.cache[key] = self.store.load(key)
            except (RobustscopeError, OSError, ValueError) as err:
                self.cache[key] = err
        found = self.cache[key]
        if isinstance(found, Exception):
            raise found
        return found


def _reproduces(stored: float, recomputed: float) -> bool:
    return bool(np.isfinite(stored) and np.isfinite(recomputed) and abs(stored - recomputed) <= _TOLERANCE)


def _registry_metric(metric: str, before: dict[str, Any], after: dict[str, Any], load: PredictionLoader,
                     n_resamples: int, seed: int) -> tuple[Any, str]:  # fmt: skip
    """A metric of the registry on one prediction set per model: paired test, or why not.

    A row of several prediction sets (``"<clean>+<shifted>"``: the watermark's top-1) is tried on its last set;
    the reproduction check decides whether that is the set the number was computed on.
    """
    from robustscope.engine.alignment import align_predictions
    from robustscope.metrics.registry import compare_metric, compute_metrics

    keys = [str(row["prediction_key"]).split("+")[-1] for row in (before, after)]
    pred_b, pred_a = align_predictions(load(keys[0]), load(keys[1]))
    for stored, p in ((before["value"], pred_b), (after["value"], pred_a)):
        value = float(compute_metrics(p.logits, p.labels, None, [metric], n_resamples=0)["value"].iloc[0])
        if not _reproduces(float(stored), value):
            return None, "not paired: the stored number is not this metric on the stored predictions as they are " \
                         "(the axis maps labels or subsets images)"  # fmt: skip
    return compare_metric(metric, pred_a.logits, pred_b.logits, pred_b.labels, n_resamples=n_resamples, seed=seed), \
        _PER_IMAGE  # fmt: skip


def _urbancars(before: dict[str, Any], after: dict[str, Any], load: PredictionLoader, n_resamples: int, seed: int,
               cache: dict[tuple[str, str], Any]) -> tuple[Any, str]:  # fmt: skip
    """An UrbanCars measure: the stratified paired cell bootstrap (computed once per pair of prediction sets)."""
    from robustscope.engine.alignment import align_predictions
    from robustscope.metrics.shortcuts import cell_counts, urbancars_summary
    from robustscope.metrics.shortcuts_paired import paired_urbancars_tests

    pair = (str(before["prediction_key"]), str(after["prediction_key"]))
    if pair not in cache:
        pred_b, pred_a = align_predictions(load(pair[0]), load(pair[1]))
        factors = pred_b.factors
        if not {"object", "background", "co_occur"} <= set(factors.columns):
            cache[pair] = None
        else:
            cells = [factors[c].astype(str).to_numpy() for c in ("object", "background", "co_occur")]
            names = np.asarray(pred_b.class_names, dtype=object)
            hits = [(names[p.logits.argmax(axis=1)].astype(str) == cells[0]).astype(float) for p in (pred_a, pred_b)]
            protocol = _protocol(before["protocol"])
            ratios = (float(protocol.get("bg_ratio", 0.95)), float(protocol.get("co_occur_obj_ratio", 0.95)))
            tests = paired_urbancars_tests(hits[0], hits[1], *cells, *ratios, n_resamples=n_resamples, seed=seed)
            # Each model's own numbers, to check that the stored rows are the ones recomputed from these predictions.
            own = [urbancars_summary(*cell_counts(*cells, h), *ratios) for h in hits]
            cache[pair] = (tests, own[0], own[1])
    found = cache[pair]
    if found is None:
        return None, "not paired: the stored predictions carry no UrbanCars factors"
    tests, own_after, own_before = found
    metric = str(before["metric"])
    if not (_reproduces(float(before["value"]), float(own_before[metric]))
            and _reproduces(float(after["value"]), float(own_after[metric]))):  # fmt: skip
        return None, "not paired: the stored UrbanCars number differs from the one recomputed from its predictions"
    return tests[metric], _CELLS


def _cue(before: dict[str, Any], after: dict[str, Any], load: PredictionLoader, n_resamples: int, seed: int,
         ) -> tuple[Any, str]:  # fmt: skip
    """``cue_bg_acc`` / ``cue_coobj_acc``: per image, whether the prediction names the cue's value; paired."""
    from robustscope.engine.alignment import align_predictions
    from robustscope.metrics.bootstrap import paired_bootstrap_test

    column = "background" if before["metric"] == "cue_bg_acc" else "co_occur"
    pred_b, pred_a = align_predictions(load(str(before["prediction_key"])), load(str(after["prediction_key"])))
    cue = pred_b.factors[column].astype(str).to_numpy()
    names = np.asarray(pred_b.class_names, dtype=object)
    agree = [(names[p.predicted()].astype(str) == cue).astype(float) for p in (pred_a, pred_b)]
    stored = (float(after["value"]), float(before["value"]))
    if not all(_reproduces(value, float(a.mean())) for value, a in zip(stored, agree, strict=True)):
        return None, "not paired: the stored cue preference is not the one recomputed from its predictions"
    return paired_bootstrap_test(agree[0], agree[1], n_resamples=n_resamples, seed=seed), _PER_IMAGE


def _watermark_gap(before: dict[str, Any], after: dict[str, Any], load: PredictionLoader, n_resamples: int, seed: int,
                   ) -> tuple[Any, str]:  # fmt: skip
    """``in_w_gap``: per image, watermarked minus clean correctness of each model, paired across the two models."""
    from robustscope.engine.alignment import align_predictions
    from robustscope.metrics.bootstrap import paired_bootstrap_test

    per_image = []
    reference = None
    for row in (after, before):
        clean_key, _, marked_key = str(row["prediction_key"]).partition("+")
        clean, marked = align_predictions(load(clean_key), load(marked_key))
        if reference is not None:
            _, clean = align_predictions(reference, clean)
            _, marked = align_predictions(reference, marked)
        if reference is None:
            reference = clean
        gap = (marked.predicted() == marked.labels).astype(float) - (clean.predicted() == clean.labels).astype(float)
        if not _reproduces(float(row["value"]), float(gap.mean())):
            return None, "not paired: the stored IN-W gap is not the one recomputed from its two prediction sets"
        per_image.append(gap)
    return paired_bootstrap_test(per_image[0], per_image[1], n_resamples=n_resamples, seed=seed), _PER_IMAGE


def pair_row(before: dict[str, Any], after: dict[str, Any], load: PredictionLoader, n_resamples: int, seed: int,
              cache: dict[tuple[str, str], Any]) -> tuple[Any, str]:  # fmt: skip
    """(paired test result or None, the ``resampling`` text) of one matched (before, after) pair of rows.

    Rows are dicts with ``axis, dataset, shift, metric, value, prediction_key, protocol``; the result is a
    :class:`~robustscope.metrics.bootstrap.PairedBootstrapTest` of ``after − before``.

    Example:
        >>> row = {"axis": "progress_gap", "shift": "none", "metric": "slope", "value": 1.0, "prediction_key": "k",
        ...        "protocol": "{}"}
        >>> pair_row(row, row, None, 100, 0, {})
        (None, 'not paired: a fit across models (slopes, effective robustness): no image-level pairing')
    """
    from robustscope.metrics.registry import METRICS

    axis, metric, shift = str(before["axis"]), str(before["metric"]), str(before["shift"])
    single = "+" not in str(before["prediction_key"]) and "+" not in str(after["prediction_key"])
    if n_resamples < 1:
        return None, "not paired: n_resamples = 0"
    try:
        if axis == "shortcuts" and shift == "none" and metric in URBANCARS_PAIRED and single:
            found = _urbancars(before, after, load, n_resamples, seed, cache)
            if found[0] is not None or metric != "top1":
                return found
        if axis == "shortcuts" and metric in ("cue_bg_acc", "cue_coobj_acc") and single:
            return _cue(before, after, load, n_resamples, seed)
        if axis == "shortcuts" and metric == "in_w_gap" and not single:
            return _watermark_gap(before, after, load, n_resamples, seed)
        if metric in METRICS:
            return _registry_metric(metric, before, after, load, n_resamples, seed)
    except (RobustscopeError, ValueError, KeyError) as err:
        return None, f"not paired: {str(err).splitlines()[0]}"
    if axis in _NOT_PAIRED:
        return None, f"not paired: {_NOT_PAIRED[axis]}"
    if not single:
        return None, "not paired: a statistic of several prediction sets (e.g. the mean over corruption shifts)"
    return None, "not paired: an axis-specific statistic, not a function of one prediction set recomputed here"
