"""``robustscope results --rebuild``: recompute the results database from recipes and stored predictions.

Every result row is a pure function of stored predictions, recorded with the recipe that made it
(:mod:`robustscope.engine.recipes`). Rebuilding moves the old database aside (never deletes it) and
replays the recipes oldest first, inside :func:`~robustscope.engine.recipes.replaying`, so no forward
pass can happen: a prediction that is missing or fails its checksum makes that recipe fail, with the
reason, while the others are rebuilt.

- ``evaluate`` recipes are recomputed from the predictions alone (the model and the dataset are not
  needed): same metrics, slices, bootstrap resamples and seed, so the same values, CIs and n.
- ``suite`` recipes (:func:`~robustscope.suites.run.suite_recipe`) re-run
  :func:`~robustscope.suites.run.run_suite` with the recorded suite spec, world, data root, seed and
  resamples. That reloads the model from its spec and the datasets, and reads every prediction from the
  store; a suite run on a Python model object (no spec) cannot be replayed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from robustscope.config import Workspace, workspace
from robustscope.engine.database_health import set_aside
from robustscope.engine.evaluation import metric_table
from robustscope.engine.label_space import to_dataset_space
from robustscope.engine.prediction_store import PredictionStore
from robustscope.engine.predictions import Predictions
from robustscope.engine.recipes import replaying
from robustscope.engine.result_schema import package_versions
from robustscope.engine.result_store import ResultStore
from robustscope.errors import RobustscopeError, StoreVersionError
from robustscope.suites.spec import SuiteSpec


@dataclass
class RebuildReport:
    """What :func:`rebuild_results` did: the database it wrote, where the old one went, what failed."""

    database: Path
    previous: Path | None
    recipes: int
    rows: int
    failures: list[str] = field(default_factory=list)


def _in_dataset_space(predictions: Predictions, space: dict[str, Any], name: str) -> Predictions:
    """Stored model-space predictions reduced to the dataset's classes, as evaluate reduced them."""
    from robustscope.data.base import Dataset

    labels = space["labels"]
    manifest = pd.DataFrame({"sample_id": list(labels), "path": "", "label": list(labels.values())})
    metadata = {"label_sets": dict(zip(space["classes"], space["label_sets"], strict=True)),
                "set_reduction": space["reduction"]}
    dataset = Dataset(name, ".", list(space["classes"]), manifest, metadata=metadata)
    return to_dataset_space(predictions, dataset, predictions.class_names, {})


def _shift_params(spec: str) -> str:
    """The ``shift_params`` of a run recorded before rows carried them: read from the shift's spec."""
    from robustscope.shifts.registry import load_shift

    return json.dumps(load_shift(spec).params(), sort_keys=True, default=str)


def evaluation_rows(recipe: dict[str, Any], predictions: PredictionStore) -> pd.DataFrame:
    """The rows an ``evaluate`` recipe describes, recomputed from stored predictions (no model, no images).

    Example:
        >>> import tempfile, numpy as np
        >>> store = PredictionStore(tempfile.mkdtemp())
        >>> _ = store.write_meta("k", {"num_rows": 2, "shard_size": 2, "num_shards": 1, "class_names": ["a", "b"]})
        >>> _ = store.write_shard("k", 0, ["x", "y"], [0, 1], np.array([[2.0, 0.0], [3.0, 0.0]], np.float32))
        >>> recipe = {"columns": {"model": "m"}, "runs": [{"shift": "none", "prediction_key": "k"}],
        ...           "metrics": ["top1"], "slice_by": None, "n_resamples": 0, "seed": 0}
        >>> evaluation_rows(recipe, store)[["shift", "metric", "value", "n"]].values.tolist()
        [['none', 'top1', 0.5, 2]]
    """
    # The values are recomputed by this robustscope: its versions and the time now go with them.
    constants = {**recipe["columns"], "versions": json.dumps(package_versions(), sort_keys=True)}
    tables = []
    for run in recipe["runs"]:
        stored = predictions.load(run["prediction_key"])
        if recipe.get("dataset_space"):
            stored = _in_dataset_space(stored, recipe["dataset_space"], str(constants.get("dataset", "")))
        # The function evaluate() computed them with (Evaluation.metric_rows, binned): the same numbers.
        rows = metric_table(
            stored, recipe["metrics"], recipe["slice_by"], True, int(recipe["n_resamples"]), int(recipe["seed"])
        )
        for column, value in constants.items():
            rows[column] = value
        rows["shift"] = run["shift"]
        rows["prediction_key"] = run["prediction_key"]
        rows["shift_params"] = run.get("shift_params") or _shift_params(run["shift"])
        tables.append(rows)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _replay_suite(recipe: dict[str, Any], ws: Workspace) -> None:
    from robustscope.suites.run import run_suite

    if not recipe.get("model"):
        raise RobustscopeError(
            f"model {recipe.get('model_name')!r} was passed to run_suite as a Python object, not a spec, so it "
            "cannot be reloaded; run the suite again to recompute these rows"
        )
    run_suite(
        recipe["model"],
        SuiteSpec.from_dict(recipe["suite"], source="recipe"),
        data_root=recipe.get("data_root"),
        world=str(recipe.get("world", "demo")),
        seed=int(recipe["seed"]),
        n_resamples=int(recipe["n_resamples"]),
        store=ws,
        progress=False,
    )


def _describe(recipe: dict[str, Any]) -> str:
    if recipe.get("kind") == "suite":
        return f"suite {recipe['suite'].get('name')!r} of model {recipe.get('model') or recipe.get('model_name')!r}"
    columns = recipe.get("columns", {})
    return f"evaluation of model {columns.get('model')!r} on {columns.get('dataset')!r}"


def rebuild_results(store: str | Path | Workspace | None = None) -> RebuildReport:
    """Move the workspace's results database aside and rebuild it from recipes and stored predictions.

    Runs no forward pass (a recipe whose predictions are missing or damaged is listed in
    ``failures`` instead). The old database becomes ``results.duckdb.corrupt-<time>`` when it cannot
    be opened, ``results.duckdb.replaced-<time>`` otherwise.

    Example:
        >>> import tempfile
        >>> report = rebuild_results(tempfile.mkdtemp())  # an empty workspace: nothing to rebuild
        >>> report.rows, report.recipes, report.failures, report.previous
        (0, 0, [], None)
    """
    ws = store if isinstance(store, Workspace) else workspace(store)
    previous = None
    if ws.results_db.exists():
        try:
            len(ResultStore(ws.results_db, lock_timeout=5.0))
            label = "replaced"
        except StoreVersionError:  # corrupt, or from another schema: either way it is rebuilt
            label = "corrupt"
        previous = set_aside(ws.results_db, label)
    results = ResultStore(ws.results_db)
    recipes, failures = results.recipes.recipes()
    prediction_store = PredictionStore(ws.predictions)
    with replaying():
        for recipe in recipes:
            try:
                if recipe.get("kind") == "evaluate":
                    results.write(evaluation_rows(recipe, prediction_store))
                elif recipe.get("kind") == "suite":
                    _replay_suite(recipe, ws)
                else:
                    raise RobustscopeError(f"unknown recipe kind {recipe.get('kind')!r}")
            except RobustscopeError as err:
                failures.append(f"{_describe(recipe)}: {err}")
    return RebuildReport(ws.results_db, previous, len(recipes), len(results), failures)
