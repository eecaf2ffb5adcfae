"""Pose pairs: the same instances under known rotations, offset 0 pixel-identical to the split's own render."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from robustscope.errors import SpecError
from robustscope.synth import ensure_rendered, load_spec
from robustscope.synth.pairs import pose_records, render_pose_pairs


def test_records_change_only_the_rotated_factor() -> None:
    spec = load_spec("tiny").resolve("test-id")
    records = pose_records(spec, [0, 30, -60], factor="pitch")
    base = spec.samples()
    assert len(records) == 3 * len(base)
    for record in records:
        own = base[record["instance"]]
        assert record["pitch"] == pytest.approx(own["pitch"] + record["pose_offset"])
        changed = {k for k in own if own[k] != record[k]} - {"index"}
        assert changed <= {"pitch"}
    with pytest.raises(SpecError, match="rotate one of"):
        pose_records(spec, [0, 10], factor="scale")


def test_offset_zero_is_the_splits_own_image(tmp_path: Path) -> None:
    pairs = render_pose_pairs("tiny", "test-id", [0, 90], tmp_path, workers=1, progress=False)
    split = ensure_rendered("tiny", "test-id", tmp_path, workers=1, progress=False)
    labels = pd.read_csv(pairs / "labels.csv")
    own = pd.read_csv(split / "labels.csv")
    zero = labels[labels.pose_offset == 0].reset_index(drop=True)
    turned = labels[labels.pose_offset == 90].reset_index(drop=True)
    for i in range(len(own)):
        a = np.asarray(Image.open(pairs / zero.filename[i]))
        b = np.asarray(Image.open(split / own.filename[i]))
        assert np.array_equal(a, b), f"instance {i}: offset 0 differs from the split's render"
        assert turned.character_rotation_yaw[i] == pytest.approx(own.character_rotation_yaw[i] + 90)
    assert render_pose_pairs("tiny", "test-id", [0, 90], tmp_path) == pairs  # cached: no render
