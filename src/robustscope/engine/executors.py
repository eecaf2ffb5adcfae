"""Executors: who computes the shard tasks a :class:`~robustscope.engine.runner.Runner` plans.

- :class:`SerialExecutor` (the default): this process, one DataLoader over the tasks
  (:func:`~robustscope.engine.shard_tasks.execute_tasks`).
- :class:`RayExecutor`: Ray tasks on a local Ray (the machine's cores) or a cluster (``address="auto"`` or
  ``"HOST:PORT"``). Tasks are grouped by row range (:func:`group_by_rows`), one Ray task per group; workers
  load each model once (:mod:`robustscope.engine.ray_worker`) and write shards into the shared store
  in place, so the driver only collects small outcomes. A worker that dies is retried by Ray
  (``max_retries``); a driver that dies resumes like any run, from the store's missing shards.

Example:
    >>> make_executor("serial").name
    'serial'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from robustscope.engine import shard_tasks
from robustscope.engine.shard_tasks import ShardOutcome, ShardTask
from robustscope.errors import MissingDependencyError, OptionError, RobustscopeError

__all__ = [
    "EXECUTORS", "Executor", "ExecutorError", "RayExecutor", "SerialExecutor", "group_by_rows", "make_executor",
    "resolve_executor",
]

#: The names ``--executor`` accepts.
EXECUTORS = ("serial", "ray")


class Executor(Protocol):
    """Runs shard tasks (writing their shards) and returns what each produced; ``on_progress(rows)`` as rows finish."""

    name: str

    def execute(
        self, tasks: Sequence[ShardTask], on_progress: Callable[[int], None] | None = None
    ) -> list[ShardOutcome]: ...


class SerialExecutor:
    """In this process, one DataLoader over all the tasks: today's behaviour and the default.

    Example:
        >>> SerialExecutor().execute([])
        []
    """

    name = "serial"

    def execute(
        self, tasks: Sequence[ShardTask], on_progress: Callable[[int], None] | None = None
    ) -> list[ShardOutcome]:
        """Compute every task here, in order; see :func:`~robustscope.engine.shard_tasks.execute_tasks`."""
        return list(shard_tasks.execute_tasks(tasks, on_progress))


def group_by_rows(tasks: Sequence[ShardTask]) -> list[list[ShardTask]]:
    """Tasks over the same rows of the same dataset, together (one decode serves them all), in first-seen order.

    Example:
        >>> from types import SimpleNamespace as T
        >>> tasks = [T(dataset=1, row_range=(0, 8), key="a"), T(dataset=1, row_range=(8, 16), key="a"),
        ...          T(dataset=1, row_range=(0, 8), key="b")]
        >>> [[t.key for t in group] for group in group_by_rows(tasks)]
        [['a', 'b'], ['a']]
    """
    shared = getattr(shard_tasks, "group_by_rows", None)  # the engine's own grouping, where it has one
    if shared is not None:
        return [list(group) for group in shared(tasks)]
    groups: dict[tuple[int, tuple[int, int]], list[ShardTask]] = {}
    for task in tasks:
        groups.setdefault((id(task.dataset), tuple(task.row_range)), []).append(task)
    return list(groups.values())


def _loadable_spec(model: Any) -> str | None:
    """``file:ABSOLUTE_PATH`` when the model names a weights file that exists here (workers reload it), else None."""
    name = str(getattr(model, "name", ""))
    if not name.startswith("file:"):
        return None
    path = Path(name[len("file:") :]).expanduser()
    return f"file:{path.resolve()}" if path.exists() else None


class RayExecutor:
    """Shard tasks as Ray tasks, on a local Ray (started on first use) or an existing cluster.

    Args:
        address: ``None`` starts a local Ray with ``num_cpus`` (default: this machine's cores) unless one is
            already initialised in this process; ``"auto"`` joins the cluster started with ``ray start``
            on this machine; ``"HOST:PORT"`` joins a remote head.
        num_cpus: cores of the local Ray (only when this executor starts it).
        num_gpus_per_task: GPUs each Ray task asks for; default: 1 when the tasks' device is CUDA and the
            cluster has GPUs, else 0.
        max_retries: how often Ray reruns a task whose worker died (the rerun skips shards already written).
        runtime_env: passed to ``ray.init`` (e.g. ``{"env_vars": {"PYTHONPATH": ...}}`` so workers import
            the module a custom model class lives in).

    Every node must see the store's folder at the same path (a shared filesystem).

    Example:
        >>> RayExecutor(address="auto").address
        'auto'
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        num_gpus_per_task: float | None = None,
        max_retries: int = 3,
        runtime_env: dict[str, Any] | None = None,
    ):
        if address is not None and address != "auto" and ":" not in address:
            raise OptionError(f"ray address {address!r} must be 'auto' or HOST:PORT (e.g. 10.0.0.5:6379)")
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus_per_task = num_gpus_per_task
        self.max_retries = max_retries
        self.runtime_env = runtime_env
        self.started_ray = False
        # Object-store references, put once per model (by fingerprint) and dataset (by object; the object is kept
        # beside its reference so its id() cannot be reused by another), the last few only.
        self._models: dict[str, Any] = {}
        self._datasets: dict[int, tuple[Any, Any]] = {}
        self._remotes: dict[float, Any] = {}

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError:
            raise MissingDependencyError(
                "the ray executor needs Ray: pip install 'robustscope[ray]' (or use --executor serial)"
            ) from None
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.runtime_env is not None:
                options["runtime_env"] = self.runtime_env
            if self.address is None:
                options["num_cpus"] = self.num_cpus or os.cpu_count() or 1
            else:
                options["address"] = self.address
            ray.init(**options)
            self.started_ray = True
        return ray

    def shutdown(self) -> None:
        """Stop the local Ray this executor started (a joined cluster keeps running).

        Example:
            >>> RayExecutor().shutdown()  # nothing started: nothing to stop
        """
        if self.started_ray:
            import ray

            ray.shutdown()
            self.started_ray = False
        self._models.clear()
        self._datasets.clear()
        self._remotes.clear()

    def _handles(self, ray: Any, task: ShardTask, fingerprints: dict[int, str]) -> tuple[Any, Any]:
        from robustscope.engine.ray_worker import DatasetHandle, ModelHandle

        model, dataset = task.model, task.dataset
        # Hashed once per execute() call, never cached across calls: weights may change between runs (training).
        if id(model) not in fingerprints:
            fingerprints[id(model)] = model.fingerprint()
        fingerprint = fingerprints[id(model)]
        if fingerprint not in self._models:
            # Put once per model: workers that cannot load it from its file fetch this copy (once each).
            self._models[fingerprint] = ModelHandle(fingerprint, _loadable_spec(model), [ray.put(model)])
            _forget_oldest(self._models)
        if id(dataset) not in self._datasets or self._datasets[id(dataset)][0] is not dataset:
            ref = ray.put(dataset)
            self._datasets[id(dataset)] = (dataset, DatasetHandle(ref.hex(), [ref]))
            _forget_oldest(self._datasets)
        return self._models[fingerprint], self._datasets[id(dataset)][1]

    def _gpus(self, ray: Any, tasks: Sequence[ShardTask]) -> float:
        if self.num_gpus_per_task is not None:
            return float(self.num_gpus_per_task)
        wants_cuda = any(str(t.device).startswith("cuda") for t in tasks)
        return 1.0 if wants_cuda and ray.cluster_resources().get("GPU", 0) > 0 else 0.0

    def execute(
        self, tasks: Sequence[ShardTask], on_progress: Callable[[int], None] | None = None
    ) -> list[ShardOutcome]:
        """Run each row group as a Ray task; advance ``on_progress`` by a group's rows when it finishes.

        A task's error (a bad image, NaN logits) is raised here as itself, after the other groups are cancelled.
        """
        if not tasks:
            return []
        ray = self._ray()
        from robustscope.engine.ray_worker import run_group, strip_task

        gpus = self._gpus(ray, tasks)
        if gpus not in self._remotes:  # made once: Ray exports a remote function's code to the cluster
            # max_calls=0: keep worker processes (and the models they loaded) for the next group, GPU tasks included.
            self._remotes[gpus] = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=self.max_retries,
                                             max_calls=0)(run_group)  # fmt: skip
        remote = self._remotes[gpus]
        pending: dict[Any, int] = {}
        fingerprints: dict[int, str] = {}
        for group in group_by_rows(tasks):
            handles = [self._handles(ray, task, fingerprints) for task in group]
            ref = remote.remote(
                [strip_task(task) for task in group], [h[0] for h in handles], [h[1] for h in handles], gpus > 0
            )
            pending[ref] = sum(task.num_rows for task in group)
        outcomes: list[ShardOutcome] = []
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    rows = pending.pop(ref)
                    outcomes.extend(_result(ray, ref, rows))
                    if on_progress is not None:
                        on_progress(rows)
        finally:
            for ref in pending:  # an error or Ctrl-C: stop the rest (what is written stays, for the resume)
                ray.cancel(ref, force=False)
        return sorted(outcomes, key=lambda o: (o.key, o.shard_index))


