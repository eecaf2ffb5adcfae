"""``synth:WORLD[:SPLIT]`` — a split of a synthetic world, rendered on first use and cached."""

from __future__ import annotations

from pathlib import Path

from robustscope.config import workspace
from robustscope.data.base import Dataset
from robustscope.data.manifest import load_manifest
from robustscope.errors import SpecError


def parse_synth_spec(spec: str) -> tuple[str, str | None]:
    """Split ``WORLD[:SPLIT]`` into the world (a built-in name or a YAML path) and the split.

    Example:
        >>> parse_synth_spec("demo:test-pose")
        ('demo', 'test-pose')
        >>> parse_synth_spec("worlds/mine.yaml")
        ('worlds/mine.yaml', None)
    """
    world, sep, split = spec.rpartition(":")
    if not sep:
        return spec, None
    return world, split or None


def load_synth(spec: str, root: str | Path | None = None, workers: int | None = None, progress: bool = True) -> Dataset:
    """Render (or reuse) one split of a world and read its ``labels.csv`` (the PUG schema).

    Args:
        spec: ``WORLD[:SPLIT]`` — a built-in world (``robustscope list worlds``) or a YAML file.
        root: render cache folder (default: the workspace's ``renders/``).
        workers: rendering processes (default: all cores).

    Example:
        >>> ds = load_synth("tiny:test-id", progress=False)  # doctest: +SKIP
        >>> ds.factor_columns[:3]  # doctest: +SKIP
        ['world_name', 'character_rotation_yaw', 'character_rotation_roll']
    """
    from robustscope.synth import ensure_rendered, load_spec

    world_name, split = parse_synth_spec(spec)
    world = load_spec(world_name)
    cache_root = Path(root) if root is not None else workspace().renders
    folder = ensure_rendered(world, split, cache_root, workers=workers, progress=progress)
    return load_manifest(folder / "labels.csv", classes=list(world.classes), name=f"synth:{spec}")


def identity_label_sets(classes: list[str]) -> dict[str, list[str]]:
    """Each class counts as itself: the label sets of a synthetic benchmark scored by a world's models.

    Example:
        >>> identity_label_sets(["cube", "cone"])
        {'cube': ['cube'], 'cone': ['cone']}
    """
    return {name: [name] for name in classes}


def load_synth_bench(
    spec: str, root: str | Path | None = None, workers: int | None = None, progress: bool = True
) -> Dataset:
    """``synth-bench:WORLD:BENCHMARK`` — a world's counterpart of a real benchmark, read by the real loader.

    ``BENCHMARK`` is one of :data:`robustscope.synth.benchmarks.SYNTHETIC_BENCHMARKS`: ``cue-conflict``
    (read by the ``cue-conflict:`` loader), ``imagenet-9`` (``imagenet-9:``), ``context`` (a PUG-schema
    CSV with FOCUS-style attributes and ``n_uncommon``), ``ood-shapes`` and ``ood-textures``
    (out-of-distribution sets). Classes are the world's, scored as themselves.

    Example:
        >>> ds = load_synth_bench("tiny:cue-conflict", progress=False)  # doctest: +SKIP
        >>> ds.factor_columns  # doctest: +SKIP
        ['shape', 'texture', 'shape_texture_agree']
    """
    from robustscope.data.benchmarks.cue_conflict import load_cue_conflict
    from robustscope.data.benchmarks.imagenet9 import load_imagenet9
    from robustscope.data.benchmarks.ood import load_ood_folder
    from robustscope.synth import load_spec
    from robustscope.synth.benchmarks import build_synthetic_benchmark

    world_name, benchmark = parse_synth_spec(spec)
    if benchmark is None:
        raise SpecError(f"synth-bench:{spec}: name a benchmark, e.g. synth-bench:{spec}:cue-conflict")
    world = load_spec(world_name)
    cache_root = Path(root) if root is not None else workspace().renders
    folder = build_synthetic_benchmark(world, benchmark, cache_root, workers=workers, progress=progress)
    sets = identity_label_sets(list(world.classes))
    name = f"synth-bench:{spec}"
    if benchmark == "cue-conflict":
        data = load_cue_conflict(folder, label_sets=sets)
    elif benchmark == "imagenet-9":
        data = load_imagenet9(folder, label_sets=sets)
    elif benchmark == "ood-textures":
        data = load_ood_folder(folder, name="ood-textures")
    else:
        data = load_manifest(folder / "labels.csv", name=name)
        if benchmark == "ood-shapes":
            data.metadata["ood"] = True
    data.name = name
    data.metadata["benchmark"] = f"synthetic {benchmark}"
    return data


def load_synth_pairs(
    spec: str, root: str | Path | None = None, workers: int | None = None, progress: bool = True
) -> Dataset:
    """``synth-pairs:WORLD:SPLIT:OFFSETS`` — a split's instances under each yaw offset (degrees, ``0,30,90``).

    The same object instances rendered once per offset (:func:`robustscope.synth.pairs.render_pose_pairs`; every
    pose of an instance shares its sampler seed, so images differ by the rotation alone). Factors include
    ``instance`` and ``pose_offset``: images with one ``instance`` are positive pairs (the representation axis's
    alignment).

    Example:
        >>> ds = load_synth_pairs("tiny:test-id:0,90", progress=False)  # doctest: +SKIP
        >>> sorted(set(ds.manifest.pose_offset))  # doctest: +SKIP
        [0.0, 90.0]
    """
    from robustscope.synth import load_spec
    from robustscope.synth.pairs import render_pose_pairs

    world_name, split, offsets = _pairs_parts(spec)
    world = load_spec(world_name)
    cache_root = Path(root) if root is not None else workspace().renders
    folder = render_pose_pairs(world, split, offsets, cache_root, workers=workers, progress=progress)
    return load_manifest(folder / "labels.csv", classes=list(world.classes), name=f"synth-pairs:{spec}")


def _pairs_parts(spec: str) -> tuple[str, str, list[float]]:
    """``WORLD:SPLIT:OFFSETS`` → (world, split, offsets).

    Example:
        >>> _pairs_parts("demo:pose-instances-test:0,30")
        ('demo', 'pose-instances-test', [0.0, 30.0])
    """
    head, _, offsets = spec.rpartition(":")
    world, _, split = head.rpartition(":")
    try:
        values = [float(v) for v in offsets.split(",") if v.strip()]
    except ValueError:
        values = []
    if not world or not split or not values:
        raise SpecError(f"synth-pairs:{spec}: expected WORLD:SPLIT:OFFSETS, e.g. synth-pairs:demo:test-id:0,30,90")
    return world, split, values
