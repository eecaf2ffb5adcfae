"""Before/after tables of a mitigation: a mitigated model against its base on every axis of a suite, paired CIs.

A mitigated model (:func:`robustscope.mitigate.save_mitigated`, loaded with ``load_model("file:FOLDER")``) records
its base's fingerprint. Both models are run on the same suite (rows and predictions cached in the workspace), and
for every (axis, dataset, shift, metric) row both have, the table gives the two values and the change
``after − before`` with a bootstrap CI that resamples the *same images* for both models (a paired bootstrap:
Efron & Tibshirani 1993, ch. 13; Koehn, EMNLP 2004), so the CI of the change is not the (wider, and wrong) one
read off two independent CIs. Nothing is run forward when both models' predictions are stored.

Which rows are paired, and how (the ``resampling`` column says it per row):

* Metrics of the metric registry (``top1``, ``top5``, ``nll``, ``brier``, ``ece``…) on one prediction set:
  :func:`robustscope.metrics.registry.compare_metric` on both models' stored logits, aligned by sample id
  (:func:`robustscope.engine.alignment.align_predictions`). Per-sample means are resampled directly; ECE (a
  function of per-sample confidences and hits, not a mean) is recomputed for both models on each resample's
  indices. Before pairing, each model's stored number is recomputed from its stored predictions; a row it does
  not reproduce (an axis that scores in another label space, or subsets the set) is left unpaired.
* UrbanCars measures of the shortcuts axis (``id_acc``, gaps, worst groups, ``top1``): the stratified paired
  bootstrap of :func:`robustscope.metrics.shortcuts_paired.paired_urbancars_tests` (same images within each of
  the 8 cells for both models), with the training ratios the row's protocol records.
* The cue preferences ``cue_bg_acc``, ``cue_coobj_acc``: per image, whether the prediction names the cue.
* The watermark's ``in_w_gap``: per image, watermarked minus clean correctness, paired across the two models.
* Everything else is **not paired**, with the two stored values, their difference and no CI of the difference,
  because the number is not a function of one prediction set resampled by image here: statistics over several
  prediction sets (mean corruption accuracy over corruption shifts, OOD AUROC/FPR from an ID and an OOD set),
  fits across models (the progress gap's slopes and effective robustness), and axis-specific statistics
  (shape bias over cue-conflict decisions, context/background bias, geography disparities, PUG factor curves,
  ImageNet-X error ratios) whose resampling unit is the axis's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from robustscope.config import Workspace, workspace
from robustscope.errors import RobustscopeError
from robustscope.suites.paired_rows import PredictionLoader, pair_row

if TYPE_CHECKING:
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.models.base import Model
    from robustscope.suites.spec import SuiteSpec

__all__ = [
    "BEFORE_AFTER_COLUMNS",
    "BeforeAfter",
    "before_after",
    "before_after_from_rows",
    "ensure_suite_rows",
    "mitigations_in_store",
]

#: Columns of :attr:`BeforeAfter.table`, in order.
BEFORE_AFTER_COLUMNS = (
    "axis", "dataset", "shift", "metric", "headline", "before", "before_ci_low", "before_ci_high", "after",
    "after_ci_low", "after_ci_high", "difference", "ci_low", "ci_high", "p_value", "n", "paired", "resampling",
)  # fmt: skip


@dataclass
class BeforeAfter:
    """A mitigated model against its base on one suite: one row per (axis, dataset, shift, metric) both have.

    ``table`` has the columns :data:`BEFORE_AFTER_COLUMNS`: the two stored values with their own CIs, the change
    ``difference = after − before`` with the paired CI (``ci_low``, ``ci_high``) and two-sided p-value, ``paired``
    (False where no paired CI exists, see the module docstring) and ``resampling`` (how, or why not).
    ``headline`` marks the axis's headline metrics, top-1 on the clean set and on the headlines' shifts, and
    worst-group accuracy (the rows the report shows). ``notes`` flag what the numbers cannot say (a mitigated
    model fitted on another base than the one compared).

    Example:
        >>> frame = pd.DataFrame([dict(zip(BEFORE_AFTER_COLUMNS, ["calibration", "d", "none", "top1", True, 0.5,
        ...     0.4, 0.6, 0.7, 0.6, 0.8, 0.2, 0.1, 0.3, 0.01, 100, True, "paired bootstrap over images"]))])
        >>> result = BeforeAfter("base", "dfr", "dfr", "s", frame)
        >>> result.significant()[["metric", "difference"]].to_dict("records")
        [{'metric': 'top1', 'difference': 0.2}]
    """

    base: str
    mitigated: str
    method: str
    suite: str
    table: pd.DataFrame
    base_fingerprint: str = ""
    mitigated_fingerprint: str = ""
    n_resamples: int = 0
    seed: int = 0
    notes: list[str] = field(default_factory=list)

    def significant(self) -> pd.DataFrame:
        """The rows whose paired CI of the change excludes 0."""
        t = self.table
        return t[t.paired & ((t.ci_low > 0) | (t.ci_high < 0))].reset_index(drop=True)

    def headlines(self) -> pd.DataFrame:
        """The headline rows (what the report shows per axis)."""
        return self.table[self.table.headline].reset_index(drop=True)


def _headline_metrics(axis: str) -> set[tuple[str, str]]:
    """(metric, shift kind) of the axis's headlines, plus top-1 on the clean set and on each headline's shift kind.

    Top-1 is not added on every shift: the corruptions axis would list one row per corruption and severity.
    """
    from robustscope.suites.registry import axis_names, get_axis

    # Worst-group accuracy is what group-robust methods (DFR, GroupDRO, JTT) target: shown with the headlines.
    out = {("top1", "none"), ("worst_group_acc", "none")}
    if axis in axis_names():
        out |= {(h.metric, h.shift) for h in get_axis(axis).headlines}
        out |= {("top1", h.shift) for h in get_axis(axis).headlines}
    return out


def before_after_from_rows(
    before_rows: pd.DataFrame,
    after_rows: pd.DataFrame,
    predictions: PredictionStore,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The before/after table (:data:`BEFORE_AFTER_COLUMNS`) of two models' result rows of one suite.

    Rows are matched on (axis, dataset, dataset fingerprint, shift, metric), whole-set rows only; the paired
    CIs read both models' predictions from ``predictions`` by each row's ``prediction_key`` (see the module
    docstring for which rows are paired). ``difference`` is always ``after − before``.

    Example:
        >>> import tempfile
        >>> from robustscope.engine.prediction_store import PredictionStore
        >>> none = pd.DataFrame(columns=["axis", "dataset", "dataset_fingerprint", "shift", "metric", "slice_factor",
        ...                              "value", "ci_low", "ci_high", "n", "prediction_key", "protocol"])
        >>> table = before_after_from_rows(none, none, PredictionStore(tempfile.mkdtemp()))
        >>> table.columns.tolist() == list(BEFORE_AFTER_COLUMNS), len(table)
        (True, 0)
    """
    keys = ["axis", "dataset", "dataset_fingerprint", "shift", "metric"]
    whole = [r[r.slice_factor.fillna("").astype(str) == ""].drop_duplicates(keys, keep="last")
             for r in (before_rows, after_rows)]  # fmt: skip
    matched = whole[0].merge(whole[1], on=keys, suffixes=("_b", "_a"), sort=False)
    load, cache, records = PredictionLoader(predictions), {}, []
    for row in matched.to_dict("records"):
        own = ("value", "prediction_key", "protocol")
        before = {k: row[k] for k in keys} | {c: row[f"{c}_b"] for c in own}
        after = {k: row[k] for k in keys} | {c: row[f"{c}_a"] for c in own}
        result, resampling = pair_row(before, after, load, n_resamples, seed, cache)
        heads = _headline_metrics(str(row["axis"]))
        base_metric = str(row["metric"]).split("[")[0]
        kind = str(row["shift"]).split(":")[0]
        difference = float(row["value_a"]) - float(row["value_b"])
        records.append({
            "axis": row["axis"], "dataset": row["dataset"], "shift": row["shift"], "metric": row["metric"],
            "headline": (base_metric, kind) in heads,
            "before": float(row["value_b"]), "before_ci_low": row["ci_low_b"], "before_ci_high": row["ci_high_b"],
            "after": float(row["value_a"]), "after_ci_low": row["ci_low_a"], "after_ci_high": row["ci_high_a"],
            "difference": difference if result is None else float(result.difference),
            "ci_low": np.nan if result is None else result.ci[0], "ci_high": np.nan if result is None else result.ci[1],
            "p_value": np.nan if result is None else result.p_value, "n": int(min(row["n_b"], row["n_a"])),
            "paired": result is not None, "resampling": resampling,
        })  # fmt: skip
    return pd.DataFrame(records, columns=list(BEFORE_AFTER_COLUMNS))


