"""Failure galleries: per (model, dataset), the misclassified samples of each stored shift, confident ones first.

Everything comes from the PredictionStore (logits, labels, factors, the shift and seed of each key) and the
dataset the predictions were computed on, loaded again from its spec (``Dataset.name``) and checked against
the stored dataset fingerprint: a dataset that changed since, or cannot be loaded, gets no gallery (a note
says why) rather than pictures of other images. Each chosen sample gets a thumbnail under every shift of
its group (:mod:`robustscope.report.explorer.thumbnails`), with the model's prediction under that shift.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from robustscope.errors import RobustscopeError
from robustscope.report.explorer.thumbnails import ThumbnailCache, VariantRequest

if TYPE_CHECKING:
    from robustscope.config import Workspace
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.engine.predictions import Predictions
    from robustscope.models import Model

__all__ = ["GalleryLimits", "PredictionSource", "gallery_groups", "shift_order"]

#: Corruption severities in the order variant shifts are kept when a group holds more than the limit.
_SEVERITY_ORDER = {3: 0, 5: 1, 1: 2, 2: 3, 4: 4}


@dataclass(frozen=True)
class GalleryLimits:
    """How much of each (model, dataset) the galleries show: samples with thumbnails, shifts, failures per shift."""

    max_samples: int = 40
    max_shifts: int = 32
    max_failures: int = 24


@dataclass
class PredictionSource:
    """Stored predictions by key, each loaded once (galleries and comparisons share them)."""

    store: PredictionStore
    loaded: dict[str, Predictions | None] = field(default_factory=dict)

    def get(self, key: str) -> Predictions | None:
        """The predictions of ``key``, or ``None`` when they are gone or unreadable."""
        if key not in self.loaded:
            try:
                self.loaded[key] = self.store.load(key)
            except (RobustscopeError, OSError, ValueError, KeyError):
                self.loaded[key] = None
        return self.loaded[key]


def shift_order(shifts: list[str]) -> list[str]:
    """Clean first, then attacks and other shifts, then corruptions by severity (3, 5, 1, 2, 4) and name.

    Example:
        >>> shift_order(["corruption:fog:1", "pgd:linf", "corruption:fog:3", "none", "corruption:blur:3"])
        ['none', 'pgd:linf', 'corruption:blur:3', 'corruption:fog:3', 'corruption:fog:1']
    """

    def rank(spec: str) -> tuple[int, int, str]:
        if spec == "none":
            return (0, 0, "")
        found = re.fullmatch(r"corruption:([^:]+):(\d+)", spec)
        if found:
            return (2, _SEVERITY_ORDER.get(int(found.group(2)), 9), found.group(1))
        return (1, 0, spec)

    return sorted(dict.fromkeys(shifts), key=rank)


def _factor_text(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.3g}"
    return str(value)


def _interleaved_failures(rankings: list[np.ndarray], limit: int) -> list[int]:
    """Rank 0 of every shift, then rank 1, …: the first ``limit`` distinct rows (every shift gets its worst)."""
    chosen: dict[int, None] = {}
    depth = max((len(r) for r in rankings), default=0)
    for position in range(depth):
        for ranking in rankings:
            if position < len(ranking) and len(chosen) < limit:
                chosen.setdefault(int(ranking[position]), None)
    return list(chosen)


class _GroupBuilder:
    """One (model, dataset) group: its dataset, preprocessing, shifts and predictions."""

    def __init__(self, workspace: Workspace, model: str, dataset_name: str, keys: dict[str, str],
                 source: PredictionSource, models: dict[str, Model],
                 datasets: dict[tuple[str, str], Any] | None = None) -> None:  # fmt: skip
        self.workspace, self.model, self.dataset_name, self.keys = workspace, model, dataset_name, keys
        self.source, self.models = source, models
        self.datasets = {} if datasets is None else datasets  # (name, fingerprint) → Dataset or the error, shared

    def build(self, cache: ThumbnailCache, limits: GalleryLimits) -> dict[str, Any]:
        from robustscope.models import Preprocessing

        shifts = [s for s in shift_order(list(self.keys)) if self.source.get(self.keys[s]) is not None]
        shifts = shifts[: limits.max_shifts]
        if not shifts:
            raise RobustscopeError(f"no readable predictions for {self.model} on {self.dataset_name}")
        meta = self.source.store.read_meta(self.keys[shifts[0]])
        dataset = self._dataset(meta)
        preprocessing = Preprocessing.from_dict(dict(meta["model"]["preprocessing"]))
        first = self.source.get(self.keys[shifts[0]])
        assert first is not None
        row_of = {sid: i for i, sid in enumerate(dataset.manifest["sample_id"].astype(str))}
        per_shift = {s: self._scored(self.source.get(self.keys[s]), row_of) for s in shifts}
        rankings = [per_shift[s]["failures"] for s in shifts]
        chosen = _interleaved_failures(rankings, limits.max_samples)  # dataset rows
        slice_names, slices = self._slices(first, row_of)
        factor_names = [c for c in dataset.factor_columns if c not in ("split", "world_name")]
        samples = []
        for row in chosen:
            samples.append({
                "id": str(dataset.manifest.at[row, "sample_id"]),
                "file": str(dataset.manifest.at[row, "path"]),
                "label": int(per_shift[shifts[0]]["labels"][row]),
                "f": [_factor_text(dataset.manifest.at[row, c]) for c in factor_names],
                "s": [slices[c].get(row, "") for c in slice_names],
                "t": [], "p": [],
            })  # fmt: skip
        for spec in shifts:
            thumbs = self._thumbnails(cache, dataset, chosen, spec, preprocessing, per_shift[spec]["labels"])
            for sample, row, address in zip(samples, chosen, thumbs, strict=True):
                scored = per_shift[spec]
                sample["t"].append(address)
                sample["p"].append([int(scored["pred"][row]), round(float(scored["conf"][row]), 4)])
        index_of = {row: i for i, row in enumerate(chosen)}
        galleries = []
        for spec in shifts:
            scored = per_shift[spec]
            shown = [index_of[r] for r in scored["failures"] if r in index_of][: limits.max_failures]
            galleries.append({"shift": spec, "n": int(scored["n"]), "wrong": len(scored["failures"]),
                              "items": shown})  # fmt: skip
        return {
            "model": self.model, "dataset": self.dataset_name, "classes": [str(c) for c in first.class_names],
            "shifts": shifts, "factors": factor_names, "slices": slice_names, "samples": samples,
            "galleries": galleries,
        }  # fmt: skip

    def _dataset(self, meta: dict[str, Any]) -> Any:
        """The dataset, loaded and checked once per (name, stored fingerprint) for every group that shares it."""
        cached = (self.dataset_name, str(meta.get("dataset", {}).get("fingerprint", "")))
        if cached not in self.datasets:
            try:
                self.datasets[cached] = self._load_dataset(meta)
            except RobustscopeError as err:
                self.datasets[cached] = err
        found = self.datasets[cached]
        if isinstance(found, RobustscopeError):
            raise found
        return found

    def _load_dataset(self, meta: dict[str, Any]) -> Any:
        from robustscope.data.content_index import ContentIndex
        from robustscope.data.registry import load_dataset

        try:
            dataset = load_dataset(self.dataset_name, root=self.workspace.renders, progress=False)
        except TypeError:  # loaders of plain folders and files take no progress option
            dataset = load_dataset(self.dataset_name, root=self.workspace.renders)
        if dataset.metadata.get("ood") or dataset.metadata.get("external_labels"):
            raise RobustscopeError(f"{self.dataset_name} has no labels in the model's classes")
        stored = str(meta.get("dataset", {}).get("fingerprint", ""))
        if stored and dataset.fingerprint(ContentIndex(self.workspace.content_index)) != stored:
            raise RobustscopeError(f"{self.dataset_name} changed since it was evaluated (fingerprint differs)")
        return dataset

    @staticmethod
    def _scored(predictions: Predictions | None, row_of: dict[str, int]) -> dict[str, Any]:
        """Per dataset row: true label, prediction, confidence; failures as rows, most confident first."""
        assert predictions is not None
        rows = np.array([row_of.get(str(s), -1) for s in predictions.sample_ids])
        if (rows < 0).any():
            raise RobustscopeError("stored predictions name samples the dataset no longer has")
        probs = predictions.probs()
        pred, conf = probs.argmax(axis=1), probs.max(axis=1)
        size = len(row_of)
        out = {"labels": np.full(size, -1), "pred": np.full(size, -1), "conf": np.zeros(size), "n": len(rows)}
        out["labels"][rows], out["pred"][rows], out["conf"][rows] = predictions.labels, pred, conf
        wrong = np.flatnonzero((pred != predictions.labels) & (predictions.labels >= 0))
        out["failures"] = rows[wrong[np.argsort(-conf[wrong], kind="stable")]]
        return out

    @staticmethod
    def _slices(predictions: Predictions, row_of: dict[str, int]) -> tuple[list[str], dict[str, dict[int, str]]]:
        """Each sample's slice value per factor, as the result rows name them (continuous factors binned)."""
        from robustscope.metrics.slicing import slicing_frame

        frame = slicing_frame(predictions.factors.reset_index(drop=True), "all")
        rows = [row_of[str(s)] for s in predictions.sample_ids]
        return list(frame.columns), {c: dict(zip(rows, frame[c].astype(str), strict=True)) for c in frame.columns}

    def _thumbnails(self, cache: ThumbnailCache, dataset: Any, rows: list[int], spec: str,
                    preprocessing: Any, labels: np.ndarray) -> list[str | None]:  # fmt: skip
        from robustscope.shifts.registry import load_shift

        if not rows:
            return []
        meta = self.source.store.read_meta(self.keys[spec])
        shift = load_shift(spec)
        if shift.needs_dataset:
            shift = shift.bind(dataset, preprocessing)
        request = VariantRequest(dataset, rows, shift, int(meta.get("seed", 0)), preprocessing,
                                 [int(labels[r]) for r in rows], None, str(meta["model"].get("fingerprint", "")))
        if shift.needs_model:
            try:
                request.model = self._model(meta)
            except RobustscopeError:
                return [None] * len(rows)  # an attack without its model: predictions shown, no picture
        return list(cache.get(request))

    def _model(self, meta: dict[str, Any]) -> Model:
        """The model an attack needs: given by the caller, or loaded from its stored path and fingerprint-checked."""
        from robustscope.models import load_model

        info = meta["model"]
        if self.model in self.models:
            return self.models[self.model]
        if info.get("source") != "file" or not info.get("path"):
            raise RobustscopeError(f"model {self.model} cannot be reloaded to draw its attack")
        model = load_model(f"file:{Path(str(info['path'])).parent}")
        if model.fingerprint() != info.get("fingerprint"):
            raise RobustscopeError(f"model {self.model} changed since it was evaluated")
        model.eval()
        self.models[self.model] = model
        return model


