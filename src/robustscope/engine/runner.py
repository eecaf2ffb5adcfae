"""The Runner: one batched forward pass per (model, dataset, shift, seed), stored in resumable shards.

Work is cut into :class:`ShardTask` s, plain picklable records that the module-level
:func:`execute_task` turns into one Parquet shard each, so a distributed executor (Ray,
multiprocessing) can run them anywhere that sees the store. :class:`Runner` plans the shards that
are missing, runs them in-process, and loads the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.utils.data as tud

from robustscope.data.base import Dataset
from robustscope.data.content_index import ContentIndex
from robustscope.engine.fingerprint import prediction_key
from robustscope.engine.prediction_store import PredictionStore, shard_ranges
from robustscope.engine.predictions import Predictions
from robustscope.engine.recipes import is_replaying
from robustscope.errors import (
    BadImageError,
    CorruptStoreError,
    LabelSpaceError,
    NonFiniteLogitsError,
    RobustscopeError,
)
from robustscope.models.base import Model
from robustscope.models.preprocessing import Preprocessing
from robustscope.registry import suggest
from robustscope.shifts.base import Identity, Shift

BAD_IMAGE_POLICIES = ("raise", "skip")


@dataclass(frozen=True, eq=False)
class ShardTask:
    """Everything needed to compute and store one shard, picklable for another process or host.

    Attributes:
        model, dataset, shift, seed: what is evaluated.
        key: the prediction key (see :func:`robustscope.engine.prediction_key`).
        shard_index: which shard; rows ``row_range = (start, stop)`` of the dataset's manifest.
        label_map: dataset label index → model logit index (``-1`` for classes no sample uses).
        batch_size, device, num_workers: how to compute it.
        on_bad_image: ``"raise"`` or ``"skip"``.
        max_image_pixels: images with more pixels are bad images (``None``: PIL's limit).
        store_root: the :class:`PredictionStore` root the shard is written to.

    Example:
        >>> # tasks come from Runner.plan(); any executor can run them:
        >>> # outcomes = [execute_task(t) for t in runner.plan(model, dataset)]
    """

    model: Model
    dataset: Dataset
    shift: Shift
    seed: int
    key: str
    shard_index: int
    row_range: tuple[int, int]
    label_map: tuple[int, ...]
    batch_size: int = 64
    device: str = "cpu"
    on_bad_image: str = "raise"
    store_root: str = "."
    num_workers: int = 0
    max_image_pixels: int | None = None

    @property
    def num_rows(self) -> int:
        """Rows of the manifest this shard covers (skipped bad images included)."""
        return self.row_range[1] - self.row_range[0]


@dataclass(frozen=True)
class ShardOutcome:
    """What executing one :class:`ShardTask` produced."""

    key: str
    shard_index: int
    rows: int
    bad_images: list[dict[str, str]]
    path: str
    seconds: float


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


# -- label space ------------------------------------------------------------------------------------
def label_mapping(model: Model, dataset: Dataset) -> tuple[int, ...]:
    """Map each dataset class (by name) to the model's logit index; raise for unknown used classes.

    Classes no sample uses map to ``-1`` rather than failing, so a subset of a dataset keeps
    working with a model that only knows the classes that remain. Datasets scored through label
    sets (``metadata["label_sets"]``), used as out-of-distribution data (``metadata["ood"]``), or whose
    labels an axis scores itself (``metadata["external_labels"]``, e.g. per-image ImageNet index sets)
    map unknown classes to ``-1`` without failing.

    Example:
        >>> import pandas as pd
        >>> from torch import nn
        >>> model = Model.from_module(nn.Identity(), preprocessing=Preprocessing(8, 1.0), labels=["dog", "cat"])
        >>> data = Dataset("toy", ".", ["cat", "dog"],
        ...                pd.DataFrame({"sample_id": ["a"], "path": ["a.png"], "label": [1]}))
        >>> label_mapping(model, data)
        (1, 0)
    """
    index = model.label_index()
    if any(dataset.metadata.get(k) for k in ("label_sets", "ood", "external_labels")):
        # Scored through label sets at metric time (see engine.label_space), or not at all (OOD):
        # the store keeps the model's full logits and -1 for classes outside its label space.
        return tuple(index.get(name, -1) for name in dataset.classes)
    used = set(np.unique(dataset.manifest["label"].to_numpy()).tolist())
    missing = [name for i, name in enumerate(dataset.classes) if i in used and name not in index]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        near = {m: suggest(m, model.labels) for m in missing[:5]}
        near_text = "; ".join(f"{m!r} → {', '.join(map(repr, s))}" for m, s in near.items() if s)
        some_labels = ", ".join(repr(x) for x in model.labels[:8]) + (", …" if len(model.labels) > 8 else "")
        raise LabelSpaceError(
            f"dataset {dataset.name!r} has class(es) {shown} outside the label space of model {model.name!r} "
            f"({model.label_space}, {model.num_classes} labels: {some_labels})"
            + (f"; near misses: {near_text}" if near_text else "")
            + ". Map the dataset's classes onto the model's labels (rename them, or use a label-space "
            "mapping) or evaluate a model trained on these classes."
        )
    return tuple(index.get(name, -1) for name in dataset.classes)


# -- image loading (runs in DataLoader workers) -------------------------------------------------------
class _RowImages(tud.Dataset):
    """Decoded, preprocessed images of some manifest rows; bad files come back as data, not exceptions.

    DataLoader workers cannot re-raise :class:`BadImageError` faithfully (it takes two arguments),
    so the error travels as ``(path, message)`` and is raised or recorded in the main process.
    """

    def __init__(self, dataset: Dataset, preprocessing: Preprocessing, max_pixels: int | None = None):
        self.dataset = dataset
        self.preprocessing = preprocessing
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, row: int) -> tuple[int, torch.Tensor | None, str | None, str | None]:
        try:
            image = self.dataset.load_image(row, max_pixels=self.max_pixels)
        except BadImageError as err:
            return row, None, str(err.path), str(err)
        return row, self.preprocessing.to_tensor(image), None, None


_Batch = tuple[list[int], "torch.Tensor | None", list[tuple[int, str, str]]]


def _collate(items: Sequence[tuple[int, torch.Tensor | None, str | None, str | None]]) -> _Batch:
    rows = [row for row, tensor, _, _ in items if tensor is not None]
    tensors = [tensor for _, tensor, _, _ in items if tensor is not None]
    bad = [(row, path or "", message or "") for row, tensor, path, message in items if tensor is None]
    return rows, (torch.stack(tensors) if tensors else None), bad


def _worker_init(_: int) -> None:
    # Decoding workers should not each spin up a full intra-op thread pool.
    torch.set_num_threads(1)


def _bad_image_error(path: str, message: str) -> BadImageError:
    """Rebuild a BadImageError from its message without appending the hint a second time."""
    err = BadImageError.__new__(BadImageError)
    Exception.__init__(err, message)
    err.path = path
    return err


def _batches(tasks: Sequence[ShardTask]) -> list[list[int]]:
    # Batches never cross a shard boundary, so a shard's batches (and so its logits, bit for bit)
    # do not depend on which other shards are computed in the same call.
    batches: list[list[int]] = []
    for task in tasks:
        start, stop = task.row_range
        batches.extend(list(range(b, min(b + task.batch_size, stop))) for b in range(start, stop, task.batch_size))
    return batches


def _check_same_run(tasks: Sequence[ShardTask]) -> None:
    first = tasks[0]
    for task in tasks[1:]:
        same = (
            task.model is first.model
            and task.dataset is first.dataset
            and task.shift is first.shift
            and (task.key, task.seed, task.device, task.batch_size, task.on_bad_image, task.store_root,
                 task.max_image_pixels)
            == (first.key, first.seed, first.device, first.batch_size, first.on_bad_image, first.store_root,
                first.max_image_pixels)
        )
        if not same:
            raise ValueError("execute_tasks: all tasks must come from one Runner.plan() call")


def execute_task(task: ShardTask, on_progress: Callable[[int], None] | None = None) -> ShardOutcome:
    """Compute one shard and write it atomically to the task's store; module-level so it pickles.

    Example:
        >>> # with Ray: ray.get([ray.remote(execute_task).remote(t) for t in runner.plan(m, d)])
    """
    # Drain the generator so its cleanup (restoring the model's train mode) runs now.
    (outcome,) = list(execute_tasks([task], on_progress))
    return outcome


def execute_tasks(
    tasks: Sequence[ShardTask], on_progress: Callable[[int], None] | None = None
) -> Iterator[ShardOutcome]:
    """Compute several shards of one run with a single DataLoader; yields each shard once written.

    Sharing the loader keeps decoding workers busy across shard boundaries instead of restarting
    them per shard. Each shard is written as soon as its last batch is done, so a crash loses at
    most the shard in progress.
    """
    if not tasks:
        return
    _check_same_run(tasks)
    first = tasks[0]
    if first.on_bad_image not in BAD_IMAGE_POLICIES:
        raise ValueError(f"on_bad_image must be one of {BAD_IMAGE_POLICIES}, got {first.on_bad_image!r}")
    model, dataset, device = first.model, first.dataset, torch.device(first.device)
    store = PredictionStore(first.store_root)
    label_map = np.asarray(first.label_map, dtype=np.int64)
    sample_ids = dataset.manifest["sample_id"].to_numpy()
    dataset_labels = dataset.manifest["label"].to_numpy()
    factor_frame = dataset.manifest[dataset.factor_columns]
    loader = tud.DataLoader(
        _RowImages(dataset, model.preprocessing, first.max_image_pixels),
        batch_sampler=_batches(tasks),
        num_workers=first.num_workers,
        collate_fn=_collate,
        worker_init_fn=_worker_init if first.num_workers > 0 else None,
        pin_memory=device.type == "cuda",
    )
    was_training = model.training
    model.eval().to(device)
    task_iter = iter(tasks)
    task = next(task_iter)
    rows: list[int] = []
    logits_parts: list[np.ndarray] = []
    bad_records: list[dict[str, str]] = []
    started = time.perf_counter()
    try:
        for batch_rows, images, bad in loader:
            for row, path, message in bad:
                if first.on_bad_image == "raise":
                    raise _bad_image_error(path, message)
                bad_records.append({"sample_id": str(sample_ids[row]), "path": path, "reason": message})
            if images is not None:
                ids = [str(s) for s in sample_ids[batch_rows]]
                # Attacks need the true labels as logit indices (the same ones the shard stores).
                labels = torch.from_numpy(label_map[dataset_labels[batch_rows]]) if first.shift.needs_model else None
                logits_parts.append(_forward(model, first.shift, images, ids, first.seed, device, dataset, labels))
                rows.extend(batch_rows)
            if on_progress is not None:
                on_progress(len(batch_rows) + len(bad))
            last_row = max([*batch_rows, *(b[0] for b in bad)])
            if last_row == task.row_range[1] - 1:  # this shard's last batch
                yield _write_shard(
                    store,
                    task,
                    rows,
                    logits_parts,
                    bad_records,
                    sample_ids,
                    dataset_labels,
                    label_map,
                    factor_frame,
                    model.num_classes,
                    time.perf_counter() - started,
                )
                rows, logits_parts, bad_records = [], [], []
                started = time.perf_counter()
                task = next(task_iter, task)
    finally:
        model.train(was_training)


def _forward(
    model: Model,
    shift: Shift,
    images: torch.Tensor,
    ids: list[str],
    seed: int,
    device: torch.device,
    dataset: Dataset,
    labels: torch.Tensor | None = None,
) -> np.ndarray:
    images = images.to(device, non_blocking=True)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    if shift.needs_model:
        # An attack differentiates through the model, so it runs before (outside) inference mode.
        with torch.enable_grad():
            assert labels is not None
            images = shift(images, ids, seed, model=model, labels=labels.to(device)).detach()
    return _logits(model, shift, images, ids, seed, dataset)


# inference_mode only around the forward: execute_tasks is a generator, and a mode held across its
# yields would leak into the caller's code.
@torch.inference_mode()
def _logits(
    model: Model, shift: Shift, images: torch.Tensor, ids: list[str], seed: int, dataset: Dataset
) -> np.ndarray:
    if type(shift) is not Identity and not shift.needs_model:  # skip a no-op clamp pass over every clean batch
        images = shift(images, ids, seed)
    logits = model(images).float()
    if logits.ndim != 2 or logits.shape != (len(ids), model.num_classes):
        raise LabelSpaceError(
            f"model {model.name!r} returned logits of shape {tuple(logits.shape)} for a batch of {len(ids)} "
            f"images, but it declares {model.num_classes} labels; fix its labels=[...] or its head"
        )
    finite = torch.isfinite(logits).all(dim=1)
    if not bool(finite.all()):
        offending = [ids[i] for i in torch.nonzero(~finite).flatten().tolist()]
        raise NonFiniteLogitsError(
            f"model {model.name!r} produced NaN/inf logits on dataset {dataset.name!r} under shift "
            f"{shift.spec()!r} for {len(offending)} sample(s), first: {offending[:5]}. Hint: check the "
            "weights for NaNs (a diverged checkpoint), that inputs are [0,1] pixels (normalisation is "
            "inside the model), and half-precision overflow; compare with device='cpu' in float32."
        )
    return logits.cpu().numpy()


def _write_shard(
    store: PredictionStore,
    task: ShardTask,
    rows: list[int],
    logits_parts: list[np.ndarray],
    bad_records: list[dict[str, str]],
    sample_ids: np.ndarray,
    dataset_labels: np.ndarray,
    label_map: np.ndarray,
    factor_frame: Any,
    num_classes: int,
    seconds: float,
) -> ShardOutcome:
    logits = np.concatenate(logits_parts) if logits_parts else np.zeros((0, num_classes), np.float32)
    path = store.write_shard(
        task.key,
        task.shard_index,
        sample_ids[rows],
        label_map[dataset_labels[rows]],
        logits,
        factor_frame.iloc[rows],
        bad_images=bad_records,
        row_range=task.row_range,
    )
    return ShardOutcome(task.key, task.shard_index, len(rows), list(bad_records), str(path), seconds)


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
    ):
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
        self.shards_computed = 0
        self.shards_reused = 0

    def key(self, model: Model, dataset: Dataset, shift: Shift | None = None, seed: int = 0) -> str:
        """The prediction key this runner would use (no forward pass, nothing written)."""
        shift = _bound(shift or Identity(), model, dataset)
        return prediction_key(model, dataset, shift, seed, dataset_fingerprint=dataset.fingerprint(self.content_index))

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
        key = prediction_key(model, dataset, shift, seed, model_fingerprint=model_fp, dataset_fingerprint=dataset_fp)
        meta = self._ensure_meta(key, model, dataset, shift, seed, model_fp, dataset_fp)
        ranges = shard_ranges(len(dataset), int(meta["shard_size"]))
        tasks = [
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
            )
            for index in self.store.missing_shards(key, len(ranges))
        ]
        return key, meta, tasks

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
        shift = shift or Identity()
        key, meta, tasks = self._plan(model, dataset, shift, seed, model_fingerprint, dataset_fingerprint)
        if tasks:
            self._execute(tasks, f"{model.name} · {dataset.name} · {shift.spec()}")
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
            },
        )

    def _execute(self, tasks: list[ShardTask], description: str) -> list[ShardOutcome]:
        if is_replaying():  # rebuilding results from stored predictions: a forward pass is a bug, not a fallback
            raise RobustscopeError(
                f"predictions {tasks[0].key} ({description}) are not stored: {len(tasks)} shard(s) missing or "
                "damaged, and rebuilding results runs no forward pass; rerun the evaluation to recompute them"
            )
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        total = sum(t.num_rows for t in tasks)
        with Progress(*columns, console=Console(stderr=True), disable=not self.progress) as bar:
            handle = bar.add_task(description, total=total, rate="")

            def advance(n: int) -> None:
                bar.advance(handle, n)
                speed = bar.tasks[0].speed
                bar.update(handle, rate=f"{speed:,.0f} samples/s" if speed else "")

            callback = advance if self.progress else None
            return list(execute_tasks(tasks, callback))
