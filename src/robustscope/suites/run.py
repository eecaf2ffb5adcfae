"""Running a suite for a model: resolve its datasets, run every axis, store rows, summarise.

Example:
    >>> # result = run_suite("file:.robustscope/models/demo-clean-…", "synthetic-clones-offline")
    >>> # result.summary()          # one row: the model's headline number on each axis
    >>> # result.skipped            # datasets that were not found, with the paths tried
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from robustscope.config import Workspace, workspace
from robustscope.errors import MissingDataError
from robustscope.suites.axis import Headline
from robustscope.suites.axis_spec import AxisSpec
from robustscope.suites.registry import axis_names, get_axis
from robustscope.suites.spec import SuiteSpec, fill_placeholders, load_suite, placeholders, typed_params

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.executors import Executor
    from robustscope.models.base import Model


@dataclass(frozen=True)
class Skipped:
    """A dataset of a suite that could not be used, and why (the paths tried, for missing data)."""

    axis: str
    role: str
    spec: str
    reason: str


@dataclass
class SuiteResult:
    """Rows a suite produced for one model, the datasets skipped, and the time it took."""

    suite: SuiteSpec
    table: pd.DataFrame
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    #: Prediction shards computed by this run / found in the store.
    shards_computed: int = 0
    shards_reused: int = 0

    def summary(self) -> pd.DataFrame:
        """The headline number of each axis per model (see :func:`suite_summary`)."""
        return suite_summary(self.table)

    def empty_reason(self) -> str:
        """Why the run produced no result row, in one line: every dataset skipped (with the paths tried), or not.

        Example:
            >>> spec = SuiteSpec("s", "", (AxisSpec("calibration", {"val": "imagenet-val:{data:imagenet-val}"}),))
            >>> why = Skipped("calibration", "val", "imagenet-val:{data:imagenet-val}", "not under /d; tried: /d/val")
            >>> SuiteResult(spec, pd.DataFrame(), [why]).empty_reason()  # doctest: +NORMALIZE_WHITESPACE
            'suite s: no dataset was found, so there is no result row: calibration/val: not under /d; tried: /d/val.
            Put the benchmarks in one of the folders tried under --data-root (data_root=)'
        """
        if self.skipped:
            listing = "; ".join(f"{s.axis}/{s.role}: {s.reason}" for s in self.skipped)
            return (
                f"suite {self.suite.name}: no dataset was found, so there is no result row: {listing}. Put the "
                "benchmarks in one of the folders tried under --data-root (data_root=)"
            )
        return (
            f"suite {self.suite.name}: no axis produced a result row (see the warnings above: each says why a "
            "dataset was left out)"
        )


def _resolve(spec: str, world: str, data_root: Path | None) -> str:
    """Fill a dataset spec's placeholders; :class:`MissingDataError` names the paths tried."""
    paths: dict[str, str] = {}
    for token in placeholders(spec):
        if token.startswith("data:"):
            from robustscope.data.benchmarks.roots import find_benchmark

            name = token.split(":", 1)[1]
            if data_root is None:
                raise MissingDataError(f"{name}: no --data-root given (the real-data suites read benchmarks from it)")
            paths[name] = str(find_benchmark(name, data_root))
    return fill_placeholders(spec, world, paths)


def _load_axis_datasets(
    axis: AxisSpec,
    world: str,
    data_root: Path | None,
    ws: Workspace,
    progress: bool,
    cache: dict[str, Dataset],
    skipped: list[Skipped],
) -> dict[str, Dataset]:
    from robustscope.data.registry import load_dataset

    datasets = {}
    for role, template in axis.datasets.items():
        try:
            spec = _resolve(template, world, data_root)
            if spec not in cache:
                cache[spec] = (
                    load_dataset(spec, root=ws.renders, progress=progress)
                    if spec.startswith("synth")
                    else load_dataset(spec)
                )
            datasets[role] = cache[spec]
        except MissingDataError as err:
            skipped.append(Skipped(axis.axis, role, template, str(err)))
    return datasets


