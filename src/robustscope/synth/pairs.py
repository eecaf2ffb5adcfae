"""The same object instances under several poses: pairs with a known transformation, straight from the renderer.

A split's sample records are its *instances* (class, shape, appearance, background, light, size, position: every
factor but the pose). :func:`pose_records` copies each instance once per pose offset, adding the offset (degrees)
to one rotation factor (``yaw`` by default), so that images ``(instance, 0)`` and ``(instance, t)`` differ by a
rotation of exactly ``t`` degrees about that axis and by nothing else — the pairs the Lie-operator loss needs
(:mod:`robustscope.represent.lie`), and the held-out poses it is evaluated on. :func:`render_pose_pairs` renders
them into a content-addressed folder of the render cache (:func:`~robustscope.synth.records.render_records`), in
the world's layout (``labels.csv`` with ``instance`` and ``pose_offset`` columns).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robustscope.errors import SpecError
from robustscope.synth.records import render_records
from robustscope.synth.spec import WorldSpec, load_spec

__all__ = ["PAIRS_VERSION", "ROTATION_FACTORS", "pose_records", "render_pose_pairs"]

#: Bumped when the records or the folder layout change (part of the cache key).
PAIRS_VERSION = "2"
#: The factors a pose offset may rotate.
ROTATION_FACTORS = ("yaw", "pitch", "roll")


def pose_records(spec: WorldSpec, offsets: Sequence[float], factor: str = "yaw") -> list[dict[str, Any]]:
    """Every instance of the resolved ``spec`` once per offset in ``offsets`` (degrees added to ``factor``).

    Records are instance-major (``index = instance * len(offsets) + j``) and carry ``instance``, ``pose_offset`` and
    ``seed_index`` (the instance's index in the split: its sampler seed); include 0 in ``offsets`` to keep the
    instance's own pose.

    Example:
        >>> spec = WorldSpec.from_dict({"name": "w", "classes": ["cube", "sphere"], "n": 2, "seed": 3})
        >>> rows = pose_records(spec, [0, 90])
        >>> [(r["instance"], r["pose_offset"], r["index"]) for r in rows]
        [(0, 0.0, 0), (0, 90.0, 1), (1, 0.0, 2), (1, 90.0, 3)]
        >>> rows[1]["yaw"] - rows[0]["yaw"], rows[1]["texture"] == rows[0]["texture"]
        (90.0, True)
    """
    if factor not in ROTATION_FACTORS:
        raise SpecError(f"pose pairs rotate one of {list(ROTATION_FACTORS)}, not {factor!r}")
    if not offsets:
        raise SpecError("pose pairs need at least one pose offset (degrees)")
    records = []
    for instance, base in enumerate(spec.samples()):
        for j, offset in enumerate(offsets):
            record = copy.deepcopy(base)
            record[factor] = round(float(base[factor]) + float(offset), 4)
            # seed_index: every pose of an instance shares its sampler seed, so a pair differs by the pose alone
            # (and offset 0 is the split's own image of that instance, pixel for pixel).
            record.update(index=instance * len(offsets) + j, instance=instance, pose_offset=float(offset),
                          seed_index=base["index"])
            records.append(record)
    return records


def render_pose_pairs(
    world: WorldSpec | str,
    split: str | None,
    offsets: Sequence[float],
    cache_root: str | Path,
    *,
    factor: str = "yaw",
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Render (or reuse) ``split``'s instances under each pose offset; return the folder (``labels.csv`` inside).

    Example:
        >>> import tempfile
        >>> folder = render_pose_pairs("tiny", "test-id", [0, 45], tempfile.mkdtemp(), workers=1, progress=False)
        >>> import pandas as pd
        >>> labels = pd.read_csv(folder / "labels.csv")
        >>> len(labels), sorted(set(labels.pose_offset))
        (16, [0.0, 45.0])
    """
    base = load_spec(world) if isinstance(world, (str, Path)) else world
    resolved = base.resolve(split) if (split is not None or base.splits) else base
    records = pose_records(resolved, offsets, factor)
    tag = f"pairs{PAIRS_VERSION}-{factor}"
    return render_records(resolved, records, cache_root, tag, columns=("instance", "pose_offset"), workers=workers,
                          progress=progress)  # fmt: skip
