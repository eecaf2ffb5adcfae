"""Where each benchmark lives under a data root (``--data-root``), by the folder names its release uses.

The folders are registered with each benchmark in :data:`robustscope.data.benchmarks.catalog.BENCHMARKS` (the
release's own spellings and the seed project's); :data:`BENCHMARK_FOLDERS` and :data:`SCHEME_OF` are views of it.
:func:`find_benchmark` returns the first folder that exists or raises :class:`MissingDataError` listing every path
tried; :func:`benchmark_status` reports a list of benchmarks without raising, so a suite can mark the missing ones
as skipped with the paths it expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from robustscope.data.benchmarks.catalog import BENCHMARKS
from robustscope.errors import MissingDataError, UnknownNameError
from robustscope.registry import suggest


def __getattr__(name: str) -> dict:
    # BENCHMARK_FOLDERS and SCHEME_OF are views of BENCHMARKS computed on access, so a benchmark registered
    # after import (a plug-in, a test) is found like a built-in one.
    if name == "BENCHMARK_FOLDERS":  # benchmark name → folders (relative to the data root) tried in order
        return BENCHMARKS.folders()
    if name == "SCHEME_OF":  # benchmark name → the dataset scheme that reads it (``scheme:PATH``)
        return {found: BENCHMARKS.scheme_of(found) for found in BENCHMARKS.folders()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def candidate_paths(name: str, data_root: str | Path) -> list[Path]:
    """The paths tried for benchmark ``name`` under ``data_root``, in order.

    Example:
        >>> [str(p) for p in candidate_paths("imagenet-sketch", "/data")]
        ['/data/imagenet-sketch/sketch', '/data/sketch']
    """
    folders = BENCHMARKS.folders()
    if name not in folders:
        raise UnknownNameError("benchmark", name, suggest(name, folders), sorted(folders))
    root = Path(data_root).expanduser()
    return [root / folder for folder in folders[name]]


def find_benchmark(name: str, data_root: str | Path) -> Path:
    """The folder of benchmark ``name`` under ``data_root``; :class:`MissingDataError` lists every path tried.

    Example:
        >>> import tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/texture-shape/cue-conflict")
        >>> find_benchmark("cue-conflict", root).relative_to(root).as_posix()
        'texture-shape/cue-conflict'
        >>> try:
        ...     find_benchmark("focus", "/nowhere")
        ... except MissingDataError as err:
        ...     print(err)
        benchmark 'focus' not found under /nowhere; tried: /nowhere/focus
    """
    tried = candidate_paths(name, data_root)
    for path in tried:
        if path.is_dir():
            return path
    raise MissingDataError(
        f"benchmark {name!r} not found under {Path(data_root).expanduser()}; tried: {', '.join(str(p) for p in tried)}"
    )


def benchmark_status(names: Iterable[str], data_root: str | Path) -> list[tuple[str, Path | None, str]]:
    """For each benchmark: ``(name, folder or None, message)``; never raises for missing data.

    Example:
        >>> import tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/imagenet-r")
        >>> for name, path, message in benchmark_status(["imagenet-r", "imagenet-a"], root):
        ...     print(name, path is not None, message.split(";")[0].replace(root, "ROOT"))
        imagenet-r True found at ROOT/imagenet-r
        imagenet-a False benchmark 'imagenet-a' not found under ROOT
    """
    status: list[tuple[str, Path | None, str]] = []
    for name in names:
        try:
            path = find_benchmark(name, data_root)
        except MissingDataError as err:
            status.append((name, None, str(err)))
        else:
            status.append((name, path, f"found at {path}"))
    return status


def benchmark_spec(name: str, data_root: str | Path) -> str:
    """The dataset spec that reads benchmark ``name`` from its folder under ``data_root``.

    Example:
        >>> import tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/ood/SUN")
        >>> benchmark_spec("sun", root).replace(root, "ROOT")
        'ood-folder:ROOT/ood/SUN'
    """
    return f"{BENCHMARKS.scheme_of(name)}:{find_benchmark(name, data_root)}"
