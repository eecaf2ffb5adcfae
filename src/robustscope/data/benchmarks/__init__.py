"""Loaders for the real on-disk formats of the robustness benchmarks.

One module per family: :mod:`~robustscope.data.benchmarks.imagenet` (ImageNet val, -V2, -Sketch, -R, -A),
:mod:`~robustscope.data.benchmarks.cue_conflict` (Geirhos et al.), :mod:`~robustscope.data.benchmarks.imagenet9`
(backgrounds challenge), :mod:`~robustscope.data.benchmarks.focus` (FOCUS),
:mod:`~robustscope.data.benchmarks.corruptions` (ImageNet-C, -3DCC), :mod:`~robustscope.data.benchmarks.ood`
(OOD image folders) and more; :mod:`~robustscope.data.benchmarks.catalog` registers each one once (scheme, loader,
spec values, folders) and :mod:`~robustscope.data.benchmarks.roots` finds it under ``--data-root``.

Every loader returns a :class:`~robustscope.data.base.Dataset` whose ``metadata["benchmark"]`` names it; the
ones scored through ImageNet label sets also carry ``label_sets`` and ``set_reduction`` (the mappings are
data files in ``robustscope/data/label_sets/``), and OOD folders carry ``ood: True``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import split_argument
from robustscope.data.benchmarks.catalog import BENCHMARKS
from robustscope.errors import SpecError


def load_benchmark(scheme: str, argument: str, root: str | Path | None = None, **options: Any) -> Dataset:
    """Load ``scheme:PATH[:…]``; an empty PATH is looked up under ``root``, a relative one too if absent.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/imagenet-c/fog/2/n01440764")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/imagenet-c/fog/2/n01440764/x.JPEG")
        >>> ds = load_benchmark("imagenet-c", ":fog:2", root=root)
        >>> ds.manifest["severity"].tolist(), ds.root == Path(root) / "imagenet-c"
        ([2], True)
    """
    if scheme not in BENCHMARKS:
        raise SpecError(f"{scheme!r} is not a benchmark scheme; known: {sorted(BENCHMARKS.schemes())}")
    benchmark = BENCHMARKS[scheme]
    path_text, extras = split_argument(argument, len(benchmark.extras))
    if not path_text:
        # A scheme with no folders of its own (ood-folder: which OOD set?) cannot be looked up by its name.
        if root is None or not benchmark.folders:
            raise SpecError(
                f"{scheme}: no path given; write {scheme}:PATH"
                + (" or pass a data root (--data-root) to look it up" if benchmark.folders else "")
            )
        from robustscope.data.benchmarks.roots import find_benchmark

        path = find_benchmark(scheme, root)
    else:
        path = Path(path_text).expanduser()
        if root is not None and not path.is_absolute() and not path.exists():
            path = Path(root).expanduser() / path
    module_name, _, attribute = benchmark.loader.partition(":")
    loader = getattr(importlib.import_module(module_name), attribute)
    values = {name: value for name, value in zip(benchmark.extras, extras, strict=False) if value != ""}
    return loader(path, **values, **options)


__all__ = ["BENCHMARKS", "load_benchmark"]
