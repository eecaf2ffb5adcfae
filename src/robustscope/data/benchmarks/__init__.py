"""Loaders for the real on-disk formats of the robustness benchmarks.

One module per family: :mod:`~robustscope.data.benchmarks.imagenet` (ImageNet val, -V2, -Sketch, -R, -A),
:mod:`~robustscope.data.benchmarks.cue_conflict` (Geirhos et al.), :mod:`~robustscope.data.benchmarks.imagenet9`
(backgrounds challenge), :mod:`~robustscope.data.benchmarks.focus` (FOCUS),
:mod:`~robustscope.data.benchmarks.corruptions` (ImageNet-C, -3DCC), :mod:`~robustscope.data.benchmarks.ood`
(OOD image folders) and :mod:`~robustscope.data.benchmarks.roots` (where each lives under ``--data-root``).

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
from robustscope.errors import SpecError

#: Dataset scheme → (loader, names of the extra ``:``-separated spec values after PATH).
BENCHMARK_LOADERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "imagenet-val": ("robustscope.data.benchmarks.imagenet:load_imagenet_val", ()),
    "imagenet-v2": ("robustscope.data.benchmarks.imagenet:load_imagenet_v2", ()),
    "imagenet-sketch": ("robustscope.data.benchmarks.imagenet:load_imagenet_sketch", ()),
    "imagenet-r": ("robustscope.data.benchmarks.imagenet:load_imagenet_r", ()),
    "imagenet-a": ("robustscope.data.benchmarks.imagenet:load_imagenet_a", ()),
    "cue-conflict": ("robustscope.data.benchmarks.cue_conflict:load_cue_conflict", ()),
    "imagenet-9": ("robustscope.data.benchmarks.imagenet9:load_imagenet9", ("variant",)),
    "focus": ("robustscope.data.benchmarks.focus:load_focus", ()),
    "urbancars": ("robustscope.data.benchmarks.urbancars:load_urbancars", ("split",)),
    "imagenet-c": ("robustscope.data.benchmarks.corruptions:load_imagenet_c", ("corruption", "severity")),
    "imagenet-3dcc": ("robustscope.data.benchmarks.corruptions:load_imagenet_3dcc", ("corruption", "severity")),
    "ood-folder": ("robustscope.data.benchmarks.ood:load_ood_folder", ()),
    "dollar-street": ("robustscope.data.benchmarks.dollar_street:load_dollar_street", ("split",)),
    "geode": ("robustscope.data.benchmarks.geode:load_geode", ("split",)),
    "pug-animals": ("robustscope.data.benchmarks.pug:load_pug_animals", ()),
    "pug-imagenet": ("robustscope.data.benchmarks.pug:load_pug_imagenet", ()),
    "pug-spar": ("robustscope.data.benchmarks.pug:load_pug_spar", ("task", "variant")),
    "pug-ar4t": ("robustscope.data.benchmarks.pug:load_pug_ar4t", ("split",)),
}


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
    if scheme not in BENCHMARK_LOADERS:
        raise SpecError(f"{scheme!r} is not a benchmark scheme; known: {sorted(BENCHMARK_LOADERS)}")
    target, extra_names = BENCHMARK_LOADERS[scheme]
    path_text, extras = split_argument(argument, len(extra_names))
    if not path_text:
        if root is None or scheme == "ood-folder":
            raise SpecError(
                f"{scheme}: no path given; write {scheme}:PATH"
                + ("" if scheme == "ood-folder" else " or pass a data root (--data-root) to look it up")
            )
        from robustscope.data.benchmarks.roots import find_benchmark

        path = find_benchmark(scheme, root)
    else:
        path = Path(path_text).expanduser()
        if root is not None and not path.is_absolute() and not path.exists():
            path = Path(root).expanduser() / path
    module_name, _, attribute = target.partition(":")
    loader = getattr(importlib.import_module(module_name), attribute)
    values = {name: value for name, value in zip(extra_names, extras, strict=False) if value != ""}
    return loader(path, **values, **options)


__all__ = ["BENCHMARK_LOADERS", "load_benchmark"]
