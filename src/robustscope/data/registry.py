"""Dataset specs (``folder:``, ``csv:``, ``synth:`` and the benchmark formats) resolved through one registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustscope.data.base import Dataset
from robustscope.data.benchmarks.catalog import BENCHMARKS, Benchmark
from robustscope.registry import Registry, split_scheme

DATASET_SCHEMES: Registry[Dataset] = Registry("dataset")
#: Scheme → how its argument is read: ``"path"`` (a file or folder, looked up under the data root when relative
#: and absent), ``"world"`` (a synthetic world's spec; the root is the render cache) or ``"benchmark"``
#: (``PATH[:…]`` parsed by the benchmark's entry in :data:`~robustscope.data.benchmarks.catalog.BENCHMARKS`).
ARGUMENT_KINDS: dict[str, str] = {}


def register_scheme(name: str, target: str, summary: str, example: str, argument: str = "path") -> None:
    """Register a dataset scheme once: its loader, help line, example and how its argument is read.

    Example (the schemes registered below):
        >>> DATASET_SCHEMES.entry("synth").example, ARGUMENT_KINDS["synth"], ARGUMENT_KINDS["imagenet-r"]
        ('synth:demo:test-pose', 'world', 'benchmark')
    """
    if argument not in ("path", "world", "benchmark"):
        raise ValueError(f"dataset scheme {name!r}: argument must be 'path', 'world' or 'benchmark', not {argument!r}")
    DATASET_SCHEMES.add(name, target, summary=summary, example=example)
    ARGUMENT_KINDS[name] = argument


register_scheme(
    "folder",
    "robustscope.data.folder:load_folder",
    summary="ImageFolder layout: PATH/<class>/<image>",
    example="folder:~/data/imagenet/val",
)
register_scheme(
    "csv",
    "robustscope.data.manifest:load_manifest",
    summary="CSV manifest: filename, label and factor columns (the PUG schema is one)",
    example="csv:~/data/pug_imagenet/labels.csv",
)
register_scheme(
    "synth",
    "robustscope.data.synthetic:load_synth",
    summary="a split of a synthetic world, rendered on first use and cached",
    example="synth:demo:test-pose",
    argument="world",
)
register_scheme(
    "synth-bench",
    "robustscope.data.synthetic:load_synth_bench",
    summary="a world's counterpart of a real benchmark (cue-conflict, imagenet-9, context, ood-shapes, ood-textures)",
    example="synth-bench:demo:cue-conflict",
    argument="world",
)
register_scheme(
    "synth-pairs",
    "robustscope.data.synthetic:load_synth_pairs",
    summary="a world split's instances under several yaw offsets (pose pairs with a known rotation), cached",
    example="synth-pairs:demo:pose-instances-test:0,30",
    argument="world",
)
register_scheme(
    "synth-urbancars",
    "robustscope.data.benchmarks.urbancars:load_synth_urbancars",
    summary="a world's UrbanCars (object, background, co-occurring object; train correlated 0.95), cached",
    example="synth-urbancars:demo:test",
    argument="world",
)


def register_benchmark(benchmark: Benchmark) -> None:
    """Add a benchmark outside the built-in table (a plug-in): its scheme, spec values and data-root folders.

    The built-in ones are registered in :mod:`robustscope.data.benchmarks.catalog`; both end up in the same
    places, so ``scheme:PATH``, ``scheme:`` with a data root, and ``robustscope list datasets`` all see it.

    Example (the built-in ones, registered the same way):
        >>> DATASET_SCHEMES.entry("imagenet-r").target == BENCHMARKS["imagenet-r"].loader
        True
    """
    if benchmark.scheme in DATASET_SCHEMES:  # checked first, so a clash leaves both tables as they were
        raise ValueError(f"dataset scheme {benchmark.scheme!r} is already registered")
    BENCHMARKS.add(benchmark)
    _register_benchmark_scheme(benchmark)


def _register_benchmark_scheme(benchmark: Benchmark) -> None:
    register_scheme(benchmark.scheme, benchmark.loader, benchmark.summary, benchmark.example, "benchmark")


# The robustness benchmarks, read from their released layouts: each is registered once, in the benchmark table.
# PATH may be left empty ("imagenet-r:") to look the benchmark up under the data root.
for _benchmark in BENCHMARKS:
    _register_benchmark_scheme(_benchmark)


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
    kind = ARGUMENT_KINDS[scheme]
    if kind == "benchmark":
        from robustscope.data.benchmarks import load_benchmark

        return load_benchmark(scheme, argument, root=root, **options)
    loader = DATASET_SCHEMES.get(scheme)
    if kind == "world":
        return loader(argument, root=root, **options)
    path = Path(argument).expanduser()
    if root is not None and not path.is_absolute() and not path.exists():
        path = Path(root).expanduser() / path
    return loader(path, **options)
