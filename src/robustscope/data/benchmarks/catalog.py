"""The one table of benchmarks: each released dataset registered once, everything else derived from it.

A :class:`Benchmark` names the dataset scheme (``imagenet-r:PATH``), its loader (imported only when used), the
extra ``:``-separated spec values after ``PATH``, the folders ``--data-root`` tries for it, and the help line and
example that ``robustscope list datasets`` prints. From :data:`BENCHMARKS` come the dataset schemes
(:data:`robustscope.data.registry.DATASET_SCHEMES`), spec parsing (:func:`robustscope.data.benchmarks.load_benchmark`)
and data-root discovery (:mod:`robustscope.data.benchmarks.roots`). Adding a benchmark is a loader module plus
one ``BENCHMARKS.add(...)`` here.

Besides each release's own folder name, the folders of the seed benchmark's code are tried (Singh et al., "Is
Synthetic Data all We Need?", CVPRW 2024; ``visinf/benchmarking-synthetic-clones`` at commit
a443db529e728528e4dca181727a7a88a44ace33, whose data root is ``/fastdata/ksingh/robust/``): ``Imagenet-C``
(``corruptions/2dcc.py``), ``background_challenge`` (``background_bias/configs/default.yaml``),
``shape_bias/cue-conflict`` (``shape_bias/configs/default.yaml``), ``calibration/imagenet-r`` and
``calibration/imagenet-a`` (``datasets/load_datasets.py``), ``OOD/iNaturalist``, ``OOD/SUN``, ``OOD/Places`` and
``transfer_datasets/dtd/images`` (``ood_detection/run_eval.py``); ``ILSVRC2012`` and ``ImageNet-3DCC`` were there
already. So ``--data-root`` pointed at a copy of the seed's data tree finds every benchmark.

This module holds strings only: reading it imports no loader.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from robustscope.errors import UnknownNameError
from robustscope.registry import suggest


@dataclass(frozen=True)
class Benchmark:
    """One benchmark dataset scheme, read from its release's on-disk layout.

    Attributes:
        scheme: the dataset scheme, ``scheme:PATH[:EXTRA…]``.
        loader: ``"module:function"``; called as ``function(path, **extras, **options)``.
        summary: one line of help (the release's layout).
        example: a spec that reads it.
        extras: names of the ``:``-separated values after ``PATH``, passed to the loader as keywords.
        folders: folders under ``--data-root`` tried in order when ``PATH`` is empty (``imagenet-r:``);
            none: ``PATH`` must be given.
        named_sets: other names found under ``--data-root`` and read by this scheme, each with its folders
            (``ood-folder`` reads iNaturalist, SUN, Places and Textures).
    """

    scheme: str
    loader: str
    summary: str
    example: str
    extras: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    named_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def found_as(self) -> dict[str, tuple[str, ...]]:
        """The names ``--data-root`` finds this scheme's data by, each with its folders in order.

        Example:
            >>> BENCHMARKS["imagenet-a"].found_as()
            {'imagenet-a': ('imagenet-a', 'calibration/imagenet-a')}
            >>> list(BENCHMARKS["ood-folder"].found_as())
            ['inaturalist', 'sun', 'places', 'textures']
        """
        own = {self.scheme: self.folders} if self.folders else {}
        return {**own, **self.named_sets}


class BenchmarkTable:
    """Benchmarks by scheme, in registration order; unknown schemes raise with near misses.

    Example:
        >>> table = BenchmarkTable()
        >>> table.add(Benchmark("toy", "m:load_toy", "a toy", "toy:~/toy", folders=("toy",)))
        >>> table["toy"].loader, "toy" in table, table.folders()
        ('m:load_toy', True, {'toy': ('toy',)})
    """

    def __init__(self) -> None:
        self._by_scheme: dict[str, Benchmark] = {}

    def add(self, benchmark: Benchmark) -> None:
        # A name found under --data-root must mean one thing, so it may not repeat across schemes either.
        taken = set(self._by_scheme) | set(self.folders())
        for name in (benchmark.scheme, *benchmark.found_as()):
            if name in taken:
                raise ValueError(f"benchmark {name!r} is already registered")
        self._by_scheme[benchmark.scheme] = benchmark

    def __getitem__(self, scheme: str) -> Benchmark:
        try:
            return self._by_scheme[scheme]
        except KeyError:
            known = list(self._by_scheme)
            raise UnknownNameError("benchmark scheme", scheme, suggest(scheme, known), known) from None

    def __contains__(self, scheme: object) -> bool:
        return scheme in self._by_scheme

    def __iter__(self) -> Iterator[Benchmark]:
        return iter(self._by_scheme.values())

    def __len__(self) -> int:
        return len(self._by_scheme)

    def schemes(self) -> tuple[str, ...]:
        """Every benchmark scheme, in registration order."""
        return tuple(self._by_scheme)

    def folders(self) -> dict[str, tuple[str, ...]]:
        """Name found under ``--data-root`` → folders tried in order (benchmarks and named sets alike)."""
        return {name: folders for b in self for name, folders in b.found_as().items()}

    def scheme_of(self, name: str) -> str:
        """The scheme that reads ``name`` (a scheme, or a named set such as ``sun``).

        Example:
            >>> BENCHMARKS.scheme_of("sun"), BENCHMARKS.scheme_of("imagenet-r")
            ('ood-folder', 'imagenet-r')
        """
        for benchmark in self:
            if name in benchmark.found_as():
                return benchmark.scheme
        names = list(self.folders())
        raise UnknownNameError("benchmark", name, suggest(name, names), sorted(names))


BENCHMARKS = BenchmarkTable()
_M = "robustscope.data.benchmarks."  # the loaders' package, so each line below fits and reads as a table

# ImageNet validation set and its variants (robustscope.data.benchmarks.imagenet).
BENCHMARKS.add(Benchmark(
    "imagenet-val", _M + "imagenet:load_imagenet_val",
    "ImageNet validation set: PATH/<wnid>/*.JPEG", "imagenet-val:~/data/imagenet/val",
    folders=("imagenet/val", "ILSVRC2012/val", "val"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "imagenet-v2", _M + "imagenet:load_imagenet_v2",
    "ImageNet-V2: PATH/<class index 0..999>/<image>", "imagenet-v2:~/data/imagenetv2-matched-frequency-format-val",
    folders=("imagenetv2-matched-frequency-format-val", "imagenet-v2"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "imagenet-sketch", _M + "imagenet:load_imagenet_sketch",
    "ImageNet-Sketch: the release's sketch/<wnid>/*.JPEG", "imagenet-sketch:~/data/imagenet-sketch/sketch",
    folders=("imagenet-sketch/sketch", "sketch"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "imagenet-r", _M + "imagenet:load_imagenet_r",
    "ImageNet-R: PATH/<wnid>/* over 200 wnids, scored on the 200-class mask", "imagenet-r:~/data/imagenet-r",
    folders=("imagenet-r", "calibration/imagenet-r"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "imagenet-a", _M + "imagenet:load_imagenet_a",
    "ImageNet-A: PATH/<wnid>/* over 200 wnids, scored on the 200-class mask", "imagenet-a:~/data/imagenet-a",
    folders=("imagenet-a", "calibration/imagenet-a"),
))  # fmt: skip

# Shape, background and context bias.
BENCHMARKS.add(Benchmark(
    "cue-conflict", _M + "cue_conflict:load_cue_conflict",
    "Geirhos cue-conflict stimuli: PATH/<shape>/<shape><i>-<texture><j>.png, 16 categories",
    "cue-conflict:~/data/cue-conflict",
    folders=("cue-conflict", "texture-shape/cue-conflict", "shape_bias/cue-conflict"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "imagenet-9", _M + "imagenet9:load_imagenet9",
    "ImageNet-9 backgrounds challenge: PATH/<variant>/val/<class>/*; all variants, or PATH:VARIANT",
    "imagenet-9:~/data/bg_challenge:mixed_rand",
    extras=("variant",), folders=("bg_challenge", "imagenet-9", "background_challenge"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "focus", _M + "focus:load_focus",
    "FOCUS: PATH/annotations.db (SQLite) and its images; time, weather, location", "focus:~/data/focus",
    folders=("focus",),
))  # fmt: skip

# Multiple shortcuts.
BENCHMARKS.add(Benchmark(
    "urbancars", _M + "urbancars:load_urbancars",
    "UrbanCars (Whac-A-Mole): PATH/bg-<r>_co_occur_obj-<r>/<split>/obj-<o>_bg-<b>_co_occur_obj-<c>/*.jpg",
    "urbancars:~/data/urbancars:test",
    extras=("split",), folders=("urbancars", "data/urbancars", "UrbanCars"),
))  # fmt: skip

# Common corruptions, read from the released folders.
BENCHMARKS.add(Benchmark(
    "imagenet-c", _M + "corruptions:load_imagenet_c",
    "ImageNet-C: PATH/<corruption>/<severity>/<wnid>/*.JPEG; PATH[:CORRUPTION[:SEVERITY]]",
    "imagenet-c:~/data/imagenet-c:gaussian_noise:3",
    extras=("corruption", "severity"), folders=("imagenet-c", "ImageNet-C", "Imagenet-C"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "imagenet-3dcc", _M + "corruptions:load_imagenet_3dcc",
    "ImageNet-3DCC: PATH/<corruption>/<severity>/<wnid>/*.JPEG; PATH[:CORRUPTION[:SEVERITY]]",
    "imagenet-3dcc:~/data/imagenet-3dcc:near_focus",
    extras=("corruption", "severity"), folders=("imagenet-3dcc", "ImageNet-3DCC"),
))  # fmt: skip

# Out-of-distribution sets: one scheme, four named sets under the data root.
BENCHMARKS.add(Benchmark(
    "ood-folder", _M + "ood:load_ood_folder",
    "an OOD image set (iNaturalist, SUN, Places, Textures): every image under PATH, class 'ood'",
    "ood-folder:~/data/ood/iNaturalist",
    named_sets={
        "inaturalist": ("ood/iNaturalist", "iNaturalist", "OOD/iNaturalist"),
        "sun": ("ood/SUN", "SUN", "OOD/SUN"),
        "places": ("ood/Places", "Places", "OOD/Places"),
        "textures": ("ood/dtd/images", "dtd/images", "Textures", "transfer_datasets/dtd/images"),
    },
))  # fmt: skip

# Geography and income.
BENCHMARKS.add(Benchmark(
    "dollar-street", _M + "dollar_street:load_dollar_street",
    "Dollar Street: PATH/images_v2_imagenet_{test,train}.csv + images; per-image ImageNet index sets",
    "dollar-street:~/data/dataset_dollarstreet:test",
    extras=("split",),
    folders=("dollar-street/dataset_dollarstreet", "dataset_dollarstreet", "dollar-street", "dollarstreet"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "geode", _M + "geode:load_geode",
    "GeoDE: PATH/index.csv (file_path, object, region) + PATH/images; objects mapped to ImageNet sets",
    "geode:~/data/geode",
    extras=("split",), folders=("geode",),
))  # fmt: skip

# PUG (robustscope.data.benchmarks.pug).
BENCHMARKS.add(Benchmark(
    "pug-animals", _M + "pug:load_pug_animals",
    "PUG:Animals: PATH/labels_pug_animal.csv + images; 70 animals, world/size/texture/camera-yaw factors",
    "pug-animals:~/data/PUG_Animal",
    folders=("PUG_Animal", "PUG_Animals", "pug_animals", "pug-animals"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "pug-imagenet", _M + "pug:load_pug_imagenet",
    "PUG:ImageNet: PATH/labels_pug_imagenet.csv + images; 151 classes scored through ImageNet index sets",
    "pug-imagenet:~/data/PUG_ImageNet",
    folders=("PUG_ImageNet", "pug_imagenet", "pug-imagenet"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "pug-spar", _M + "pug:load_pug_spar",
    "PUG:SPAR caption retrieval: PATH/labels.csv + images; PATH[:TASK[:VARIANT]], classes = captions",
    "pug-spar:~/data/PUG_SPAR:double_relation:left",
    extras=("task", "variant"), folders=("PUG_SPAR", "pug_spar", "pug-spar"),
))  # fmt: skip
BENCHMARKS.add(Benchmark(
    "pug-ar4t", _M + "pug:load_pug_ar4t",
    "PUG:AR4T: PATH/PUG_ARmerged_<split>.csv (filepath, Actor1Category, Level) + images",
    "pug-ar4t:~/data/PUG_AR4T:test",
    extras=("split",), folders=("PUG_AR4T", "pug_ar4t", "pug-ar4t"),
))  # fmt: skip

__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkTable"]
