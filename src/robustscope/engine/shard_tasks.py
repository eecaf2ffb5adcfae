"""Shard tasks: the unit of work of the Runner, and the module-level functions that execute them.

Work is cut into :class:`ShardTask` s, plain picklable records that the module-level
:func:`execute_task` turns into one Parquet shard each, so a distributed executor (Ray,
multiprocessing) can run them anywhere that sees the store. :class:`~robustscope.engine.runner.Runner`
plans the shards that are missing and executes them here, in-process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.utils.data as tud

from robustscope.data.base import Dataset
from robustscope.engine.image_loading import BAD_IMAGE_POLICIES, RowImages, bad_image_error, collate, worker_init
from robustscope.engine.prediction_store import PredictionStore
from robustscope.errors import LabelSpaceError, NonFiniteLogitsError
from robustscope.models.base import Model
from robustscope.shifts.base import Identity, Shift

__all__ = ["ShardOutcome", "ShardTask", "execute_task", "execute_tasks"]


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
        RowImages(dataset, model.preprocessing, first.max_image_pixels),
        batch_sampler=_batches(tasks),
        num_workers=first.num_workers,
        collate_fn=collate,
        worker_init_fn=worker_init if first.num_workers > 0 else None,
        pin_memory=device.type == "cuda",
    )
    # Each module's own mode is restored afterwards, not the top-level flag applied to all: a loaded model's wrapper
    # may be in train mode over a network in eval, and a split's feature wrapper shares the model's layers.
    modes = [(module, module.training) for module in model.modules()]
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
                    raise bad_image_error(path, message)
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
        for module, mode in modes:
            module.training = mode


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

