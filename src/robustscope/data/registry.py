"""Dataset specs (``folder:``, ``csv:``, ``synth:`` and the benchmark formats) resolved through one registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustscope.data.base import Dataset
from robustscope.registry import Registry, split_scheme

DATASET_SCHEMES: Registry[Dataset] = Registry("dataset")
DATASET_SCHEMES.add(
    "folder",
    "robustscope.data.folder:load_folder",
    summary="ImageFolder layout: PATH/<class>/<image>",
    example="folder:~/data/imagenet/val",
)
DATASET_SCHEMES.add(
    "csv",
    "robustscope.data.manifest:load_manifest",
    summary="CSV manifest: filename, label and factor columns (the PUG schema is one)",
    example="csv:~/data/pug_imagenet/labels.csv",
)
DATASET_SCHEMES.add(
    "synth",
    "robustscope.data.synthetic:load_synth",
    summary="a split of a synthetic world, rendered on first use and cached",
    example="synth:demo:test-pose",
)
DATASET_SCHEMES.add(
    "synth-bench",
    "robustscope.data.synthetic:load_synth_bench",
    summary="a world's counterpart of a real benchmark (cue-conflict, imagenet-9, context, ood-shapes, ood-textures)",
    example="synth-bench:demo:cue-conflict",
)


# The robustness benchmarks, read from their released layouts (robustscope.data.benchmarks). PATH may be
# left empty ("imagenet-r:") to look the benchmark up under the data root (robustscope.data.benchmarks.roots).
DATASET_SCHEMES.add(
    "imagenet-val",
    "robustscope.data.benchmarks.imagenet:load_imagenet_val",
    summary="ImageNet validation set: PATH/<wnid>/*.JPEG",
    example="imagenet-val:~/data/imagenet/val",
)
DATASET_SCHEMES.add(
    "imagenet-v2",
    "robustscope.data.benchmarks.imagenet:load_imagenet_v2",
    summary="ImageNet-V2: PATH/<class index 0..999>/<image>",
    example="imagenet-v2:~/data/imagenetv2-matched-frequency-format-val",
)
DATASET_SCHEMES.add(
    "imagenet-sketch",
    "robustscope.data.benchmarks.imagenet:load_imagenet_sketch",
    summary="ImageNet-Sketch: the release's sketch/<wnid>/*.JPEG",
    example="imagenet-sketch:~/data/imagenet-sketch/sketch",
)
DATASET_SCHEMES.add(
    "imagenet-r",
    "robustscope.data.benchmarks.imagenet:load_imagenet_r",
    summary="ImageNet-R: PATH/<wnid>/* over 200 wnids, scored on the 200-class mask",
    example="imagenet-r:~/data/imagenet-r",
)
DATASET_SCHEMES.add(
    "imagenet-a",
    "robustscope.data.benchmarks.imagenet:load_imagenet_a",
    summary="ImageNet-A: PATH/<wnid>/* over 200 wnids, scored on the 200-class mask",
    example="imagenet-a:~/data/imagenet-a",
)
DATASET_SCHEMES.add(
    "cue-conflict",
    "robustscope.data.benchmarks.cue_conflict:load_cue_conflict",
    summary="Geirhos cue-conflict stimuli: PATH/<shape>/<shape><i>-<texture><j>.png, 16 categories",
    example="cue-conflict:~/data/cue-conflict",
)
DATASET_SCHEMES.add(
    "imagenet-9",
    "robustscope.data.benchmarks.imagenet9:load_imagenet9",
    summary="ImageNet-9 backgrounds challenge: PATH/<variant>/val/<class>/*; all variants, or PATH:VARIANT",
    example="imagenet-9:~/data/bg_challenge:mixed_rand",
)
DATASET_SCHEMES.add(
    "focus",
    "robustscope.data.benchmarks.focus:load_focus",
    summary="FOCUS: PATH/annotations.db (SQLite) and its images; time, weather, location",
    example="focus:~/data/focus",
)
DATASET_SCHEMES.add(
    "urbancars",
    "robustscope.data.benchmarks.urbancars:load_urbancars",
    summary="UrbanCars (Whac-A-Mole): PATH/bg-<r>_co_occur_obj-<r>/<split>/obj-<o>_bg-<b>_co_occur_obj-<c>/*.jpg",
    example="urbancars:~/data/urbancars:test",
)
DATASET_SCHEMES.add(
    "synth-urbancars",
    "robustscope.data.benchmarks.urbancars:load_synth_urbancars",
    summary="a world's UrbanCars (object, background, co-occurring object; train correlated 0.95), cached",
    example="synth-urbancars:demo:test",
)
DATASET_SCHEMES.add(
    "imagenet-c",
    "robustscope.data.benchmarks.corruptions:load_imagenet_c",
    summary="ImageNet-C: PATH/<corruption>/<severity>/<wnid>/*.JPEG; PATH[:CORRUPTION[:SEVERITY]]",
    example="imagenet-c:~/data/imagenet-c:gaussian_noise:3",
)
DATASET_SCHEMES.add(
    "imagenet-3dcc",
    "robustscope.data.benchmarks.corruptions:load_imagenet_3dcc",
    summary="ImageNet-3DCC: PATH/<corruption>/<severity>/<wnid>/*.JPEG; PATH[:CORRUPTION[:SEVERITY]]",
    example="imagenet-3dcc:~/data/imagenet-3dcc:near_focus",
)
DATASET_SCHEMES.add(
    "ood-folder",
    "robustscope.data.benchmarks.ood:load_ood_folder",
    summary="an OOD image set (iNaturalist, SUN, Places, Textures): every image under PATH, class 'ood'",
    example="ood-folder:~/data/ood/iNaturalist",
)
DATASET_SCHEMES.add(
    "dollar-street",
    "robustscope.data.benchmarks.dollar_street:load_dollar_street",
    summary="Dollar Street: PATH/images_v2_imagenet_{test,train}.csv + images; per-image ImageNet index sets",
    example="dollar-street:~/data/dataset_dollarstreet:test",
)
DATASET_SCHEMES.add(
    "geode",
    "robustscope.data.benchmarks.geode:load_geode",
    summary="GeoDE: PATH/index.csv (file_path, object, region) + PATH/images; objects mapped to ImageNet sets",
    example="geode:~/data/geode",
)
DATASET_SCHEMES.add(
    "pug-animals",
    "robustscope.data.benchmarks.pug:load_pug_animals",
    summary="PUG:Animals: PATH/labels_pug_animal.csv + images; 70 animals, world/size/texture/camera-yaw factors",
    example="pug-animals:~/data/PUG_Animal",
)
DATASET_SCHEMES.add(
    "pug-imagenet",
    "robustscope.data.benchmarks.pug:load_pug_imagenet",
    summary="PUG:ImageNet: PATH/labels_pug_imagenet.csv + images; 151 classes scored through ImageNet index sets",
    example="pug-imagenet:~/data/PUG_ImageNet",
)
DATASET_SCHEMES.add(
    "pug-spar",
    "robustscope.data.benchmarks.pug:load_pug_spar",
    summary="PUG:SPAR caption retrieval: PATH/labels.csv + images; PATH[:TASK[:VARIANT]], classes = captions",
    example="pug-spar:~/data/PUG_SPAR:double_relation:left",
)
DATASET_SCHEMES.add(
    "pug-ar4t",
    "robustscope.data.benchmarks.pug:load_pug_ar4t",
    summary="PUG:AR4T: PATH/PUG_ARmerged_<split>.csv (filepath, Actor1Category, Level) + images",
    example="pug-ar4t:~/data/PUG_AR4T:test",
)
#: The benchmark schemes: ``scheme:PATH[:…]``, read by :func:`robustscope.data.benchmarks.load_benchmark`.
BENCHMARK_SCHEMES = (
    "imagenet-val",
    "imagenet-v2",
    "imagenet-sketch",
    "imagenet-r",
    "imagenet-a",
    "cue-conflict",
    "imagenet-9",
    "focus",
    "urbancars",
    "imagenet-c",
    "imagenet-3dcc",
    "ood-folder",
    "dollar-street",
    "geode",
    "pug-animals",
    "pug-imagenet",
    "pug-spar",
    "pug-ar4t",
)


def load_dataset(spec: str, root: str | Path | None = None, **options: Any) -> Dataset:
    """Load a dataset from a ``scheme:argument`` spec.

    ``root`` is passed on as the data root: the folder a CSV's files are relative to, or the
    render cache of a synthetic world. A relative ``folder:``/``csv:``/benchmark path is looked up
    under ``root`` when it does not exist as given; an empty benchmark path (``imagenet-r:``) is found
    under ``root`` by the benchmark's conventional folder names (:mod:`robustscope.data.benchmarks.roots`).

    Example:
        >>> load_dataset("foldr:/tmp/x")
        Traceback (most recent call last):
        ...
        robustscope.errors.UnknownNameError: unknown dataset scheme 'foldr:/tmp/x'; did you mean 'folder:/tmp/x', \
'ood-folder:/tmp/x'?
    """
    scheme, argument = split_scheme(spec, "dataset", DATASET_SCHEMES.keys())
    if scheme in BENCHMARK_SCHEMES:
        from robustscope.data.benchmarks import load_benchmark

        return load_benchmark(scheme, argument, root=root, **options)
    loader = DATASET_SCHEMES.get(scheme)
    if scheme in ("synth", "synth-bench", "synth-urbancars"):
        return loader(argument, root=root, **options)
    path = Path(argument).expanduser()
    if root is not None and not path.is_absolute() and not path.exists():
        path = Path(root).expanduser() / path
    return loader(path, **options)
