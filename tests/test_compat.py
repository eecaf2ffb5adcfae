"""The shims that make reference libraries usable in tests and benchmarks."""

from __future__ import annotations

import numpy as np
import pytest


def test_imagecorruptions_runs_every_corruption_after_the_shims() -> None:
    pytest.importorskip("imagecorruptions")
    from robustscope.compat.imagecorruptions import load_imagecorruptions

    ic = load_imagecorruptions()
    image = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    names = ic.get_corruption_names("all")
    assert len(names) == 19
    for name in names:
        out = np.asarray(ic.corrupt(image, corruption_name=name, severity=2))
        assert out.shape[:2] == image.shape[:2], name
    # the shim is idempotent and keeps glass blur's effect (it must blur, not pass through)
    again = load_imagecorruptions()
    blurred = np.asarray(again.corrupt(image, corruption_name="gaussian_blur", severity=5), dtype=float)
    assert blurred.std() < image.astype(float).std()
