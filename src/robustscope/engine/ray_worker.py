"""The worker side of :class:`~robustscope.engine.executors.RayExecutor`: run one group of shard tasks on a Ray worker.

A Ray task receives shard tasks *stripped* of their model and dataset (:func:`strip_task`) and a small
handle for each (:class:`ModelHandle`, :class:`DatasetHandle`). The worker process keeps what it loaded in
module-level caches, so a model is loaded once per worker process (Ray reuses its worker processes), not once
per shard, and never travels pickled inside each task:

- a model with a loadable weights file (``file:PATH``) is loaded from that file with
  :func:`~robustscope.models.registry.load_model`; any other model (an ``nn.Module`` built in code) is fetched
  once from Ray's object store, where the driver put it once;
- either way its fingerprint must equal the one the driver planned the key with, else
  :class:`ModelMismatchError`: predictions are never computed with a different model.

Shards are written by the worker straight into the shared :class:`~robustscope.engine.prediction_store.PredictionStore`
(atomically); only the small :class:`~robustscope.engine.shard_tasks.ShardOutcome` s go back to the driver.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from robustscope.engine.prediction_store import PredictionStore
from robustscope.engine.shard_tasks import ShardOutcome, ShardTask, execute_tasks
from robustscope.errors import RobustscopeError

__all__ = ["DatasetHandle", "ModelHandle", "ModelMismatchError", "run_group", "strip_task"]

#: Models and datasets a worker process holds, most recent last (a sweep visits many models: keep a few).
_MODELS: OrderedDict[str, Any] = OrderedDict()
_DATASETS: OrderedDict[str, Any] = OrderedDict()
_KEEP = 2


class ModelMismatchError(RobustscopeError):
    """A Ray worker's model does not have the fingerprint the driver planned its predictions with."""


@dataclass(frozen=True)
class ModelHandle:
    """How a worker gets a model: its weights file spec (tried first), else the object the driver put once.

    ``ref`` is a one-element list holding the ``ObjectRef``: Ray resolves top-level references of a task's
    arguments eagerly, and one nested in a list only when the worker asks for it (so a model loadable from
    its file never crosses the network).

    Example:
        >>> ModelHandle("0123abcd", "file:/models/m", [None]).fingerprint
        '0123abcd'
    """

    fingerprint: str
    spec: str | None
    ref: list[Any]


@dataclass(frozen=True)
class DatasetHandle:
    """A dataset the driver put once in Ray's object store, named by ``token`` (unique per put).

    Example:
        >>> DatasetHandle("d1", [None]).token
        'd1'
    """

    token: str
    ref: list[Any]


def strip_task(task: ShardTask) -> ShardTask:
    """``task`` without its model and dataset (the worker puts its cached ones back): what travels per task.

    Example:
        >>> # strip_task(task).model is None
    """
    return replace(task, model=None, dataset=None)  # type: ignore[arg-type]


def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> Any:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _KEEP:
        cache.popitem(last=False)
    return value


def _model(handle: ModelHandle) -> Any:
    """The handle's model from this worker's cache, its weights file, or the object store; fingerprint checked."""
    cached = _MODELS.get(handle.fingerprint)
    if cached is not None:
        _MODELS.move_to_end(handle.fingerprint)
        return cached
    model = None
    if handle.spec is not None:
        from robustscope.models.registry import load_model

        try:
            loaded = load_model(handle.spec)
        except (RobustscopeError, OSError):  # unreadable here: fall back to the driver's copy
            loaded = None
        if loaded is not None and loaded.fingerprint() == handle.fingerprint:
            model = loaded
    if model is None:
        import ray

        model = ray.get(handle.ref[0])
        found = model.fingerprint()
        if found != handle.fingerprint:
            raise ModelMismatchError(
                f"model {model.name!r} on a Ray worker has fingerprint {found}, but its predictions were planned with "
                f"{handle.fingerprint}; run every Ray node with the same robustscope and torch versions"
            )
    return _remember(_MODELS, handle.fingerprint, model)


def _dataset(handle: DatasetHandle) -> Any:
    cached = _DATASETS.get(handle.token)
    if cached is not None:
        return cached
    import ray

    return _remember(_DATASETS, handle.token, ray.get(handle.ref[0]))


def _worker_device(device: str, has_gpu: bool) -> str:
    """Ray shows a GPU task only its own GPU(s), as ``cuda:0``…: the driver's ``cuda:N`` means "a GPU" here.

    Example:
        >>> _worker_device("cuda:3", True), _worker_device("cpu", False)
        ('cuda', 'cpu')
    """
    return "cuda" if has_gpu and device.startswith("cuda") else device


def run_group(
    tasks: list[ShardTask], models: list[ModelHandle], datasets: list[DatasetHandle], has_gpu: bool = False
) -> list[ShardOutcome]:
    """Run one group of stripped tasks (``models[i]``/``datasets[i]`` belong to ``tasks[i]``) on this worker.

    Shards already in the store are skipped: when Ray retries a group whose worker died after writing some of
    its shards (atomically), the retry computes only the rest, and no shard is ever written twice.

    Example:
        >>> run_group([], [], [])
        []
    """
    ready = []
    for task, model_handle, dataset_handle in zip(tasks, models, datasets, strict=True):
        if PredictionStore(task.store_root).has_shard(task.key, task.shard_index):
            continue
        model, dataset = _model(model_handle), _dataset(dataset_handle)
        device = _worker_device(task.device, has_gpu)
        ready.append(replace(task, model=model, dataset=dataset, device=device))
    # One call for the whole group: execute_tasks decodes each row range once for all the group's tasks.
    return list(execute_tasks(ready)) if ready else []
