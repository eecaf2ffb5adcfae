"""``robustscope validate-axes``: train the known-answer recipes, run the suite on each, judge the matrix.

Each recipe of :mod:`robustscope.train.recipes` plants one failure (or none: ``clean``); each check of
:mod:`robustscope.validation.expectations` must flag its planted model and leave the clean one alone.
Models, renders and predictions are cached in the workspace, so a second run only re-judges.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from robustscope.config import Workspace, workspace
from robustscope.suites import run_suite, suite_summary
from robustscope.train.recipes import recipe_names, train_recipe
from robustscope.validation.expectations import Expectations, load_expectations
from robustscope.validation.matrix import format_matrix, validation_matrix

__all__ = ["VALIDATION_SUITE", "ValidationResult", "validate_axes"]

#: The suite whose axes the known-answer models validate.
VALIDATION_SUITE = "synthetic-clones-offline"


@dataclass
class ValidationResult:
    """The judged matrix, the suite rows behind it and the time it took."""

    cells: pd.DataFrame
    rows: pd.DataFrame
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every planted failure was detected and no clear cell was flagged."""
        return bool(self.cells["ok"].all())

    def failures(self) -> pd.DataFrame:
        """The cells that fail the validation (missed, false alarm, no data)."""
        return self.cells[~self.cells["ok"]]

    def matrix(self) -> pd.DataFrame:
        """Recipes × checks as text (value, CI, verdict); see :func:`~robustscope.validation.matrix.format_matrix`."""
        return format_matrix(self.cells)

    def summary(self) -> pd.DataFrame:
        """The suite's main table (every axis's headline) for the known-answer models."""
        return suite_summary(self.rows)


def validate_axes(
    world: str = "demo",
    *,
    store: str | Workspace | None = None,
    recipes: Sequence[str] | None = None,
    seeds: Sequence[int] = (0,),
    epochs: int | None = None,
    axes: Sequence[str] | None = None,
    expectations: Expectations | None = None,
    n_resamples: int = 1000,
    workers: int | None = None,
    progress: bool = True,
) -> ValidationResult:
    """Train every known-answer recipe (per seed), run :data:`VALIDATION_SUITE` on each, judge the matrix.

    Args:
        world: a built-in world (``demo``, ``tiny``) or a YAML spec with the recipes' splits.
        store: the workspace (models, renders, predictions and results are cached there).
        recipes: the recipes to train (default: all).
        seeds: training seeds; several seeds show the seed-to-seed spread behind the thresholds.
        epochs: override the recipes' epochs (proportions kept), e.g. for a quick run.
        axes: run only these axes of the suite (default: every axis; checks of other axes get no data).
        expectations: checks and expected signs (default: the built-in ones).
        n_resamples: bootstrap resamples of every CI.

    Example:
        >>> result = validate_axes("tiny", epochs=4, axes=["shape_bias"], progress=False)  # doctest: +SKIP
        >>> result.ok  # doctest: +SKIP
        True
    """
    started = time.perf_counter()
    ws = store if isinstance(store, Workspace) else workspace(store)
    expectations = expectations or load_expectations()
    wanted_axes = list(axes) if axes else None
    if wanted_axes is not None:  # checks of axes that were not run are not judged
        expectations = Expectations(tuple(c for c in expectations.checks if c.axis in wanted_axes),
                                    expectations.expected)
    tables: dict[tuple[str, int], pd.DataFrame] = {}
    for recipe in recipes or recipe_names():
        for seed in seeds:
            folder = train_recipe(recipe, world, models_dir=ws.models, renders=ws.renders,
                                  content_index=ws.content_index, epochs=epochs, seed=seed, workers=workers,
                                  progress=progress)
            result = run_suite(f"file:{folder}", VALIDATION_SUITE, world=world, axes=wanted_axes, store=ws,
                               progress=progress, n_resamples=n_resamples)
            tables[(recipe, seed)] = result.table
    cells = validation_matrix(tables, expectations)
    rows = pd.concat(tables.values(), ignore_index=True) if tables else pd.DataFrame()
    return ValidationResult(cells, rows, time.perf_counter() - started)
