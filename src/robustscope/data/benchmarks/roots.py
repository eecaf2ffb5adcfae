"""Where each benchmark lives under a data root (``--data-root``), by the folder names its release uses.

:data:`BENCHMARK_FOLDERS` lists, per benchmark, the conventional folders tried in order under the data
root; :func:`find_benchmark` returns the first that exists or raises :class:`MissingDataError` listing
every path tried; :func:`benchmark_status` reports a list of benchmarks without raising, so a suite can
mark the missing ones as skipped with the paths it expected.

Besides each release's own folder name, the folders of the seed benchmark's code are tried (Singh et al., "Is
Synthetic Data all We Need?", CVPRW 2024; ``visinf/benchmarking-synthetic-clones`` at commit
a443db529e728528e4dca181727a7a88a44ace33, whose data root is ``/fastdata/ksingh/robust/``): ``Imagenet-C``
(``corruptions/2dcc.py``), ``background_challenge`` (``background_bias/configs/default.yaml``),
``shape_bias/cue-conflict`` (``shape_bias/configs/default.yaml``), ``calibration/imagenet-r`` and
``calibration/imagenet-a`` (``datasets/load_datasets.py``), ``OOD/iNaturalist``, ``OOD/SUN``, ``OOD/Places`` and
``transfer_datasets/dtd/images`` (``ood_detection/run_eval.py``); ``ILSVRC2012`` and ``ImageNet-3DCC`` were there
already. So ``--data-root`` pointed at a copy of the seed's data tree finds every benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from robustscope.errors import MissingDataError, UnknownNameError
from robustscope.registry import suggest

#: Benchmark name → folders (relative to the data root) tried in order.
BENCHMARK_FOLDERS: dict[str, tuple[str, ...]] = {
    "imagenet-val": ("imagenet/val", "ILSVRC2012/val", "val"),
    "imagenet-v2": ("imagenetv2-matched-frequency-format-val", "imagenet-v2"),
    "imagenet-sketch": ("imagenet-sketch/sketch", "sketch"),
    "imagenet-r": ("imagenet-r", "calibration/imagenet-r"),
    "imagenet-a": ("imagenet-a", "calibration/imagenet-a"),
    "cue-conflict": ("cue-conflict", "texture-shape/cue-conflict", "shape_bias/cue-conflict"),
    "imagenet-9": ("bg_challenge", "imagenet-9", "background_challenge"),
    "focus": ("focus",),
    "urbancars": ("urbancars", "data/urbancars", "UrbanCars"),
    "imagenet-c": ("imagenet-c", "ImageNet-C", "Imagenet-C"),
    "imagenet-3dcc": ("imagenet-3dcc", "ImageNet-3DCC"),
    "inaturalist": ("ood/iNaturalist", "iNaturalist", "OOD/iNaturalist"),
    "sun": ("ood/SUN", "SUN", "OOD/SUN"),
    "places": ("ood/Places", "Places", "OOD/Places"),
    "textures": ("ood/dtd/images", "dtd/images", "Textures", "transfer_datasets/dtd/images"),
    "dollar-street": ("dollar-street/dataset_dollarstreet", "dataset_dollarstreet", "dollar-street", "dollarstreet"),
    "geode": ("geode",),
    "pug-animals": ("PUG_Animal", "PUG_Animals", "pug_animals", "pug-animals"),
    "pug-imagenet": ("PUG_ImageNet", "pug_imagenet", "pug-imagenet"),
    "pug-spar": ("PUG_SPAR", "pug_spar", "pug-spar"),
    "pug-ar4t": ("PUG_AR4T", "pug_ar4t", "pug-ar4t"),
}
#: Benchmark name → the dataset scheme that reads it (``scheme:PATH``).
SCHEME_OF: dict[str, str] = {
    **{name: name for name in BENCHMARK_FOLDERS},
    **{name: "ood-folder" for name in ("inaturalist", "sun", "places", "textures")},
}


def candidate_paths(name: str, data_root: str | Path) -> list[Path]:
    """The paths tried for benchmark ``name`` under ``data_root``, in order.

    Example:
        >>> [str(p) for p in candidate_paths("imagenet-sketch", "/data")]
        ['/data/imagenet-sketch/sketch', '/data/sketch']
    """
    if name not in BENCHMARK_FOLDERS:
        raise UnknownNameError("benchmark", name, suggest(name, BENCHMARK_FOLDERS), sorted(BENCHMARK_FOLDERS))
    root = Path(data_root).expanduser()
    return [root / folder for folder in BENCHMARK_FOLDERS[name]]


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
    return f"{SCHEME_OF[name]}:{find_benchmark(name, data_root)}"
