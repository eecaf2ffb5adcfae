"""Shard tasks: the unit of work of the Runner, and the module-level functions that execute them.

Work is cut into :class:`ShardTask` s, plain picklable records that the module-level
:func:`execute_task` turns into one Parquet shard each, so a distributed executor (Ray,
multiprocessing) can run them anywhere that sees the store. :class:`~robustscope.engine.runner.Runner`
plans the shards that are missing and executes them here, in-process.

One call may execute the shards of several shifts (and so several keys) of one model and dataset
(:meth:`~robustscope.engine.runner.Runner.run_many`): :func:`execute_tasks` groups them by row range
(:func:`group_by_rows`), decodes and preprocesses each batch once and applies every shift of the group to
it before the next batch. A shard's batches, and so its logits, are the same bits as in a run of its
shift alone.
"""

from __future__ import annotations

import contextlib
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

__all__ = ["ShardOutcome", "ShardTask", "autocast", "execute_task", "execute_tasks", "group_by_rows"]

#: The autocast dtype of each forward-pass precision (``fp32``: no autocast).
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True, eq=False)
class ShardTask:
    """Everything needed to compute and store one shard, picklable for another process or host.

    Attributes:
        model, dataset, shift, seed: what is evaluated.
        key: the prediction key (see :func:`robustscope.engine.prediction_key`).
        shard_index: which shard; rows ``row_range = (start, stop)`` of the dataset's manifest.
        label_map: dataset label index → model logit index (``-1`` for classes no sample uses).
        batch_size, device, num_workers: how to compute it.
        precision: ``"fp32"``, or ``"fp16"``/``"bf16"`` (the forward pass, attacks' included, under autocast).
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
    precision: str = "fp32"

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


def _batches(task: ShardTask) -> list[list[int]]:
    # Batches never cross a shard boundary, so a shard's batches (and so its logits, bit for bit)
    # do not depend on which other shards, or shifts, are computed in the same call.
    start, stop = task.row_range
    return [list(range(b, min(b + task.batch_size, stop))) for b in range(start, stop, task.batch_size)]


def group_by_rows(tasks: Sequence[ShardTask]) -> list[list[ShardTask]]:
    """Tasks grouped by ``row_range`` (in row order; each group in the tasks' order): one decode per group.

    The tasks of a group are shards of different keys (shifts) over the same rows; an executor may run
    each group anywhere with :func:`execute_tasks`. Keys written with different shard sizes have
    different row ranges, so they land in different groups (still correct, only decoded apart).

    Example:
        >>> from types import SimpleNamespace as T
        >>> tasks = [T(key="a", row_range=(0, 4)), T(key="a", row_range=(4, 6)), T(key="b", row_range=(0, 4))]
        >>> [[t.key for t in group] for group in group_by_rows(tasks)]
        [['a', 'b'], ['a']]
    """
    groups: dict[tuple[int, int], list[ShardTask]] = {}
    for task in tasks:
        groups.setdefault(tuple(task.row_range), []).append(task)
    return [groups[rows] for rows in sorted(groups)]


#: What every task of one execute_tasks call shares (besides the model and dataset objects).
_SHARED_FIELDS = ("device", "batch_size", "on_bad_image", "store_root", "max_image_pixels", "num_workers",
                  "precision", "label_map")  # fmt: skip


def _check_same_run(tasks: Sequence[ShardTask]) -> None:
    first = tasks[0]
    seen: set[tuple[str, int]] = set()
    for task in tasks:
        same = (
            task.model is first.model
            and task.dataset is first.dataset
            and all(getattr(task, name) == getattr(first, name) for name in _SHARED_FIELDS)
        )
        if not same:
            raise ValueError(
                "execute_tasks: all tasks must share one model, dataset and run settings (Runner.plan/run_many)"
            )
        if (task.key, task.shard_index) in seen:
            raise ValueError(f"execute_tasks: shard {task.shard_index} of {task.key} is listed twice")
        seen.add((task.key, task.shard_index))


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """The autocast context of ``precision`` on ``device`` (``fp32``: none, plain float32).

    Example:
        >>> with autocast(torch.device("cpu"), "bf16"):
        ...     torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype
        torch.bfloat16
    """
    if precision not in AUTOCAST_DTYPES:
        raise ValueError(f"precision must be one of {tuple(AUTOCAST_DTYPES)}, got {precision!r}")
    dtype = AUTOCAST_DTYPES[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


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
    """Compute shards of one model and dataset, of one or several shifts, with a single DataLoader.

    Tasks are grouped by row range (:func:`group_by_rows`): each batch of a group is decoded and
    preprocessed once, then every task's shift is applied to its own copy and the model run, so
    decoding is paid once per image whatever the number of shifts. Sharing the loader keeps decoding
    workers busy across shard boundaries instead of restarting them per shard. The shards of a group
    are written as soon as its last batch is done, so a crash loses at most the group in progress;
    ``on_progress`` gets rows × shifts.

    Example:
        >>> # outcomes = list(execute_tasks(runner.plan(model, data, shift_a) + runner.plan(model, data, shift_b)))
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
    groups = group_by_rows(tasks)
    loader = tud.DataLoader(
        RowImages(dataset, model.preprocessing, first.max_image_pixels),
        batch_sampler=[batch for group in groups for batch in _batches(group[0])],
        num_workers=first.num_workers,
        collate_fn=collate,
        worker_init_fn=worker_init if first.num_workers > 0 else None,
        pin_memory=device.type == "cuda",
    )
    # Each module's own mode is restored afterwards, not the top-level flag applied to all: a loaded model's wrapper
    # may be in train mode over a network in eval, and a split's feature wrapper shares the model's layers.
    modes = [(module, module.training) for module in model.modules()]
    model.eval().to(device)
    if device.type == "cuda":  # convolutions run fastest in NHWC on tensor cores
        model.to(memory_format=torch.channels_last)
    batches = iter(loader)
    try:
        for group in groups:
            started = time.perf_counter()
            rows: list[int] = []
            logits_parts: list[list[np.ndarray]] = [[] for _ in group]
            bad_records: list[dict[str, str]] = []
            for batch_rows, images, bad in (next(batches) for _ in _batches(group[0])):
                for row, path, message in bad:
                    if first.on_bad_image == "raise":
                        raise bad_image_error(path, message)
                    bad_records.append({"sample_id": str(sample_ids[row]), "path": path, "reason": message})
                if images is not None:
                    _shift_all(group, model, images, batch_rows, sample_ids, label_map[dataset_labels[batch_rows]],
                               device, logits_parts)  # fmt: skip
                    rows.extend(batch_rows)
                if on_progress is not None:
                    on_progress((len(batch_rows) + len(bad)) * len(group))
            seconds = time.perf_counter() - started
            for task, parts in zip(group, logits_parts, strict=True):
                yield _write_shard(store, task, rows, parts, bad_records, sample_ids, dataset_labels, label_map,
                                   factor_frame, model.num_classes, seconds)  # fmt: skip
    finally:
        for module, mode in modes:
            module.training = mode


def _shift_all(
    group: Sequence[ShardTask],
    model: Model,
    images: torch.Tensor,
    batch_rows: list[int],
    sample_ids: np.ndarray,
    labels: np.ndarray,
    device: torch.device,
    logits_parts: list[list[np.ndarray]],
) -> None:
    """Every task's shift and forward pass on one decoded batch, appended to that task's logits."""
    images = images.to(device, non_blocking=True)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    ids = [str(s) for s in sample_ids[batch_rows]]
    # Attacks need the true labels as logit indices (the same ones the shard stores).
    targets = torch.from_numpy(labels) if any(task.shift.needs_model for task in group) else None
    for index, task in enumerate(group):
        # A shift may work in place (clamp_): every task but the last gets its own copy of the clean batch.
        batch = images if index == len(group) - 1 else images.clone()
        logits = _forward(model, task.shift, batch, ids, task.seed, device, task.dataset, targets, task.precision)
        logits_parts[index].append(logits)


def _forward(
    model: Model,
    shift: Shift,
    images: torch.Tensor,
    ids: list[str],
    seed: int,
    device: torch.device,
    dataset: Dataset,
    labels: torch.Tensor | None = None,
    precision: str = "fp32",
) -> np.ndarray:
    images = images.to(device, non_blocking=True)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    if shift.needs_model:
        # An attack differentiates through the model, so it runs before (outside) inference mode.
        with torch.enable_grad(), autocast(device, precision):
            assert labels is not None
            images = shift(images, ids, seed, model=model, labels=labels.to(device)).detach().float()
    return _logits(model, shift, images, ids, seed, dataset, precision)


# inference_mode only around the forward: execute_tasks is a generator, and a mode held across its
# yields would leak into the caller's code.
@torch.inference_mode()
def _logits(
    model: Model, shift: Shift, images: torch.Tensor, ids: list[str], seed: int, dataset: Dataset,
    precision: str = "fp32",
) -> np.ndarray:
    if type(shift) is not Identity and not shift.needs_model:  # skip a no-op clamp pass over every clean batch
        images = shift(images, ids, seed)  # in float32: corruptions are defined on [0,1] pixels, not half floats
    with autocast(images.device, precision):
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