def _forget_oldest(cache: dict[Any, Any], keep: int = 4) -> None:
    """Drop the oldest entries (dicts keep insertion order): a sweep visits many models, one after the other."""
    while len(cache) > keep:
        del cache[next(iter(cache))]


class ExecutorError(RobustscopeError):
    """Ray could not run a group of shards (its worker died more often than ``max_retries``, the cluster went away)."""


def _result(ray: Any, ref: Any, rows: int) -> list[ShardOutcome]:
    """``ray.get(ref)``, raising a task's own exception (a :class:`RobustscopeError` the CLI can print) as itself."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise
    except ray.exceptions.RayError as err:  # a worker or node lost for good: one line, and how to go on
        reason = " ".join(str(err).split())[:300]
        raise ExecutorError(
            f"Ray lost a group of {rows} rows ({type(err).__name__}: {reason}); shards already written are kept: "
            "rerun the same command to compute only the missing ones (or use --executor serial)"
        ) from None


def make_executor(name: str = "serial", address: str | None = None, num_cpus: int | None = None) -> Executor:
    """The executor ``--executor NAME`` (``--ray-address ADDRESS``) names.

    Example:
        >>> make_executor("ray", "auto").address
        'auto'
        >>> make_executor("dask")
        Traceback (most recent call last):
        ...
        robustscope.errors.OptionError: executor 'dask' is not one of serial, ray; pass --executor serial or ray
    """
    if name == "serial":
        if address is not None:
            raise OptionError("--ray-address needs --executor ray (executor='ray')")
        return SerialExecutor()
    if name == "ray":
        return RayExecutor(address=address, num_cpus=num_cpus)
    raise OptionError(f"executor {name!r} is not one of {', '.join(EXECUTORS)}; pass --executor serial or ray")


def resolve_executor(executor: str | Executor | None = "serial", ray_address: str | None = None) -> Executor:
    """The API's ``executor=`` (a name or an executor object) and ``ray_address=``, as an executor.

    Example:
        >>> resolve_executor(None).name, resolve_executor("ray", "auto").name
        ('serial', 'ray')
        >>> ray = RayExecutor()
        >>> resolve_executor(ray) is ray
        True
    """
    if executor is None or isinstance(executor, str):
        return make_executor(executor or "serial", ray_address)
    if ray_address is not None:
        raise OptionError("ray_address= goes with executor='ray', not with an executor object (give it the address)")
    return executor