def ensure_suite_rows(
    model: Model,
    suite: str | SuiteSpec,
    world: str,
    ws: Workspace,
    data_root: str | Path | None = None,
    seed: int = 0,
    n_resamples: int = 1000,
    progress: bool = True,
    **options: Any,
) -> pd.DataFrame:
    """The model's stored rows of ``suite`` on ``world``, after running the suite when an axis has none there yet.

    An axis whose datasets are all the world's (``{world}`` placeholders, or plain paths) keeps only the rows of
    the datasets it resolves to on ``world``, so rows of another world never stand in for this one; an axis with
    real benchmarks (``{data:NAME}``) keeps all of its rows.

    Example:
        >>> from robustscope.models.registry import load_model
        >>> rows = ensure_suite_rows(load_model("file:dfr"), "shortcuts-offline", "tiny", workspace())  # doctest: +SKIP
        >>> sorted(set(rows.axis))  # doctest: +SKIP
        ['shortcuts']
    """
    from robustscope.engine.result_store import ResultStore
    from robustscope.suites.run import run_suite
    from robustscope.suites.spec import SuiteSpec, fill_placeholders, load_suite

    spec = suite if isinstance(suite, SuiteSpec) else load_suite(suite)
    fingerprint = model.fingerprint()

    def stored(by_world: bool = True) -> tuple[pd.DataFrame, bool]:
        """(the rows of this world, whether every axis has some)."""
        if not Path(ws.results_db).exists():
            return pd.DataFrame(), False
        rows = ResultStore(ws.results_db).query(model_fingerprint=fingerprint, suite=spec.name)
        kept, complete = [], True
        for axis in spec.axes:
            mine = rows[rows.axis == axis.axis] if len(rows) else rows
            templates = list(axis.datasets.values())
            if by_world and not any("{data:" in t for t in templates):
                mine = mine[mine.dataset.isin({fill_placeholders(t, world, {}) for t in templates})]
            complete = complete and len(mine) > 0
            kept.append(mine)
        return (pd.concat(kept, ignore_index=True) if kept else rows), complete

    rows, complete = stored()
    if not complete:
        run_suite(model, spec, data_root=data_root, world=world, seed=seed, n_resamples=n_resamples, store=ws,
                  progress=progress, **options)  # fmt: skip
        rows, complete = stored()
        if not complete:  # a loader that names its datasets otherwise than their specs: the run just wrote them
            rows, _ = stored(by_world=False)
    return rows


