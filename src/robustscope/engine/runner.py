"""The Runner: one batched forward pass per (model, dataset, shift, seed), stored in resumable shards.

:class:`Runner` checks the label space, plans the shards that are missing as
:class:`~robustscope.engine.shard_tasks.ShardTask` s (any executor can run them:
:func:`~robustscope.engine.shard_tasks.execute_task`), runs them in-process with a progress bar, and loads
the result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from robustscope.data.base import Dataset
from robustscope.data.content_index import ContentIndex
from robustscope.engine.executors import Executor, SerialExecutor
from robustscope.engine.fingerprint import prediction_key
from robustscope.engine.image_loading import BAD_IMAGE_POLICIES
from robustscope.engine.label_space import label_mapping
from robustscope.engine.prediction_store import PredictionStore, shard_ranges
from robustscope.engine.predictions import Predictions
from robustscope.engine.recipes import is_replaying
from robustscope.engine.shard_tasks import ShardOutcome, ShardTask
from robustscope.errors import BadImageError, CorruptStoreError, RobustscopeError
from robustscope.models.base import Model
from robustscope.progress import samples_bar
from robustscope.shifts.base import Identity, Shift

__all__ = ["RunResult", "Runner"]


@dataclass
class RunResult:
    """The outcome of :meth:`Runner.run`.

    Attributes:
        key: the prediction key.
        predictions: the loaded :class:`Predictions`.
        shards_computed: shards computed by this call (0 on a full cache hit).
        shards_reused: shards found on disk.
        bad_images: paths of images skipped (by this run or the run that wrote a reused shard).
    """

    key: str
    predictions: Predictions
    shards_computed: int
    shards_reused: int
    bad_images: list[str] = field(default_factory=list)


def _describe(model: Model, fingerprint: str) -> dict[str, Any]:
    """``Model.describe()`` reusing a computed fingerprint: hashing large weights twice costs seconds."""
    return model.describe(fingerprint)


def _bound(shift: Shift, model: Model, dataset: Dataset) -> Shift:
    """``shift`` bound to ``dataset`` (seen through the model's preprocessing) when it ``needs_dataset``."""
    return shift.bind(dataset, model.preprocessing) if shift.needs_dataset else shift


# -- the runner ---------------------------------------------------------------------------------------
class Runner:
    """Batched, resumable, cached inference of a model on a (shifted) dataset.

    Args:
        store: where predictions go (a :class:`PredictionStore` or its root folder).
        batch_size: images per forward pass.
        shard_size: rows per Parquet shard (the unit of resumption). A key keeps the shard size it
            was first written with.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``…
        num_workers: DataLoader processes decoding images (0: decode in this process).
        on_bad_image: ``"raise"`` (default; :class:`BadImageError` names the file) or ``"skip"``
            (skip and report the files in :attr:`RunResult.bad_images`).
        max_image_pixels: images with more pixels are bad images, possible decompression bombs
            (default ``None``: PIL's ``MAX_IMAGE_PIXELS``); see :func:`robustscope.data.read_image`.
        progress: show a rich progress bar (samples/s) on stderr.
        content_index: the stat index through which datasets' file contents are hashed for their
            fingerprints (default: the workspace's, :func:`robustscope.data.content_index.default_index`).
        precision: ``"fp32"`` (default), or ``"fp16"``/``"bf16"``: the forward pass under autocast. Part of
            the prediction key unless ``"fp32"`` (keys stored before precisions existed still hit).
        executor: who computes the planned shards (:mod:`robustscope.engine.executors`; default: serial, here).

    Attributes:
        shards_computed, shards_reused: shards computed / found on disk by every :meth:`run` of this
            runner so far (each :class:`RunResult` has its own).

    Example:
        >>> # runner = Runner(PredictionStore(ws.predictions), batch_size=128, device="cuda")
        >>> # result = runner.run(model, dataset)             # computes every shard
        >>> # runner.run(model, dataset).shards_computed       # second time: cache hit
        >>> # 0
    """

    def __init__(
        self,
        store: PredictionStore | str | Path,
        batch_size: int = 64,
        shard_size: int = 512,
        device: str | torch.device = "cpu",
        num_workers: int = 0,
        on_bad_image: str = "raise",
        progress: bool = True,
        max_image_pixels: int | None = None,
        content_index: ContentIndex | None = None,
        precision: str = "fp32",
        executor: Executor | None = None,
    ):
        from robustscope.engine.options import check_precision

        check_precision(precision)
        if on_bad_image not in BAD_IMAGE_POLICIES:
            raise ValueError(f"on_bad_image must be one of {BAD_IMAGE_POLICIES}, got {on_bad_image!r}")
        if batch_size < 1 or shard_size < 1 or num_workers < 0:
            raise ValueError("batch_size and shard_size must be >= 1 and num_workers >= 0")
        if max_image_pixels is not None and (isinstance(max_image_pixels, bool) or int(max_image_pixels) < 1):
            raise RobustscopeError(
                f"max_image_pixels must be a positive number of pixels, got {max_image_pixels!r}; "
                "leave it unset (None) for PIL's limit"
            )
        self.store = store if isinstance(store, PredictionStore) else PredictionStore(store)
        self.batch_size = batch_size
        self.shard_size = shard_size
        self.device = str(device)
        self.num_workers = num_workers
        self.on_bad_image = on_bad_image
        self.progress = progress
        self.max_image_pixels = max_image_pixels
        self.content_index = content_index
        self.precision = precision
        self.executor: Executor = executor if executor is not None else SerialExecutor()
        self.shards_computed = 0
        self.shards_reused = 0

    def key(self, model: Model, dataset: Dataset, shift: Shift | None = None, seed: int = 0) -> str:
        """The prediction key this runner would use (no forward pass, nothing written)."""
        shift = _bound(shift or Identity(), model, dataset)
        return prediction_key(
            model,
            dataset,
            shift,
            seed,
            dataset_fingerprint=dataset.fingerprint(self.content_index),
            max_image_pixels=self.max_image_pixels,
            precision=self.precision,
        )

    def plan(self, model: Model, dataset: Dataset, shift: Shift | None = None, seed: int = 0) -> list[ShardTask]:
        """The shards still missing for (model, dataset, shift, seed), as tasks.

        Checks the label space first (:class:`LabelSpaceError`), and records the key's meta.json
        so shards written by any executor can be loaded.
        """
        return self._plan(model, dataset, shift or Identity(), seed)[2]

    def _plan(
        self,
        model: Model,
        dataset: Dataset,
        shift: Shift,
        seed: int,
        model_fp: str | None = None,
        dataset_fp: str | None = None,
    ) -> tuple[str, dict[str, Any], list[ShardTask]]:
        label_map = label_mapping(model, dataset)
        shift = _bound(shift, model, dataset)  # shifts that read the dataset (masks…) get it here
        model_fp = model_fp or model.fingerprint()
        dataset_fp = dataset_fp or dataset.fingerprint(self.content_index)
        key = prediction_key(
            model,
            dataset,
            shift,
            seed,
            model_fingerprint=model_fp,
            dataset_fingerprint=dataset_fp,
            max_image_pixels=self.max_image_pixels,
            precision=self.precision,
        )
        meta = self._ensure_meta(key, model, dataset, shift, seed, model_fp, dataset_fp)
        tasks = self.missing_tasks(model, dataset, shift, seed, key, int(meta["shard_size"]), label_map)
        return key, meta, tasks

    def missing_tasks(
        self, model: Model, dataset: Dataset, shift: Shift, seed: int, key: str, shard_size: int,
        label_map: tuple[int, ...],
    ) -> list[ShardTask]:
        """One :class:`ShardTask` per shard of ``key`` the store lacks, with this runner's settings.

        Example:
            >>> # runner.missing_tasks(model, dataset, Identity(), 0, key, 512, label_map)  (see plan())
        """
        ranges = shard_ranges(len(dataset), shard_size)
        return [
            ShardTask(
                model=model,
                dataset=dataset,
                shift=shift,
                seed=int(seed),
                key=key,
                shard_index=index,
                row_range=ranges[index],
                label_map=label_map,
                batch_size=self.batch_size,
                device=self.device,
                on_bad_image=self.on_bad_image,
                store_root=str(self.store.root),
                num_workers=self.num_workers,
                max_image_pixels=self.max_image_pixels,
                precision=self.precision,
            )
            for index in self.store.missing_shards(key, len(ranges))
        ]

    def run(
        self,
        model: Model,
        dataset: Dataset,
        shift: Shift | None = None,
        seed: int = 0,
        *,
        model_fingerprint: str | None = None,
        dataset_fingerprint: str | None = None,
    ) -> RunResult:
        """Compute the missing shards (none on a cache hit) and return every prediction.

        Pass ``model_fingerprint``/``dataset_fingerprint`` when running one model and dataset under
        many shifts: hashing large weights once instead of per shift saves seconds each.

        Example:
            >>> # result = Runner("preds", progress=False).run(model, dataset, Gaussian(3), seed=0)
            >>> # result.predictions.logits.shape
            >>> # (N, K)
        """
        (result,) = self.iter_runs(
            model, dataset, [shift], seed, model_fingerprint=model_fingerprint, dataset_fingerprint=dataset_fingerprint
        )
        return result

    def run_many(
        self,
        model: Model,
        dataset: Dataset,
        shifts: Sequence[Shift | None],
        seed: int = 0,
        *,
        model_fingerprint: str | None = None,
        dataset_fingerprint: str | None = None,
    ) -> list[RunResult]:
        """:meth:`run` of each shift, computed in one pass: each image is decoded and preprocessed once.

        Keys, shard files and resumption are those of a :meth:`run` per shift, and so are the logits, bit
        for bit; a shift listed twice is computed once (its second result counts its shards as reused).
        Every result's predictions are held in memory: for long grids over large sets, iterate
        :meth:`iter_runs` instead.

        Example:
            >>> # runner.run_many(model, dataset, [Identity(), load_shift("corruption:fog:3")], seed=0)
        """
        return list(self.iter_runs(model, dataset, shifts, seed, model_fingerprint=model_fingerprint,
                                   dataset_fingerprint=dataset_fingerprint))  # fmt: skip

    def iter_runs(
        self,
        model: Model,
        dataset: Dataset,
        shifts: Sequence[Shift | None],
        seed: int = 0,
        *,
        model_fingerprint: str | None = None,
        dataset_fingerprint: str | None = None,
    ) -> Iterator[RunResult]:
        """:meth:`run_many`, loading one shift's predictions at a time (after every missing shard is computed).

        Example:
            >>> # for result in runner.iter_runs(model, dataset, grid): table = metrics(result.predictions)
        """
        shifts = [shift or Identity() for shift in shifts]
        if not shifts:
            return
        model_fp = model_fingerprint or model.fingerprint()
        dataset_fp = dataset_fingerprint or dataset.fingerprint(self.content_index)
        plans = [self._plan(model, dataset, shift, seed, model_fp, dataset_fp) for shift in shifts]
        pending: dict[tuple[str, int], ShardTask] = {}
        for _, _, tasks in plans:
            for task in tasks:
                pending.setdefault((task.key, task.shard_index), task)
        if pending:
            keys = {key for key, _ in pending}
            what = shifts[0].spec() if len({key for key, _, _ in plans}) == 1 else f"{len(keys)} shifts"
            self._execute(list(pending.values()), f"{model.name} · {dataset.name} · {what}")
        computed: set[str] = set()
        for shift, (key, meta, tasks) in zip(shifts, plans, strict=True):
            yield self._finish(model, dataset, shift, seed, key, meta, [] if key in computed else tasks,
                               model_fp, dataset_fp)  # fmt: skip
            computed.add(key)

    def _finish(
        self,
        model: Model,
        dataset: Dataset,
        shift: Shift,
        seed: int,
        key: str,
        meta: dict[str, Any],
        tasks: list[ShardTask],
        model_fingerprint: str,
        dataset_fingerprint: str,
    ) -> RunResult:
        """Load a key's predictions once its shards were computed (recomputing damaged ones), and count them."""
        self.store.clean(key)
        try:
            predictions, bad = self.store.load_with_bad_images(key)
        except CorruptStoreError:
            # The store moved what failed its checksum aside (a warning names each file), so those
            # shards count as missing now: plan again to recompute exactly them, never using the damaged ones.
            key, meta, again = self._plan(model, dataset, shift, seed, model_fingerprint, dataset_fingerprint)
            if again:
                self._execute(again, f"{model.name} · {dataset.name} · {shift.spec()} (recomputing damaged shards)")
            tasks = list({task.shard_index: task for task in [*tasks, *again]}.values())
            predictions, bad = self.store.load_with_bad_images(key)
        if bad and self.on_bad_image == "raise":
            first = bad[0]
            raise BadImageError(
                first["path"],
                f"skipped by an earlier run with on_bad_image='skip' (predictions {key}; "
                f"{len(bad)} skipped in all): {first.get('reason', '')}",
            )
        result = RunResult(
            key=key,
            predictions=predictions,
            shards_computed=len(tasks),
            shards_reused=int(meta["num_shards"]) - len(tasks),
            bad_images=[record["path"] for record in bad],
        )
        self.shards_computed += result.shards_computed
        self.shards_reused += result.shards_reused
        return result

    # -- internals ------------------------------------------------------------------------------
    def _ensure_meta(
        self, key: str, model: Model, dataset: Dataset, shift: Shift, seed: int, model_fp: str, dataset_fp: str
    ) -> dict[str, Any]:
        if self.store.has_meta(key):
            meta = self.store.read_meta(key)
            if int(meta["num_rows"]) != len(dataset):
                raise ValueError(f"stored predictions {key} have {meta['num_rows']} rows, dataset has {len(dataset)}")
            return meta
        return self.store.write_meta(
            key,
            {
                "model": _describe(model, model_fp),
                "dataset": {"name": dataset.name, "fingerprint": dataset_fp, "len": len(dataset)},
                "shift": {**shift.key(), "spec": shift.spec()},
                "seed": int(seed),
                "num_rows": len(dataset),
                "shard_size": self.shard_size,
                "num_shards": len(shard_ranges(len(dataset), self.shard_size)),
                "class_names": list(model.labels),
                "factor_columns": list(dataset.factor_columns),
                # fp32 is left out, as in the key: meta.json files written before precisions existed are alike
                **({"precision": self.precision} if self.precision != "fp32" else {}),
            },
        )

    def _execute(self, tasks: list[ShardTask], description: str) -> list[ShardOutcome]:
        if is_replaying():  # rebuilding results from stored predictions: a forward pass is a bug, not a fallback
            raise RobustscopeError(
                f"predictions {tasks[0].key} ({description}) are not stored: {len(tasks)} shard(s) missing or "
                "damaged, and rebuilding results runs no forward pass; rerun the evaluation to recompute them"
            )
        with samples_bar(self.progress, description, sum(t.num_rows for t in tasks)) as advance:
            return self.executor.execute(tasks, advance)