def suite_recipe(
    model_spec: str | None,
    model_name: str,
    suite: SuiteSpec,
    axes: Sequence[AxisSpec],
    world: str,
    data_root: Path | None,
    seed: int,
    n_resamples: int,
) -> dict[str, Any]:
    """The recipe of one :func:`run_suite` call (the axes it ran, as data), which ``results --rebuild`` replays.

    Example:
        >>> suite = load_suite("synthetic-clones-offline")
        >>> recipe = suite_recipe("file:m", "m", suite, suite.axes[:1], "demo", None, 0, 100)
        >>> recipe["kind"], list(recipe["suite"]["axes"]), SuiteSpec.from_dict(recipe["suite"]).axes[0].axis
        ('suite', ['shape_bias'], 'shape_bias')
    """
    return {
        "kind": "suite",
        "model": model_spec,
        "model_name": model_name,
        "suite": {
            "name": suite.name,
            "description": suite.description,
            "paper": suite.paper,
            "axes": {
                a.axis: {"datasets": dict(a.datasets), "shifts": list(a.shifts), "params": dict(a.params)} for a in axes
            },
        },
        "world": world,
        "data_root": str(data_root) if data_root is not None else None,
        "seed": int(seed),
        "n_resamples": int(n_resamples),
    }


def run_suite(
    model: str | Model,
    suite: str | SuiteSpec,
    data_root: str | Path | None = None,
    world: str = "demo",
    axes: Sequence[str] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "cpu",
    n_resamples: int = 1000,
    store: str | Path | Workspace | None = None,
    progress: bool = True,
    max_image_pixels: int | None = None,
    precision: str = "fp32",
    num_workers: int = 0,
    executor: str | Executor = "serial",
    ray_address: str | None = None,
) -> SuiteResult:
    """Run every axis of ``suite`` for ``model``; store the rows in the ResultStore and return them.

    Args:
        model: a model spec or :class:`Model`.
        suite: a built-in suite name (``robustscope list suites``), a YAML path, or a :class:`SuiteSpec`.
        data_root: where real benchmarks live (``{data:NAME}`` placeholders); missing ones are skipped.
        world: the synthetic world of ``{world}`` placeholders.
        axes: run only these axes (default: all of the suite's).
        n_resamples: bootstrap resamples for every CI (0: no CIs).
        max_image_pixels: images with more pixels are bad images (default: PIL's limit).
        precision: ``"fp32"`` (default), ``"fp16"`` or ``"bf16"`` (autocast; part of the prediction key unless fp32).
        num_workers: DataLoader processes decoding images while the model runs (0: in this process).
        executor, ray_address: who computes the predictions: ``"serial"`` (default), ``"ray"`` (local, or the
            cluster at ``ray_address``) or an executor object (see :func:`robustscope.evaluate`).

    Returns:
        A :class:`SuiteResult`; an axis whose datasets are all missing yields no rows, and every missing
        dataset is listed in ``skipped`` with the exact paths that were tried.

    Example:
        >>> result = run_suite("file:path/to/model", "synthetic-clones-offline", world="tiny")  # doctest: +SKIP
        >>> result.summary().columns[:3].tolist()  # doctest: +SKIP
        ['model', 'shape bias', 'context P0']
    """
    from robustscope.engine.evaluation import Evaluation
    from robustscope.engine.executors import resolve_executor
    from robustscope.engine.options import check_device, check_num_workers, check_precision, check_run_options
    from robustscope.models.base import Model
    from robustscope.models.registry import load_model

    started = time.perf_counter()
    check_run_options(batch_size, n_resamples)  # before the model is loaded or a dataset read
    check_device(device)
    check_precision(precision)
    check_num_workers(num_workers)
    runs_on = resolve_executor(executor, ray_address)
    spec = suite if isinstance(suite, SuiteSpec) else load_suite(suite)
    chosen = list(spec.axes) if axes is None else [spec.axis(name) for name in axes]
    # A suite built in code skipped the load-time check: every axis's params are typed before any work.
    params = [typed_params(axis, f"suite {spec.name}.axes.{axis.axis}.params") for axis in chosen]
    ws = store if isinstance(store, Workspace) else workspace(store)
    model_spec = model if isinstance(model, str) else None  # what `robustscope results --rebuild` reloads
    model = model if isinstance(model, Model) else load_model(model)
    root = Path(data_root).expanduser() if data_root is not None else None
    evaluation = Evaluation.in_workspace(
        model,
        ws,
        seed=seed,
        n_resamples=n_resamples,
        suite=spec.name,
        batch_size=batch_size,
        device=device,
        progress=progress,
        max_image_pixels=max_image_pixels,
        precision=precision,
        num_workers=num_workers,
        executor=runs_on,
    )
    skipped: list[Skipped] = []
    cache: dict[str, Dataset] = {}
    tables = []
    for axis, typed in zip(chosen, params, strict=True):
        datasets = _load_axis_datasets(axis, world, root, ws, progress, cache, skipped)
        if not datasets:
            continue
        run = get_axis(axis.axis).run
        tables.extend(t for t in run(evaluation.for_axis(axis.axis), datasets, axis, typed) if len(t))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if len(table):
        recipe = suite_recipe(model_spec, model.name, spec, chosen, world, root, seed, n_resamples)
        evaluation.write(table, recipe)
    seconds = time.perf_counter() - started
    return SuiteResult(spec, table, skipped, seconds, evaluation.shards_computed, evaluation.shards_reused)