def before_after(
    base: str | Model,
    mitigated: str | Model,
    suite: str | SuiteSpec = "shortcuts-offline",
    world: str = "demo",
    data_root: str | Path | None = None,
    store: str | Path | Workspace | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    progress: bool = True,
    **options: Any,
) -> BeforeAfter:
    """A mitigated model against its base on every axis of ``suite``: values, changes and paired CIs.

    Each model's rows come from the workspace's ResultStore; a model with no rows for an axis of the suite is run
    on the suite first (:func:`robustscope.suites.run_suite`; ``options`` such as ``batch_size`` and ``device``
    go to it). The paired CIs read stored predictions: no forward pass when both models were evaluated.
    ``mitigated`` need not name ``base`` as its base (any two models on the same suite compare), but when it
    records another base a note says so.

    Example:
        >>> result = before_after("file:models/erm", "file:models/erm-dfr", "shortcuts-offline",
        ...                       world="tiny")  # doctest: +SKIP
        >>> wga = result.table.query("metric == 'worst_group_acc'")  # doctest: +SKIP
        >>> wga[["before", "after", "difference", "ci_low", "ci_high"]]  # doctest: +SKIP
    """
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.models.registry import load_model

    ws = store if isinstance(store, Workspace) else workspace(store)
    models = [m if not isinstance(m, str) else load_model(m) for m in (base, mitigated)]
    rows = [ensure_suite_rows(m, suite, world, ws, data_root, seed, n_resamples, progress, **options) for m in models]
    table = before_after_from_rows(rows[0], rows[1], PredictionStore(ws.predictions), n_resamples, seed)
    fingerprints = [m.fingerprint() for m in models]
    notes = []
    recorded = models[1].metadata.get("base_fingerprint")
    if recorded and recorded != fingerprints[0]:
        notes.append(f"{models[1].name} was fitted on another base ({recorded}), not {models[0].name}")
    suite_name = str(rows[0].suite.iloc[0]) if len(rows[0]) else str(suite)
    return BeforeAfter(
        base=models[0].name, mitigated=models[1].name, method=str(models[1].metadata.get("method") or ""),
        suite=suite_name, table=table, base_fingerprint=fingerprints[0], mitigated_fingerprint=fingerprints[1],
        n_resamples=n_resamples, seed=seed, notes=notes,
    )  # fmt: skip


