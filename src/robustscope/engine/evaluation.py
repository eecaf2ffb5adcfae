"""One evaluation path: run a model, map its predictions to each dataset's classes, build result rows.

:func:`robustscope.evaluate` and every suite axis (:mod:`robustscope.suites`) go through one
:class:`Evaluation`, so a result row is completed in one place: the same columns
(:data:`~robustscope.engine.result_schema.RESULT_COLUMNS`), the same fingerprints, the same package versions.

An :class:`Evaluation` holds one model and one :class:`~robustscope.engine.runner.Runner` and owns

- the fingerprints: the model's is computed once, each dataset's once per dataset object (hashing a
  dataset reads every file's stat, so an axis that reads one set under five shifts must not pay five times);
- predictions in the dataset's label space (:func:`~robustscope.engine.label_space.to_dataset_space`);
- metric rows (:func:`~robustscope.metrics.registry.compute_metrics` with its bootstrap settings) and the
  columns every row carries (model, dataset, shift, prediction key, versions, suite, axis);
- what a run wrote and reused (``shards_computed``, ``shards_reused``) and the bad images it skipped;
- writing the rows with the recipe ``robustscope results --rebuild`` replays (:mod:`robustscope.engine.recipes`).

The engine sits above the metrics (pure functions of arrays), so it may build their rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from robustscope.engine.label_space import to_dataset_space
from robustscope.engine.metric_table import metric_table
from robustscope.engine.result_schema import package_versions
from robustscope.engine.result_store import ResultStore
from robustscope.metrics.bootstrap import CI_METHOD, bootstrap_ci, percentile_interval

if TYPE_CHECKING:
    from robustscope.config import Workspace
    from robustscope.data.base import Dataset
    from robustscope.engine.executors import Executor
    from robustscope.engine.predictions import Predictions
    from robustscope.engine.runner import Runner
    from robustscope.models.base import Model
    from robustscope.shifts.base import Shift

__all__ = ["Evaluation", "metric_table"]


@dataclass
class _Shared:
    """What every view of one evaluation shares (:meth:`Evaluation.for_axis`, :meth:`Evaluation.with_model`)."""

    dataset_fingerprints: dict[int, tuple[Dataset, str]] = field(default_factory=dict)
    versions: str = ""
    bad_images: set[str] = field(default_factory=set)


@dataclass
class Evaluation:
    """One model evaluated through one Runner: predictions in each dataset's classes, and complete result rows.

    Args:
        model: the model.
        runner: the Runner (and through it the PredictionStore) every forward pass goes through.
        seed: the seed of shifts and of every bootstrap.
        n_resamples: bootstrap resamples of every CI (0: no CIs).
        suite, axis: the ``suite`` and ``axis`` columns of the rows (``""`` outside a suite).
        results_db: the ResultStore file :meth:`write` stores rows in (None: rows are only returned); it is
            opened when rows are written, so an evaluation that fails first leaves no database behind.

    Example:
        >>> import tempfile
        >>> from torch import nn
        >>> from robustscope.data.base import Dataset
        >>> from robustscope.engine import PredictionStore, Runner
        >>> from robustscope.models import Model, Preprocessing
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> Image.new("RGB", (4, 4), "red").save(f"{root}/x.png")
        >>> data = Dataset("toy", root, ["a", "b"], pd.DataFrame({"sample_id": ["x"], "path": ["x.png"], "label": [0]}))
        >>> model = Model.from_module(nn.Sequential(nn.Flatten(), nn.Linear(48, 2)), Preprocessing(4, 1.0), ["a", "b"])
        >>> ev = Evaluation(model, Runner(PredictionStore(root + "/store"), progress=False), n_resamples=0)
        >>> rows = ev.metric_rows(data, "none", ["top1"])
        >>> rows[["dataset", "shift", "metric", "n"]].values.tolist(), ev.shards_computed
        ([['toy', 'none', 'top1', 1]], 1)
    """

    model: Model
    runner: Runner
    seed: int = 0
    n_resamples: int = 1000
    suite: str = ""
    axis: str = ""
    results_db: Path | None = None
    model_fingerprint: str = ""
    _shared: _Shared = field(default_factory=_Shared, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Hashing the weights and code costs a pass over every parameter: once per evaluation, not per run.
        self.model_fingerprint = self.model_fingerprint or self.model.fingerprint()
        self.label_index = self.model.label_index()

    @classmethod
    def in_workspace(
        cls,
        model: Model,
        ws: Workspace,
        *,
        seed: int = 0,
        n_resamples: int = 1000,
        suite: str = "",
        axis: str = "",
        batch_size: int = 64,
        device: str = "cpu",
        on_bad_image: str = "raise",
        progress: bool = True,
        max_image_pixels: int | None = None,
        precision: str = "fp32",
        num_workers: int = 0,
        executor: Executor | None = None,
    ) -> Evaluation:
        """An evaluation whose predictions, content index and results are the workspace's.

        ``precision``, ``num_workers`` (decoding processes) and ``executor`` (default: serial) go to the Runner.

        Example:
            >>> # ev = Evaluation.in_workspace(load_model("file:m"), workspace(), n_resamples=100)
        """
        from robustscope.data.content_index import ContentIndex
        from robustscope.engine.prediction_store import PredictionStore
        from robustscope.engine.runner import Runner

        runner = Runner(
            PredictionStore(ws.predictions),
            batch_size=batch_size,
            device=device,
            on_bad_image=on_bad_image,
            progress=progress,
            max_image_pixels=max_image_pixels,
            content_index=ContentIndex(ws.content_index),
            precision=precision,
            num_workers=num_workers,
            executor=executor,
        )
        return cls(model, runner, seed=seed, n_resamples=n_resamples, suite=suite, axis=axis, results_db=ws.results_db)

    # -- views sharing the caches ---------------------------------------------------------------------
    def for_axis(self, axis: str) -> Evaluation:
        """The same evaluation writing rows of ``axis`` (fingerprints and counts are shared)."""
        return replace(self, axis=axis)

    def with_model(self, model: Model) -> Evaluation:
        """The same runner, settings and dataset fingerprints for another model (a re-headed CLIP model)."""
        return replace(self, model=model, model_fingerprint="")

    # -- what the evaluation knows ----------------------------------------------------------------------
    def dataset_fingerprint(self, dataset: Dataset) -> str:
        """The dataset's fingerprint, hashed once per dataset object.

        The dataset is kept beside its fingerprint, so its ``id`` cannot be reused by another object.
        """
        cached = self._shared.dataset_fingerprints.get(id(dataset))
        if cached is None or cached[0] is not dataset:
            cached = (dataset, dataset.fingerprint(self.runner.content_index))
            self._shared.dataset_fingerprints[id(dataset)] = cached
        return cached[1]

    @property
    def versions(self) -> str:
        """Package versions as the JSON of the ``versions`` column (read once per evaluation)."""
        if not self._shared.versions:
            self._shared.versions = json.dumps(package_versions(), sort_keys=True)
        return self._shared.versions

    @property
    def shards_computed(self) -> int:
        """Prediction shards the runner computed so far."""
        return self.runner.shards_computed

    @property
    def shards_reused(self) -> int:
        """Prediction shards the runner found in the store so far."""
        return self.runner.shards_reused

    @property
    def bad_images(self) -> list[str]:
        """Images skipped so far (under ``on_bad_image="skip"``), sorted."""
        return sorted(self._shared.bad_images)

    # -- predictions ------------------------------------------------------------------------------------
    def predict(self, dataset: Dataset, shift: str | Shift = "none") -> tuple[Predictions, str]:
        """Predictions in the dataset's own classes (where it has label sets) and their prediction key.

        A second call with the same model, dataset, shift and seed reads the PredictionStore.
        """
        from robustscope.shifts.registry import load_shift

        result = self.runner.run(
            self.model,
            dataset,
            load_shift(shift),
            seed=self.seed,
            model_fingerprint=self.model_fingerprint,
            dataset_fingerprint=self.dataset_fingerprint(dataset),
        )
        self._shared.bad_images.update(result.bad_images)
        return to_dataset_space(result.predictions, dataset, self.model.labels, self.label_index), result.key

    def predict_many(self, dataset: Dataset, shifts: Sequence[str | Shift]) -> list[tuple[Predictions, str]]:
        """:meth:`predict` of each shift, computed in one pass that decodes every image once.

        The keys, stored shards and predictions are those of :meth:`predict` per shift
        (:meth:`~robustscope.engine.runner.Runner.run_many`).

        Example:
            >>> # [key for _, key in ev.predict_many(dataset, ["none", "corruption:fog:3"])]
        """
        return list(self.iter_predictions(dataset, shifts))

    def iter_predictions(self, dataset: Dataset, shifts: Sequence[str | Shift]) -> Iterator[tuple[Predictions, str]]:
        """:meth:`predict_many`, holding one shift's predictions at a time once every shard is computed.

        Example:
            >>> # for predictions, key in ev.iter_predictions(dataset, grid): ...
        """
        from robustscope.shifts.registry import load_shift

        runs = self.runner.iter_runs(
            self.model,
            dataset,
            [load_shift(shift) for shift in shifts],
            seed=self.seed,
            model_fingerprint=self.model_fingerprint,
            dataset_fingerprint=self.dataset_fingerprint(dataset),
        )
        for result in runs:
            self._shared.bad_images.update(result.bad_images)
            yield to_dataset_space(result.predictions, dataset, self.model.labels, self.label_index), result.key

    # -- rows -------------------------------------------------------------------------------------------
    def rows(self, table: pd.DataFrame, dataset: Dataset, shift: str | Shift, key: str) -> pd.DataFrame:
        """Complete metric rows (``metric … protocol``) with the model, dataset, shift, versions, suite and axis.

        ``shift`` is the :class:`~robustscope.shifts.base.Shift` the rows were computed under (its spec and its
        parameters as JSON go in the ``shift`` and ``shift_params`` columns), or a label for rows of no one
        shift or of the clean set (``"none"``, ``"summary"``: parameters ``{}``).
        """
        label, params = (shift, {}) if isinstance(shift, str) else (shift.spec(), shift.params())
        out = table.copy()
        out.insert(0, "model", self.model.name)
        out.insert(1, "model_fingerprint", self.model_fingerprint)
        out.insert(2, "dataset", dataset.name)
        out.insert(3, "dataset_fingerprint", self.dataset_fingerprint(dataset))
        out.insert(4, "shift", label)
        out["prediction_key"] = key
        out["versions"] = self.versions
        out["created_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
        out["suite"], out["axis"] = self.suite, self.axis
        out["shift_params"] = json.dumps(params, sort_keys=True, default=str)
        out["private"], out["private_protocol"] = False, "{}"  # plaintext (robustscope.private marks its own rows)
        return out

    def metric_table(
        self, predictions: Predictions, metrics: Sequence[str], slice_by: str | Sequence[str] | None = None,
        binned: bool = False,
    ) -> pd.DataFrame:
        """:func:`metric_table` with this evaluation's bootstrap settings (columns ``metric … protocol``)."""
        return metric_table(predictions, metrics, slice_by, binned, self.n_resamples, self.seed)

    def metric_rows(
        self,
        dataset: Dataset,
        shift: str | Shift = "none",
        metrics: Sequence[str] = ("top1",),
        slice_by: str | Sequence[str] | None = None,
        binned: bool = False,
    ) -> pd.DataFrame:
        """Run (or reuse) ``shift`` on ``dataset`` and return the registry metrics' complete rows.

        ``slice_by``/``binned``: see :func:`metric_table`.
        """
        from robustscope.shifts.registry import load_shift

        loaded = load_shift(shift)
        predictions, key = self.predict(dataset, loaded)
        return self.rows(self.metric_table(predictions, metrics, slice_by, binned), dataset, loaded, key)

    def metric_rows_many(
        self,
        dataset: Dataset,
        shifts: Sequence[str | Shift],
        metrics: Sequence[str] = ("top1",),
        slice_by: str | Sequence[str] | None = None,
        binned: bool = False,
    ) -> list[pd.DataFrame]:
        """:meth:`metric_rows` of each shift (one table each, in order), every image decoded once for all of them.

        Example:
            >>> # tables = ev.metric_rows_many(clean, ["none", "fgsm:eps=0.004", "pgd:eps=0.004"], ["top1"])
        """
        from robustscope.shifts.registry import load_shift

        loaded = [load_shift(shift) for shift in shifts]
        return [
            self.rows(self.metric_table(predictions, metrics, slice_by, binned), dataset, shift, key)
            for shift, (predictions, key) in zip(loaded, self.iter_predictions(dataset, loaded), strict=True)
        ]

    def ci_protocol(self) -> dict[str, Any]:
        """The CI settings recorded in a custom row's protocol."""
        return {"method": CI_METHOD, "n_resamples": self.n_resamples, "seed": self.seed}

    def custom_row(
        self,
        metric: str,
        value: float,
        n: int,
        protocol: dict[str, Any],
        ci: tuple[float, float] = (float("nan"), float("nan")),
        slice_factor: str = "",
        slice_value: str = "",
    ) -> dict[str, Any]:
        """One ``metric … protocol`` record for a value no registry metric computes (an axis's own measure).

        Example:
            >>> ev = Evaluation.__new__(Evaluation); ev.n_resamples, ev.seed = 0, 0
            >>> ev.custom_row("bg_gap", 0.25, 40, {"name": "bg_gap"})["protocol"]
            '{"ci": {"method": "percentile bootstrap", "n_resamples": 0, "seed": 0}, "name": "bg_gap"}'
        """
        return {
            "metric": metric,
            "slice_factor": slice_factor,
            "slice_value": slice_value,
            "value": float(value),
            "ci_low": float(ci[0]),
            "ci_high": float(ci[1]),
            "n": int(n),
            "protocol": json.dumps({**protocol, "ci": self.ci_protocol()}, sort_keys=True, default=str),
        }

    def bootstrap(self, statistic: Callable[..., float], *arrays: np.ndarray) -> tuple[float, float]:
        """Percentile bootstrap CI with this evaluation's settings (NaN bounds when disabled or empty)."""
        if self.n_resamples <= 0 or len(arrays[0]) == 0:
            return float("nan"), float("nan")
        return bootstrap_ci(statistic, *arrays, n_resamples=self.n_resamples, seed=self.seed)

    def two_sample_bootstrap(
        self, statistic: Callable[[np.ndarray, np.ndarray], float], first: np.ndarray, second: np.ndarray
    ) -> tuple[float, float]:
        """Percentile CI of ``statistic(first, second)``, each sample resampled on its own (stratified).

        For two-set statistics such as AUROC (ID vs OOD scores) and differences of accuracies.
        """
        if self.n_resamples <= 0 or len(first) == 0 or len(second) == 0:
            return float("nan"), float("nan")
        rng = np.random.default_rng(self.seed)
        values = np.array(
            [
                statistic(
                    first[rng.integers(0, len(first), len(first))], second[rng.integers(0, len(second), len(second))]
                )
                for _ in range(self.n_resamples)
            ]
        )
        return percentile_interval(values)

    # -- storing ----------------------------------------------------------------------------------------
    def evaluation_recipe(
        self, dataset: Dataset, table: pd.DataFrame, metrics: Sequence[str], slice_by: str | Sequence[str] | None
    ) -> dict[str, Any]:
        """The recipe of ``table`` (rows of :meth:`metric_rows` with ``binned=True``) for ``results --rebuild``."""
        from robustscope.engine.recipes import evaluation_recipe

        return evaluation_recipe(self.model, dataset, table, metrics, slice_by, self.n_resamples, self.seed)

    def write(self, table: pd.DataFrame, recipe: dict[str, Any] | None) -> int:
        """Store ``table`` in :attr:`results_db` with the recipe that recomputes it; returns the rows written."""
        if self.results_db is None or table.empty:
            return 0
        return ResultStore(self.results_db).write(table, recipe=recipe)