def gallery_groups(
    workspace: Workspace,
    rows: pd.DataFrame,
    source: PredictionSource,
    cache: ThumbnailCache,
    limits: GalleryLimits = GalleryLimits(),
    models: dict[str, Model] | None = None,
    on_group: Callable[[], None] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The gallery of every (model, dataset) with stored predictions in ``rows``, and notes on those left out.

    Example:
        >>> from robustscope.config import Workspace
        >>> from robustscope.engine.prediction_store import PredictionStore
        >>> empty = pd.DataFrame(columns=["model", "dataset", "shift", "prediction_key"])
        >>> gallery_groups(Workspace(Path("/nonexistent")), empty, PredictionSource(PredictionStore("/nonexistent")),
        ...                ThumbnailCache("/nonexistent"))
        ([], [])
    """
    runs = rows[rows.prediction_key.astype(str).str.len() > 0] if "prediction_key" in rows else rows.iloc[:0]
    runs = runs[(runs["shift"] != "summary") & ~runs.prediction_key.astype(str).str.contains("+", regex=False)]
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for run in runs.drop_duplicates(["model", "dataset", "shift"]).itertuples(index=False):
        groups.setdefault((str(run.model), str(run.dataset)), {})[str(run.shift)] = str(run.prediction_key)
    out, notes = [], []
    datasets: dict[tuple[str, str], Any] = {}
    for (model, dataset), keys in groups.items():
        builder = _GroupBuilder(workspace, model, dataset, keys, source, dict(models or {}), datasets)
        try:
            out.append(builder.build(cache, limits))
        except (RobustscopeError, OSError, KeyError, ValueError) as err:
            notes.append(f"{model} on {dataset}: no gallery ({err})")
        if on_group is not None:
            on_group()
    return out, notes
