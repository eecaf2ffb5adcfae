"""``synth:WORLD[:SPLIT]`` — a split of a synthetic world, rendered on first use and cached."""

from __future__ import annotations

from pathlib import Path

from robustscope.config import workspace
from robustscope.data.base import Dataset
from robustscope.data.manifest import load_manifest


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
