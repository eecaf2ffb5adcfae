"""``robustscope demo``: render a small world, train two known-answer reference models, evaluate, report.

The two models come from the known-answer recipes (:mod:`robustscope.train.recipes`): ``clean`` trains
on a split where every factor is independent of the class, with heavy augmentation;
``background-shortcut`` trains on the same split except that each class always stands in front of its
own background. Of the recipes, this pair differs on the most axes (issue 19, demo world, seed 0):
background gap, context, OOD detection, corruptions and adversarial accuracy all separate them, shape
bias does not. Each test split moves one factor away from the world's common distribution, so the
report shows which shifts hurt which model; the synthetic-clones-offline suite then measures all seven
robustness axes. Everything is cached in the workspace: a second run reuses renders, models and
predictions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from robustscope.api import evaluate, load_dataset, load_model
from robustscope.config import Workspace, workspace

#: The known-answer recipes the demo trains: a clean model and one with a planted shortcut.
DEMO_RECIPES = ("clean", "background-shortcut")
DEMO_METRICS = ("top1", "ece", "nll", "brier")
#: The suite the demo runs on its reference models: every robustness axis, offline.
DEMO_SUITE = "synthetic-clones-offline"


@dataclass
class DemoResult:
    """What the demo produced: the results table, the report path and the time it took."""

    table: pd.DataFrame
    report: Path
    seconds: float
    suite_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    suite_seconds: float = 0.0

    def suite_summary(self) -> pd.DataFrame:
        """The synthetic-clones-offline main table: each model's headline number on each axis."""
        from robustscope.suites import suite_summary

        return suite_summary(self.suite_table)

    def summary(self) -> pd.DataFrame:
        """Top-1 accuracy (%) per model (rows) and test split (columns)."""
        whole = self.table[(self.table["metric"] == "top1") & (self.table["slice_factor"] == "")]
        pivot = whole.pivot_table(index="model", columns="dataset", values="value", aggfunc="first")
        pivot.columns = [c.rsplit(":", 1)[-1] for c in pivot.columns]
        return (pivot * 100).round(1)


def run_demo(world: str = "demo", ws: Workspace | None = None, epochs: int | None = None, workers: int | None = None,
             progress: bool = True, n_resamples: int = 500) -> DemoResult:
    """Render ``world``, train its two reference models (:data:`DEMO_RECIPES`), evaluate them on every test split and on
    every axis of the ``synthetic-clones-offline`` suite, and write the report.

    Example:
        >>> result = run_demo("tiny", epochs=2, progress=False)  # doctest: +SKIP
        >>> result.report.name  # doctest: +SKIP
        'tiny.html'
    """
    from robustscope.report.from_store import report_from_store
    from robustscope.suites import run_suite
    from robustscope.synth import load_spec
    from robustscope.train.recipes import train_recipe

    started = time.perf_counter()
    ws = ws or workspace()
    spec = load_spec(world)
    test_splits = [s for s in spec.split_names() if s.startswith("test-")]
    tables = []
    model_names = []
    model_folders: list[Path] = []
    for recipe in DEMO_RECIPES:
        folder = train_recipe(recipe, world, models_dir=ws.models, renders=ws.renders, content_index=ws.content_index,
                              epochs=epochs, workers=workers, progress=progress)
        model = load_model(f"file:{folder}")
        model_names.append(model.name)
        model_folders.append(folder)
        for test_split in test_splits:
            data = load_dataset(f"synth:{world}:{test_split}", root=ws.renders, workers=workers, progress=progress)
            tables.append(evaluate(model, data, metrics=DEMO_METRICS, store=ws, progress=progress,
                                   n_resamples=n_resamples))
    suite_started = time.perf_counter()
    suite_tables = [
        run_suite(f"file:{folder}", DEMO_SUITE, world=world, store=ws, progress=progress,
                  n_resamples=n_resamples).table
        for folder in model_folders
    ]
    suite_seconds = time.perf_counter() - suite_started
    report = report_from_store(ws, ws.reports / f"{world}.html", models=model_names,
                               title=f"robustscope demo — world '{world}'")
    return DemoResult(pd.concat(tables, ignore_index=True), report, time.perf_counter() - started,
                      pd.concat(suite_tables, ignore_index=True), suite_seconds)
