"""SimCLR pieces: the NT-Xent loss against lightly's on the same inputs, the views, a short deterministic run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robustscope.represent.simclr import PosePairs, nt_xent_loss, simclr_views, train_ssl

LIGHTLY = json.loads((Path(__file__).parent / "data" / "lightly_ntxent.json").read_text())


@pytest.mark.parametrize("case", LIGHTLY["cases"], ids=lambda c: f"T={c['temperature']}")
def test_nt_xent_equals_lightly(case: dict) -> None:
    z0 = torch.tensor(case["z0"], dtype=torch.float64)
    z1 = torch.tensor(case["z1"], dtype=torch.float64)
    assert float(nt_xent_loss(z0, z1, case["temperature"])) == pytest.approx(case["loss"], rel=1e-12)


def test_nt_xent_hand_computed_two_images() -> None:
    # B = 2, orthogonal images, identical views, T = 1: each view has logits [1 (positive), 0, 0] → CE = log(1 + 2/e)
    z = torch.eye(2)
    import math

    assert float(nt_xent_loss(z, z, 1.0)) == pytest.approx(math.log(math.e + 2) - 1)


def test_views_are_seeded_and_stay_in_range() -> None:
    images = torch.rand(6, 3, 16, 16)
    a = simclr_views(images, torch.Generator().manual_seed(1))
    b = simclr_views(images, torch.Generator().manual_seed(1))
    c = simclr_views(images, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1 and a.shape == images.shape


def test_training_is_deterministic_and_lie_needs_pairs() -> None:
    images = torch.randint(0, 255, (24, 3, 16, 16), dtype=torch.uint8)
    kwargs = {"epochs": 1, "batch_size": 8, "arch_kwargs": {"width": 4, "depth": 2}, "progress": False, "seed": 3}
    first = train_ssl(images, ["a", "b"], **kwargs)
    second = train_ssl(images, ["a", "b"], **kwargs)
    for p, q in zip(first.model.network.parameters(), second.model.network.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="pose pairs"):
        train_ssl(images, ["a", "b"], lie_weight=1.0, **kwargs)
    pairs = PosePairs(images[:8], images[8:16], torch.linspace(0, 0.5, 8))
    with_lie = train_ssl(images, ["a", "b"], pairs=pairs, lie_weight=0.5, **kwargs)
    assert with_lie.operator is not None and with_lie.history[0]["lie_loss"] > 0


def test_cli_trains_a_self_supervised_model_that_loads(tmp_path) -> None:
    from PIL import Image

    from robustscope.cli import main
    from robustscope.models import load_model

    for cls, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(8):
            shade = tuple(min(255, c + 3 * i) for c in colour)
            Image.new("RGB", (16, 16), shade).save(tmp_path / "data" / cls / f"{i}.png")
    out = tmp_path / "ssl"
    code = main(["--workspace", str(tmp_path / "ws"), "-q", "train", "--ssl", "--data", f"folder:{tmp_path / 'data'}",
                 "--out", str(out), "--epochs", "1", "--image-size", "16"])
    model = load_model(f"file:{out}")
    assert code == 0 and sorted(model.labels) == ["blue", "red"]
    assert "linear probe" in (out / "config.json").read_text()
