"""The Python API, mirroring the CLI: load a model and a dataset, evaluate, get a results table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from robustscope.config import Workspace, workspace
from robustscope.data.base import Dataset
from robustscope.engine.result_schema import package_versions
from robustscope.errors import OptionError
from robustscope.models.base import Model
from robustscope.shifts.base import Shift

if TYPE_CHECKING:
    from robustscope.engine import Predictions
    from robustscope.engine.executors import Executor

__all__ = [
    "DEFAULT_METRICS",
    "Comparison",
    "compare",
    "evaluate",
    "load_dataset",
    "load_model",
    "package_versions",
]

#: Metrics computed when none are named.
DEFAULT_METRICS = ("top1", "top5", "ece", "nll", "brier")


def load_model(spec: str | Model, **options: Any) -> Model:
    """Load a model from a spec (``timm:NAME``, ``tv:NAME``, ``clip:ARCH/PRETRAINED``, ``file:PATH``).

    A :class:`Model` passes through unchanged; wrap any other ``nn.Module`` with
    :meth:`Model.from_module`.

    Example:
        >>> model = load_model("file:path/to/trained_model")  # doctest: +SKIP
        >>> model.labels[:2], model.preprocessing.input_size  # doctest: +SKIP
        (['capsule', 'cone'], 64)
    """
    if isinstance(spec, Model):
        return spec
    from robustscope.models.registry import load_model as _load

    return _load(spec, **options)


def load_dataset(spec: str | Dataset, root: str | Path | None = None, **options: Any) -> Dataset:
    """Load a dataset from a spec (``folder:PATH``, ``csv:PATH``, ``synth:WORLD:SPLIT``).

    Example:
        >>> data = load_dataset("synth:tiny:test-id")  # doctest: +SKIP
        >>> len(data) > 0  # doctest: +SKIP
        True
    """
    if isinstance(spec, Dataset):
        return spec
    from robustscope.data.registry import load_dataset as _load

    return _load(spec, root=root, **options)


def _check_factors(dataset: Dataset, slice_by: str | Sequence[str] | None) -> str | list[str] | None:
    if slice_by is None or slice_by == "all":
        return slice_by
    columns = [slice_by] if isinstance(slice_by, str) else list(slice_by)
    factors = dataset.factor_columns
    unknown = [c for c in columns if c not in factors]
    if unknown:
        from robustscope.errors import UnknownNameError
        from robustscope.registry import suggest

        raise UnknownNameError("factor", unknown[0], suggest(unknown[0], factors), factors)
    return columns


def evaluate(
    model: str | Model,
    dataset: str | Dataset,
    shifts: Sequence[str | Shift] = ("none",),
    metrics: Sequence[str] = DEFAULT_METRICS,
    slice_by: str | Sequence[str] | None = "all",
    seed: int = 0,
    batch_size: int = 64,
    device: str = "cpu",
    on_bad_image: str = "raise",
    n_resamples: int = 1000,
    store: str | Path | Workspace | None = None,
    progress: bool = True,
    suite: str = "",
    axis: str = "",
    max_image_pixels: int | None = None,
    precision: str = "fp32",
    num_workers: int = 0,
    executor: str | Executor = "serial",
    ray_address: str | None = None,
    private: bool = False,
    precision_bits: int = 16,
    reveal: str = "logits",
) -> pd.DataFrame:
    """Evaluate one model on one dataset under each shift; return (and store) the results table.

    Predictions go to the workspace's PredictionStore (a second call with the same model, data,
    shift and seed costs no forward pass); metric rows go to its ResultStore.

    Args:
        model, dataset: objects or specs (see :func:`load_model`, :func:`load_dataset`).
        shifts: shift specs or objects; ``"none"`` is the clean set.
        metrics: metric names (``robustscope list metrics``).
        slice_by: factor columns to slice every metric by (continuous factors in equal-width
            bins); ``"all"`` picks every informative factor (see
            :func:`robustscope.metrics.slicing.slicing_frame`); ``None`` reports the whole set only.
        store: workspace folder (default ``$ROBUSTSCOPE_HOME`` or ``./.robustscope``).
        suite, axis: labels for the rows when a suite runs this evaluation (part of a row's identity).
        max_image_pixels: images with more pixels are bad images (possible decompression bombs), under
            ``on_bad_image``; default ``None``: PIL's ``MAX_IMAGE_PIXELS`` (89,478,485).
        precision: ``"fp32"`` (default), ``"fp16"`` or ``"bf16"``: the forward pass under autocast (part of
            the prediction key when not fp32).
        num_workers: DataLoader processes decoding images while the model runs (0: decode in this process).
        executor: ``"serial"`` (default, this process), ``"ray"`` (a local Ray with this machine's cores, or
            the cluster at ``ray_address``: ``"auto"`` or ``"HOST:PORT"``), or an executor object
            (:mod:`robustscope.engine.executors`). Predictions are the same bits either way.

        private: evaluate under two-party secure computation (CrypTen; the ``robustscope[private]`` extra): the
            model owner's process encrypts the weights, the data owner's the (shifted) images, and only ``reveal``
            is decrypted: ``"logits"`` (to the data owner; every metric works) or ``"metric"`` (only the top-1
            correct count). ``precision_bits``: fixed-point fraction bits (16). Rows are marked ``private`` with
            the protocol in ``private_protocol``; see :func:`robustscope.private.evaluate_private` and
            docs/private-evaluation.md.

    Every shift is computed in one pass over the data: each image is decoded once for all of them.

    Returns:
        One row per shift × metric × slice with the columns of the ResultStore
        (``docs/architecture.md``): value, bootstrap CI, n, protocol, … With
        ``on_bad_image="skip"``, ``table.attrs["bad_images"]`` lists the files skipped.
        ``table.attrs["shards_computed"]`` / ``["shards_reused"]`` count the prediction shards this
        call computed / found in the store.

    Example:
        >>> table = evaluate("file:.robustscope/models/demo-clean", "synth:demo:test-pose")  # doctest: +SKIP
        >>> table.query("metric == 'top1' and slice_factor == ''")[["shift", "value"]]  # doctest: +SKIP
    """
    from robustscope.engine.evaluation import Evaluation
    from robustscope.engine.executors import resolve_executor
    from robustscope.engine.options import check_device, check_num_workers, check_precision, check_run_options
    from robustscope.metrics.registry import get_metric
    from robustscope.shifts.registry import load_shift

    if private:
        return _evaluate_private(
            model, dataset, shifts, metrics, slice_by, seed, batch_size, device, on_bad_image, n_resamples, store,
            progress, suite, axis, max_image_pixels, precision, executor, precision_bits, reveal,
        )
    # Every option, metric and shift is checked before the model or data is touched: a bad third
    # shift must not cost the forward passes of the first two.
    check_run_options(batch_size, n_resamples, on_bad_image)
    check_device(device)
    check_precision(precision)
    check_num_workers(num_workers)
    runs_on = resolve_executor(executor, ray_address)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in metrics:
        get_metric(name)
    shifts = [load_shift(s) for s in ([shifts] if isinstance(shifts, str | Shift) else shifts)]
    ws = store if isinstance(store, Workspace) else workspace(store)
    model = load_model(model)
    dataset = load_dataset(dataset)
    columns = _check_factors(dataset, slice_by)
    if dataset.metadata.get("ood") or dataset.metadata.get("external_labels"):
        raise OptionError(
            f"dataset {dataset.name!r} is out-of-distribution data or has labels outside any model's label space "
            "(scored by a suite axis); evaluate it with a suite (robustscope run --suite ...) or "
            "robustscope.suites.run_suite"
        )
    evaluation = Evaluation.in_workspace(
        model,
        ws,
        seed=seed,
        n_resamples=n_resamples,
        suite=suite,
        axis=axis,
        batch_size=batch_size,
        device=device,
        on_bad_image=on_bad_image,
        progress=progress,
        max_image_pixels=max_image_pixels,
        precision=precision,
        num_workers=num_workers,
        executor=runs_on,
    )
    table = pd.concat(evaluation.metric_rows_many(dataset, shifts, metrics, columns, binned=True), ignore_index=True)
    evaluation.write(table, evaluation.evaluation_recipe(dataset, table, metrics, columns))  # for results --rebuild
    table.attrs["bad_images"] = evaluation.bad_images
    table.attrs["shards_computed"], table.attrs["shards_reused"] = evaluation.shards_computed, evaluation.shards_reused
    return table


def _evaluate_private(
    model: str | Model, dataset: str | Dataset, shifts: Sequence[str | Shift], metrics: Sequence[str],
    slice_by: str | Sequence[str] | None, seed: int, batch_size: int, device: str, on_bad_image: str,
    n_resamples: int, store: str | Path | Workspace | None, progress: bool, suite: str, axis: str,
    max_image_pixels: int | None, precision: str, executor: Any, precision_bits: int, reveal: str,
) -> pd.DataFrame:
    """``evaluate(..., private=True)``: the options a two-party CrypTen run cannot honour fail first."""
    from robustscope.private.evaluate import evaluate_private

    refused = {"device": device != "cpu", "precision": precision != "fp32", "executor": executor != "serial",
               "suite/axis": bool(suite or axis)}
    if any(refused.values()):
        names = [name for name, bad in refused.items() if bad]
        raise OptionError(
            f"private=True runs on the CPU in fp32, serially and outside suites; drop {names} "
            "(CrypTen computes on 64-bit fixed-point shares)"
        )
    data = load_dataset(dataset)
    return evaluate_private(
        model, data, shifts, metrics, _check_factors(data, slice_by), seed, batch_size, on_bad_image, n_resamples,
        store, progress, max_image_pixels, precision_bits, reveal,
    )


@dataclass(frozen=True)
class Comparison:
    """Model A against model B on one metric, same samples: values, paired difference, CI and p-value."""

    model_a: str
    model_b: str
    dataset: str
    shift: str
    metric: str
    value_a: float
    value_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    higher_is_better: bool
    n_resamples: int

    def verdict(self, alpha: float = 0.05) -> str:
        """One line: which model is better on the metric, or that the data cannot tell at level ``alpha``.

        Example:
            >>> c = Comparison("a", "b", "d", "none", "ece", 0.09, 0.05, 0.04, 0.01, 0.07, 0.004, 500, False, 1000)
            >>> c.verdict()
            'b beats a on ece (0.0500 vs 0.0900; a − b = +0.0400 [0.0100, 0.0700], p = 0.004)'
        """
        a_better = (self.difference > 0) == self.higher_is_better
        first, second = (self.value_a, self.value_b) if a_better else (self.value_b, self.value_a)
        numbers = (
            f"({first:.4f} vs {second:.4f}; {self.model_a} − {self.model_b} = {self.difference:+.4f} "
            f"[{self.ci_low:.4f}, {self.ci_high:.4f}], p = {self.p_value:.3g})"
        )
        winner, loser = (self.model_a, self.model_b) if a_better else (self.model_b, self.model_a)
        if not self.p_value < alpha:
            return f"no significant difference between {winner} and {loser} on {self.metric} {numbers}"
        return f"{winner} beats {loser} on {self.metric} {numbers}"


def _aligned(a: Predictions, b: Predictions) -> tuple[Predictions, Predictions]:
    """``b`` with its samples in ``a``'s order and its logit columns in ``a``'s class order (matched by name)."""
    from robustscope.engine.alignment import align_predictions

    return align_predictions(a, b)


def compare(
    model_a: str | Model,
    model_b: str | Model,
    dataset: str | Dataset,
    metric: str = "top1",
    shift: str | Shift = "none",
    seed: int = 0,
    n_resamples: int = 10_000,
    batch_size: int = 64,
    device: str = "cpu",
    store: str | Path | Workspace | None = None,
    progress: bool = True,
) -> Comparison:
    """Does model A beat model B on ``metric``? A paired bootstrap test on the same samples.

    Both models' predictions come from (or go to) the workspace's PredictionStore, so comparing
    models already evaluated costs no forward pass. The test resamples samples jointly for both
    models (:func:`robustscope.metrics.registry.compare_metric`); ``ci_low, ci_high`` bound
    ``metric(A) - metric(B)`` and ``p_value`` is two-sided.

    Example:
        >>> c = compare("file:models/a", "file:models/b", "synth:demo:test-pose")  # doctest: +SKIP
        >>> print(c.verdict())  # doctest: +SKIP
        demo-diverse beats demo-narrow on top1 (0.7500 vs 0.3100, difference +0.4400 [...], p = 0.0001)
    """
    from robustscope.engine.evaluation import Evaluation
    from robustscope.engine.options import check_device, check_run_options
    from robustscope.metrics.registry import compare_metric, compute_metrics, get_metric
    from robustscope.shifts.registry import load_shift

    check_run_options(batch_size, n_resamples)  # options, metric and shift fail before any forward pass
    check_device(device)
    protocol = get_metric(metric).protocol
    shift = load_shift(shift)
    ws = store if isinstance(store, Workspace) else workspace(store)
    dataset = load_dataset(dataset)
    if dataset.metadata.get("ood") or dataset.metadata.get("external_labels"):
        raise OptionError(
            f"dataset {dataset.name!r} has no class labels a plain metric can score (out-of-distribution data, or "
            "labels outside the models' label space); compare models on it through a suite axis "
            "(robustscope run --suite ...)"
        )
    models = [load_model(model_a), load_model(model_b)]
    evaluation = Evaluation.in_workspace(
        models[0], ws, seed=seed, batch_size=batch_size, device=device, progress=progress
    )
    predictions = _aligned(*(e.predict(dataset, shift)[0] for e in (evaluation, evaluation.with_model(models[1]))))
    values = [
        float(compute_metrics(p.logits, p.labels, None, [metric], n_resamples=0)["value"].iloc[0]) for p in predictions
    ]
    result = compare_metric(
        metric, predictions[0].logits, predictions[1].logits, predictions[0].labels, n_resamples=n_resamples, seed=seed
    )
    return Comparison(
        model_a=models[0].name,
        model_b=models[1].name,
        dataset=dataset.name,
        shift=shift.spec(),
        metric=metric,
        value_a=values[0],
        value_b=values[1],
        difference=result.difference,
        ci_low=result.ci[0],
        ci_high=result.ci[1],
        p_value=result.p_value,
        n=int(predictions[0].labels.shape[0]),
        higher_is_better=bool(protocol.get("higher_is_better", True)),
        n_resamples=n_resamples,
    )
