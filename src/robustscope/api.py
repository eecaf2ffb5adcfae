"""The Python API, mirroring the CLI: load a model and a dataset, evaluate, get a results table."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from robustscope.config import Workspace, workspace
from robustscope.data.base import Dataset
from robustscope.models.base import Model
from robustscope.shifts.base import Shift

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


def package_versions() -> dict[str, str]:
    """Versions recorded beside every result row (robustscope, python, torch, numpy, …)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("robustscope", "torch", "torchvision", "numpy", "timm", "open_clip_torch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


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

    Returns:
        One row per shift × metric × slice with the columns of the ResultStore
        (``docs/architecture.md``): value, bootstrap CI, n, protocol, … With
        ``on_bad_image="skip"``, ``table.attrs["bad_images"]`` lists the files skipped.

    Example:
        >>> table = evaluate("file:.robustscope/models/demo-narrow", "synth:demo:test-pose")  # doctest: +SKIP
        >>> table.query("metric == 'top1' and slice_factor == ''")[["shift", "value"]]  # doctest: +SKIP
    """
    from robustscope.engine import PredictionStore, ResultStore, Runner
    from robustscope.engine.label_space import to_dataset_space
    from robustscope.metrics.registry import compute_metrics, get_metric
    from robustscope.metrics.slicing import slicing_frame
    from robustscope.shifts.registry import load_shift

    for name in metrics:
        get_metric(name)  # fail on a misspelt metric before any forward pass
    ws = store if isinstance(store, Workspace) else workspace(store)
    model = load_model(model)
    dataset = load_dataset(dataset)
    columns = _check_factors(dataset, slice_by)
    if dataset.metadata.get("ood") or dataset.metadata.get("external_labels"):
        raise ValueError(
            f"dataset {dataset.name!r} is out-of-distribution data or has labels outside any model's label space "
            "(scored by a suite axis); evaluate it with a suite (robustscope run --suite ...) or "
            "robustscope.suites.run_suite"
        )
    label_index = model.label_index()
    runner = Runner(
        PredictionStore(ws.predictions),
        batch_size=batch_size,
        device=device,
        on_bad_image=on_bad_image,
        progress=progress,
    )
    model_fingerprint, dataset_fingerprint = model.fingerprint(), dataset.fingerprint()
    versions = json.dumps(package_versions(), sort_keys=True)
    tables = []
    bad_images: set[str] = set()
    for shift in map(load_shift, shifts):
        result = runner.run(
            model,
            dataset,
            shift,
            seed=seed,
            model_fingerprint=model_fingerprint,
            dataset_fingerprint=dataset_fingerprint,
        )
        bad_images.update(result.bad_images)
        predictions = to_dataset_space(result.predictions, dataset, model.labels, label_index)
        factors = slicing_frame(predictions.factors, columns)
        rows = compute_metrics(
            predictions.logits,
            predictions.labels,
            factors,
            metrics,
            slice_by=list(factors.columns),
            n_resamples=n_resamples,
            seed=seed,
        )
        rows.insert(0, "model", model.name)
        rows.insert(1, "model_fingerprint", model_fingerprint)
        rows.insert(2, "dataset", dataset.name)
        rows.insert(3, "dataset_fingerprint", dataset_fingerprint)
        rows.insert(4, "shift", shift.spec())
        rows["prediction_key"] = result.key
        rows["versions"] = versions
        rows["created_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
        rows["suite"], rows["axis"] = suite, axis
        tables.append(rows)
    table = pd.concat(tables, ignore_index=True)
    ResultStore(ws.results_db).write(table)
    table.attrs["bad_images"] = sorted(bad_images)
    return table