def mitigations_in_store(
    rows: pd.DataFrame, predictions: PredictionStore, n_resamples: int = 1000, seed: int = 0
) -> list[BeforeAfter]:
    """A :class:`BeforeAfter` for every mitigated model in ``rows`` whose base also has rows, per suite both ran.

    A model is mitigated when the description stored beside its predictions (``Model.describe()``, written by the
    runner) records a ``base_fingerprint`` (:mod:`robustscope.models.mitigated`); its base is the model with that
    fingerprint. Nothing runs forward: the paired CIs read stored predictions. Order: base, then mitigated model,
    in row order; suites in row order.

    Example:
        >>> import tempfile
        >>> from robustscope.engine.prediction_store import PredictionStore
        >>> mitigations_in_store(pd.DataFrame(columns=["model_fingerprint", "prediction_key", "suite"]),
        ...                      PredictionStore(tempfile.mkdtemp()))
        []
    """
    if rows.empty or not {"model_fingerprint", "prediction_key", "suite"} <= set(rows.columns):
        return []
    in_suites = rows[rows.suite.fillna("").astype(str) != ""]
    info: dict[str, dict[str, Any]] = {}
    firsts = in_suites.drop_duplicates("model_fingerprint")
    for fingerprint, key in zip(firsts.model_fingerprint, firsts.prediction_key, strict=True):
        try:
            info[str(fingerprint)] = dict(predictions.read_meta(str(key).split("+")[0]).get("model") or {})
        except (RobustscopeError, OSError, ValueError):
            continue  # predictions gone: the model's rows stay valid, its pairing cannot be shown
    out = []
    for mitigated, record in info.items():
        base = str(record.get("base_fingerprint") or "")
        if not base or base not in info:
            continue
        for suite in in_suites.suite.drop_duplicates():
            same_suite = in_suites[in_suites.suite == suite]
            chosen = [same_suite[same_suite.model_fingerprint == f] for f in (base, mitigated)]
            if chosen[0].empty or chosen[1].empty:
                continue
            table = before_after_from_rows(chosen[0], chosen[1], predictions, n_resamples, seed)
            names = (str(chosen[0].model.iloc[0]), str(chosen[1].model.iloc[0]))
            method = str(record.get("method") or "")
            out.append(BeforeAfter(names[0], names[1], method, str(suite), table, base, mitigated, n_resamples, seed))
    return out
