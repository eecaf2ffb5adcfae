"""The seven robustness axes: each turns stored predictions into result rows, with its protocol.

Every axis function takes an :class:`AxisContext` (model, runner, seed, bootstrap settings), the axis's
loaded datasets by role and its :class:`~robustscope.suites.spec.AxisSpec`, and returns result rows in
the ResultStore schema (``docs/architecture.md``). Forward passes go through the Runner, so they are
cached: re-running a suite, or adding a metric, costs no forward pass. Metric values are pure functions
from :mod:`robustscope.metrics`; protocols follow ``DESIGN.md``, and each row records its protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from robustscope.data.base import Dataset
from robustscope.engine.label_space import to_dataset_space
from robustscope.engine.predictions import Predictions
from robustscope.engine.runner import Runner
from robustscope.metrics.bias import background_gap, context_bias, shape_bias_from_decisions
from robustscope.metrics.bootstrap import CI_METHOD, bootstrap_ci, percentile_interval
from robustscope.metrics.corruption import IMAGENET_C_CORRUPTIONS, mce, relative_mce
from robustscope.metrics.ood import aupr, auroc, fpr_at_tpr, ood_score
from robustscope.metrics.registry import compute_metrics
from robustscope.models.base import Model
from robustscope.models.labels import IMAGENET_1K
from robustscope.shifts.base import Shift
from robustscope.shifts.registry import load_shift
from robustscope.suites.spec import AxisSpec

#: Measures of the OOD axis: name → (function, paper).
OOD_MEASURES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auroc": auroc,
    "aupr": aupr,
    "fpr95": lambda id_scores, ood_scores: fpr_at_tpr(id_scores, ood_scores, tpr=0.95),
}


@dataclass
class AxisContext:
    """What every axis needs: the model, a Runner, the suite's labels and bootstrap settings.

    Example:
        >>> # ctx = AxisContext(model, Runner(PredictionStore(ws.predictions)), suite="synthetic-clones")
    """

    model: Model
    runner: Runner
    suite: str = ""
    seed: int = 0
    n_resamples: int = 1000
    versions: str = "{}"
    model_fingerprint: str = ""
    _dataset_fingerprints: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model_fingerprint = self.model_fingerprint or self.model.fingerprint()
        self.label_index = self.model.label_index()

    def fingerprint(self, dataset: Dataset) -> str:
        """The dataset's fingerprint, hashed once per dataset object."""
        if id(dataset) not in self._dataset_fingerprints:
            self._dataset_fingerprints[id(dataset)] = dataset.fingerprint(self.runner.content_index)
        return self._dataset_fingerprints[id(dataset)]

    def predict(self, dataset: Dataset, shift: str | Shift = "none") -> tuple[Predictions, str]:
        """Predictions (in the dataset's own classes when it has label sets) and their prediction key."""
        result = self.runner.run(
            self.model,
            dataset,
            load_shift(shift),
            seed=self.seed,
            model_fingerprint=self.model_fingerprint,
            dataset_fingerprint=self.fingerprint(dataset),
        )
        return to_dataset_space(result.predictions, dataset, self.model.labels, self.label_index), result.key

    def rows(self, table: pd.DataFrame, axis: str, dataset: Dataset, shift: str, key: str) -> pd.DataFrame:
        """Complete metric rows (``metric … protocol``) with the model, dataset, shift and suite columns."""
        out = table.copy()
        out.insert(0, "model", self.model.name)
        out.insert(1, "model_fingerprint", self.model_fingerprint)
        out.insert(2, "dataset", dataset.name)
        out.insert(3, "dataset_fingerprint", self.fingerprint(dataset))
        out.insert(4, "shift", shift)
        out["prediction_key"] = key
        out["versions"] = self.versions
        out["created_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
        out["suite"], out["axis"] = self.suite, axis
        return out

    def ci_protocol(self) -> dict[str, Any]:
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
        """One ``metric … protocol`` record for a value no registry metric computes."""
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

    def bootstrap(self, statistic: Callable[..., float], *arrays: np.ndarray) -> tuple[float, float]:
        """Percentile bootstrap CI with the suite's settings (NaN bounds when disabled)."""
        if self.n_resamples <= 0 or len(arrays[0]) == 0:
            return float("nan"), float("nan")
        return bootstrap_ci(statistic, *arrays, n_resamples=self.n_resamples, seed=self.seed)


def _metric_rows(
    ctx: AxisContext,
    axis: str,
    dataset: Dataset,
    shift: str,
    metrics: Sequence[str],
    slice_by: Sequence[str] | None = None,
) -> pd.DataFrame:
    predictions, key = ctx.predict(dataset, shift)
    spec = load_shift(shift).spec()
    table = compute_metrics(
        predictions.logits,
        predictions.labels,
        predictions.factors,
        metrics,
        slice_by=slice_by,
        n_resamples=ctx.n_resamples,
        seed=ctx.seed,
    )
    return ctx.rows(table, axis, dataset, spec, key)


def _correct(predictions: Predictions) -> np.ndarray:
    """Per-sample top-1 correctness ``[N]`` as floats (means are accuracies)."""
    return (predictions.logits.argmax(axis=1) == predictions.labels).astype(float)


# -- shape bias ---------------------------------------------------------------------------------------
def shape_bias_axis(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec) -> list[pd.DataFrame]:
    """Shape bias on cue-conflict images, overall and per shape category (Geirhos et al., ICLR 2019).

    The decision is the argmax over the dataset's categories of the mean probability of each category's
    model classes (the dataset's ``mean_prob`` label sets); images whose shape and texture agree are
    skipped. Rows: ``shape_bias`` (overall, and sliced by ``shape``), ``shape_match`` and
    ``texture_match`` (fractions of kept images decided by shape / by texture).
    """
    out = []
    protocol = {
        "name": "shape_bias",
        "paper": "Geirhos et al., ICLR 2019",
        "decision": "mean probability per category",
        "skip": "images whose shape and texture labels agree",
    }
    for dataset in datasets.values():
        predictions, key = ctx.predict(dataset)
        names = np.asarray(predictions.class_names, dtype=object)
        decisions = names[predictions.logits.argmax(axis=1)]
        shape = predictions.factors["shape"].astype(str).to_numpy()
        texture = predictions.factors["texture"].astype(str).to_numpy()
        result = shape_bias_from_decisions(decisions, shape, texture)
        keep = shape != texture
        shape_hit = (decisions == shape)[keep].astype(float)
        texture_hit = (decisions == texture)[keep].astype(float)

        def ratio(s: np.ndarray, t: np.ndarray) -> float:
            total = s.sum() + t.sum()
            return float(s.sum() / total) if total else float("nan")

        records = [
            ctx.custom_row(
                "shape_bias", result.overall, result.n_conflict, protocol, ctx.bootstrap(ratio, shape_hit, texture_hit)
            ),
            ctx.custom_row(
                "shape_match",
                shape_hit.mean() if keep.any() else np.nan,
                result.n_conflict,
                protocol,
                ctx.bootstrap(np.mean, shape_hit),
            ),
            ctx.custom_row(
                "texture_match",
                texture_hit.mean() if keep.any() else np.nan,
                result.n_conflict,
                protocol,
                ctx.bootstrap(np.mean, texture_hit),
            ),
        ]
        kept_shapes = shape[keep]
        for category, value in result.per_category.items():
            rows = kept_shapes == category
            records.append(
                ctx.custom_row(
                    "shape_bias",
                    value,
                    int(rows.sum()),
                    protocol,
                    ctx.bootstrap(ratio, shape_hit[rows], texture_hit[rows]),
                    slice_factor="shape",
                    slice_value=str(category),
                )
            )
        out.append(ctx.rows(pd.DataFrame(records), spec.axis, dataset, "none", key))
    return out


# -- context bias -------------------------------------------------------------------------------------
def context_bias_axis(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec) -> list[pd.DataFrame]:
    """P_k (top-1 accuracy with k uncommon attributes) and its relative drop (FOCUS, ICML 2022).

    Correct means the top-1 lies in the true class's set (``top1_in_set`` label sets; with the model's
    own classes, plain top-1). Rows: ``P0``, ``P1``, … with bootstrap CIs, ``relative_drop_P1``, …, and
    ``top1`` sliced by each context attribute the dataset has.
    """
    out = []
    protocol = {
        "name": "context_bias",
        "paper": "Kattakinda & Feizi, ICML 2022 (FOCUS)",
        "definition": "P_k = top-1 accuracy on images with k uncommon attributes; drop = (P0 - Pk) / P0",
    }
    for dataset in datasets.values():
        predictions, key = ctx.predict(dataset)
        correct = _correct(predictions)
        k = pd.to_numeric(predictions.factors["n_uncommon"]).to_numpy().astype(int)
        result = context_bias(correct, k)
        records = []
        for kk, accuracy in result.accuracy.items():
            records.append(
                ctx.custom_row(
                    f"P{kk}", accuracy, result.counts[kk], protocol, ctx.bootstrap(np.mean, correct[k == kk])
                )
            )
        for kk, drop in result.relative_drop.items():
            if kk > 0:
                records.append(ctx.custom_row(f"relative_drop_P{kk}", drop, result.counts[kk], protocol))
        out.append(ctx.rows(pd.DataFrame(records), spec.axis, dataset, "none", key))
        attributes = [
            c
            for c in spec.params.get("attributes", ["lighting", "weather", "location", "time"])
            if c in predictions.factors.columns
        ]
        if attributes:
            table = compute_metrics(
                predictions.logits,
                predictions.labels,
                predictions.factors,
                ["top1"],
                slice_by=attributes,
                n_resamples=ctx.n_resamples,
                seed=ctx.seed,
            )
            out.append(ctx.rows(table[table["slice_factor"] != ""], spec.axis, dataset, "none", key))
    return out


# -- background bias ----------------------------------------------------------------------------------
def background_bias_axis(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec) -> list[pd.DataFrame]:
    """Accuracy per ImageNet-9 variant and BG-gap = acc(mixed_same) − acc(mixed_rand) (Xiao et al., ICLR 2021).

    Inputs are normalised like every other input (the seed code forgot to). Rows: ``top1`` sliced by
    ``variant``, and ``bg_gap`` with a bootstrap CI (the two variants resampled separately).
    """
    out = []
    protocol = {
        "name": "bg_gap",
        "paper": "Xiao et al., ICLR 2021 (ImageNet-9)",
        "definition": "acc(mixed_same) - acc(mixed_rand), 9-way after the label-set mapping",
    }
    for dataset in datasets.values():
        predictions, key = ctx.predict(dataset)
        table = compute_metrics(
            predictions.logits,
            predictions.labels,
            predictions.factors,
            ["top1"],
            slice_by=["variant"],
            n_resamples=ctx.n_resamples,
            seed=ctx.seed,
        )
        rows = [ctx.rows(table[table["slice_factor"] == "variant"], spec.axis, dataset, "none", key)]
        variant = predictions.factors["variant"].astype(str).to_numpy()
        correct = _correct(predictions)
        same, rand = correct[variant == "mixed_same"], correct[variant == "mixed_rand"]
        if same.size and rand.size:
            gap = background_gap(float(same.mean()), float(rand.mean()))
            ci = ctx.two_sample_bootstrap(lambda a, b: float(a.mean() - b.mean()), same, rand)
            record = ctx.custom_row("bg_gap", gap, int(same.size + rand.size), protocol, ci)
            rows.append(ctx.rows(pd.DataFrame([record]), spec.axis, dataset, "none", key))
        out.extend(rows)
    return out


# -- calibration --------------------------------------------------------------------------------------
def calibration_axis(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec) -> list[pd.DataFrame]:
    """ECE (20 bins in the seed benchmark), adaptive and class-wise ECE, NLL, Brier, top-1 per dataset.

    ImageNet-R/-A are scored over their 200 classes (their ``subset`` label sets) before the softmax.
    """
    metrics = spec.params.get("metrics", ["top1", "ece20", "adaptive_ece20", "classwise_ece20", "nll", "brier"])
    return [_metric_rows(ctx, spec.axis, dataset, "none", metrics) for dataset in datasets.values()]


# -- OOD detection ------------------------------------------------------------------------------------
def ood_axis(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec) -> list[pd.DataFrame]:
    """AUROC, AUPR and FPR@95%TPR (ID positive) of each score, per OOD set.

    The ID set is the role ``id``; every other role is an OOD set. Both go through the same model
    preprocessing (the seed code used different ones). Rows: ``{auroc,aupr,fpr95}_{score}`` with the
    OOD set as the dataset; CIs resample the ID and the OOD set separately (stratified by set).
    """
    if "id" not in datasets:
        return []
    id_predictions, id_key = ctx.predict(datasets["id"])
    scores = spec.params.get("scores", ["entropy", "msp", "maxlogit", "energy"])
    out = []
    for role, dataset in datasets.items():
        if role == "id":
            continue
        ood_predictions, key = ctx.predict(dataset)
        records = []
        for method in scores:
            id_s, ood_s = ood_score(id_predictions.logits, method), ood_score(ood_predictions.logits, method)
            for measure, fn in OOD_MEASURES.items():
                protocol = {
                    "name": measure,
                    "score": method,
                    "positive": "in-distribution",
                    "id_dataset": datasets["id"].name,
                    "paper": "Hendrycks & Gimpel, ICLR 2017",
                    "ci_resampling": "ID and OOD sets resampled separately (stratified)",
                }
                ci = ctx.two_sample_bootstrap(fn, id_s, ood_s)
                records.append(
                    ctx.custom_row(f"{measure}_{method}", fn(id_s, ood_s), id_s.size + ood_s.size, protocol, ci)
                )
        out.append(ctx.rows(pd.DataFrame(records), spec.axis, dataset, "none", f"{id_key}+{key}"))
    return out


# -- corruptions --------------------------------------------------------------------------------------
def _corruption_names(spec: AxisSpec) -> list[str]:
    from robustscope.shifts.corruptions import COMMON_CORRUPTIONS, CORRUPTIONS

    chosen = spec.params.get("corruptions", "common")
    if chosen == "common":
        return list(COMMON_CORRUPTIONS)
    if chosen == "all":
        return list(CORRUPTIONS.keys())
    return [str(c) for c in chosen]


def corruptions_axis(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec) -> list[pd.DataFrame]:
    """Top-1 per (corruption, severity), their mean, and mCE / relative mCE against AlexNet.

    Precomputed sets (ImageNet-C, ImageNet-3DCC: ``corruption`` and ``severity`` factors) are sliced per
    (corruption, severity); with ``on_the_fly: auto`` and no precomputed 2-D set, the ``clean`` set is
    corrupted on the fly by :mod:`robustscope.shifts`. Every (corruption, severity) is its own set, so
    nothing accumulates across sets (the seed code's running average did). mCE and relative mCE need an
    ImageNet-1k model and all 15 corruptions at 5 severities.
    """
    severities = [int(s) for s in spec.params.get("severities", [1, 2, 3, 4, 5])]
    names = _corruption_names(spec)
    clean = datasets.get("clean")
    precomputed = {r: d for r, d in datasets.items() if r != "clean"}
    out: list[pd.DataFrame] = []
    accuracy: dict[str, dict[tuple[str, int], float]] = {}
    for role, dataset in precomputed.items():
        predictions, key = ctx.predict(dataset)
        factors = predictions.factors
        cells = factors["corruption"].astype(str) + ":" + factors["severity"].astype(str)
        table = compute_metrics(
            predictions.logits,
            predictions.labels,
            pd.DataFrame({"corruption_severity": cells}),
            ["top1"],
            slice_by=["corruption_severity"],
            n_resamples=ctx.n_resamples,
            seed=ctx.seed,
        )
        out.append(ctx.rows(table, spec.axis, dataset, "none", key))
        sliced = table[table["slice_factor"] != ""]
        accuracy[role] = {
            (v.split(":")[0], int(v.split(":")[1])): a
            for v, a in zip(sliced["slice_value"], sliced["value"], strict=True)
        }
    mode = spec.params.get("on_the_fly", "auto")
    has_2d = any(role != "imagenet_3dcc" for role in precomputed)
    clean_accuracy = None
    if clean is not None:
        clean_rows = _metric_rows(ctx, spec.axis, clean, "none", ["top1"])
        out.append(clean_rows)
        clean_accuracy = float(clean_rows["value"].iloc[0])
        if mode == "always" or (mode == "auto" and not has_2d):
            cells: dict[tuple[str, int], float] = {}
            for name in names:
                for severity in severities:
                    rows = _metric_rows(ctx, spec.axis, clean, f"corruption:{name}:{severity}", ["top1"])
                    out.append(rows)
                    cells[(name, severity)] = float(rows["value"].iloc[0])
            accuracy["on_the_fly"] = cells
    summary_dataset = clean if clean is not None else next(iter(precomputed.values()), None)
    if summary_dataset is None:
        return out
    records = []
    for source, cells in accuracy.items():
        if not cells:
            continue
        protocol = {
            "name": "mean_corruption_top1",
            "source": source,
            "paper": "Hendrycks & Dietterich, ICLR 2019",
            "cells": len(cells),
        }
        records.append(
            ctx.custom_row(
                f"mean_corruption_top1[{source}]", float(np.mean(list(cells.values()))), len(cells), protocol
            )
        )
        table = pd.DataFrame(
            {s: {c: 1 - cells.get((c, s), np.nan) for c in IMAGENET_C_CORRUPTIONS} for s in (1, 2, 3, 4, 5)}
        )
        imagenet = ctx.model.label_space == IMAGENET_1K and source != "imagenet_3dcc"
        if imagenet and not table.isna().any().any():
            base = {"baseline": "AlexNet (Hendrycks & Dietterich, ICLR 2019)", "source": source}
            records.append(ctx.custom_row(f"mce[{source}]", mce(table), len(cells), {"name": "mCE", **base}))
            if clean_accuracy is not None:
                records.append(
                    ctx.custom_row(
                        f"relative_mce[{source}]",
                        relative_mce(table, 1 - clean_accuracy),
                        len(cells),
                        {"name": "relative mCE", **base},
                    )
                )
    if records:
        out.append(ctx.rows(pd.DataFrame(records), spec.axis, summary_dataset, "summary", ""))
    return out


# -- adversarial --------------------------------------------------------------------------------------
def adversarial_axis(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec) -> list[pd.DataFrame]:
    """Clean and robust top-1 under each attack shift, in [0,1] pixel space (normalisation inside the model)."""
    clean = datasets.get("clean") or next(iter(datasets.values()))
    return [_metric_rows(ctx, spec.axis, clean, shift, ["top1"]) for shift in spec.shifts]