def headlines(axes: Sequence[str] | None = None) -> list[tuple[str, Headline]]:
    """(axis, headline) of every registered axis (or of ``axes``), in the registry's order: the suite table's columns.

    Example:
        >>> [(axis, h.label) for axis, h in headlines(["adversarial", "shape_bias"])][:2]
        [('shape_bias', 'shape bias'), ('adversarial', 'clean top-1')]
    """
    wanted = set(axis_names() if axes is None else axes)
    return [(name, h) for name in axis_names() if name in wanted for h in get_axis(name).headlines]


def suite_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """The seed's main table: models (rows) × axes' headline numbers (columns), from result rows.

    Where an axis has several datasets (e.g. several OOD sets), the headline is their mean; ECE is
    taken on the first calibration dataset (the ID test set). Metrics whose name carries a source in
    brackets (``mean_corruption_top1[imagenet_c]``) match their base name.

    Example:
        >>> rows = pd.DataFrame({"model": ["m"], "axis": ["shape_bias"], "metric": ["shape_bias"],
        ...                      "shift": ["none"], "slice_factor": [""], "dataset": ["d"], "value": [0.25]})
        >>> suite_summary(rows).to_dict("records")
        [{'model': 'm', 'shape bias': 0.25}]
    """
    if rows.empty:
        return pd.DataFrame()
    whole = rows[rows["slice_factor"] == ""]
    base_metric = whole["metric"].str.replace(r"\[.*\]$", "", regex=True)
    shift_kind = whole["shift"].str.split(":").str[0]
    out: dict[str, dict[str, float]] = {}
    for axis, headline in headlines([str(a) for a in set(whole["axis"])]):
        chosen = whole[(whole["axis"] == axis) & (base_metric == headline.metric) & (shift_kind == headline.shift)]
        if chosen.empty:
            continue
        if headline.datasets == "first":
            first = chosen["dataset"].iloc[0]
            chosen = chosen[chosen["dataset"] == first]
        for model, values in chosen.groupby("model", sort=False)["value"]:
            out.setdefault(str(model), {})[headline.label] = float(values.mean())
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "model"
    return frame.reset_index()
