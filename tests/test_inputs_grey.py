"""Grayscale models: one luma channel from decoding through every corruption, attack and overlay to the logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from robustscope.data import Dataset
from robustscope.engine import PredictionStore
from robustscope.models import Model, Preprocessing
from robustscope.shifts.attacks import FGSM, PGD
from robustscope.shifts.autoattack import AutoAttack
from robustscope.shifts.base import to_channels
from robustscope.shifts.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from robustscope.shifts.corruptions.base import generators_for
from robustscope.shifts.overlays import BackgroundSwap, MissingFontError, Watermark

GREY = Preprocessing(input_size=16, crop_pct=1.0, interpolation="nearest", mean=(0.5,), std=(0.25,), channels=1)
IDS = ["a", "b"]
#: Corruptions whose every step treats channels alike (filters, warps, per-image statistics, a shared
#: random field): on a grey image they equal any channel of the RGB image whose three channels are it.
CHANNELWISE = {
    "brightness", "contrast", "defocus_blur", "elastic_transform", "fog", "gaussian_blur", "glass_blur",
    "jpeg_compression", "motion_blur", "pixelate", "snow", "zoom_blur",
}
#: Corruptions that paint a colour: on grey images the colour's luma (exactly luma(RGB result) while nothing clips).
LUMA_COLOURED = {"frost", "spatter"}
NOISE = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"}


def _grey_batch(low: float = 0.0, high: float = 1.0, seed: int = 0) -> torch.Tensor:
    return low + (high - low) * torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_every_registered_corruption_is_classified() -> None:
    assert len(CORRUPTIONS.keys()) == 19
    assert set(CORRUPTIONS.keys()) == CHANNELWISE | LUMA_COLOURED | NOISE | {"saturate"}


def test_luma_is_pils_l() -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (12, 200, 77), (255, 255, 255)]
    image = Image.fromarray(np.array([colours] * 5, dtype=np.uint8))
    pixels = Preprocessing(5, 1.0, "nearest", (0.5,), (0.5,), channels=1).to_tensor(image)
    assert pixels.shape == (1, 5, 5)
    # ITU-R 601-2: L = R·299/1000 + G·587/1000 + B·114/1000, hand-computed: 76.2, 149.7, 29.1, 129.8, 255
    assert (pixels[0, 2] * 255).round().tolist() == [76, 150, 29, 130, 255]


@pytest.mark.parametrize("name", sorted(CORRUPTIONS.keys()))
def test_corruption_keeps_a_grey_batch_grey(name: str) -> None:
    images = _grey_batch()
    for severity in SEVERITIES:
        out = corrupt(images, name, severity, seed=3, sample_ids=IDS)
        assert out.shape == (2, 1, 32, 32)
        assert bool(torch.isfinite(out).all()) and float(out.min()) >= 0 and float(out.max()) <= 1
        assert torch.equal(out, corrupt(images, name, severity, seed=3, sample_ids=IDS))  # deterministic
        single = corrupt(images[1:], name, severity, seed=3, sample_ids=IDS[1:])
        torch.testing.assert_close(single, out[1:], rtol=0, atol=1e-5)  # independent of the batch
        # at 32 px the small severities can draw the same pixels for two seeds (e.g. a 3-tap motion blur)
        if CORRUPTIONS.get(name)().random and severity == 5:
            assert not torch.equal(out, corrupt(images, name, severity, seed=4, sample_ids=IDS))


@pytest.mark.parametrize("name", sorted(CHANNELWISE))
def test_channelwise_corruption_on_grey_matches_rgb_grey(name: str) -> None:
    images = _grey_batch()
    for severity in SEVERITIES:
        grey = corrupt(images, name, severity, seed=1, sample_ids=IDS)
        rgb = corrupt(images.expand(2, 3, 32, 32).contiguous(), name, severity, seed=1, sample_ids=IDS)
        for channel in range(3):
            torch.testing.assert_close(grey, rgb[:, channel : channel + 1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", sorted(LUMA_COLOURED))
def test_colours_are_painted_in_luma(name: str) -> None:
    images = _grey_batch(0.0, 0.2)  # dark: frost's and water's additions stay below 1, nothing clips
    for severity in SEVERITIES:
        grey = corrupt(images, name, severity, seed=1, sample_ids=IDS)
        rgb = corrupt(images.expand(2, 3, 32, 32).contiguous(), name, severity, seed=1, sample_ids=IDS)
        torch.testing.assert_close(grey, to_channels(rgb, 1), rtol=0, atol=1e-5)


def test_pointwise_noise_is_drawn_per_grey_pixel() -> None:
    images = torch.full((2, 1, 32, 32), 0.5)
    out = corrupt(images, "gaussian_noise", 1, seed=7, sample_ids=IDS)
    # the per-pixel formula: x + c·N(0,1), one draw per grey pixel from the sample's generator, c = .08 at severity 1
    draws = torch.stack([torch.randn((1, 32, 32), generator=g) for g in generators_for(IDS, "gaussian_noise", 1, 7)])
    torch.testing.assert_close(out, (images + 0.08 * draws).clamp(0, 1), rtol=0, atol=1e-6)
    assert abs(float((out - images).std()) - 0.08) < 0.01
    flipped = corrupt(images, "impulse_noise", 5, seed=7, sample_ids=IDS) != images
    assert abs(float(flipped.float().mean()) - 0.27) < 0.03  # salt-and-pepper on 27% of the grey pixels


def test_colour_space_corruptions_on_grey_are_documented_values() -> None:
    images = _grey_batch()
    for severity in SEVERITIES:
        assert torch.equal(corrupt(images, "saturate", severity, sample_ids=IDS), images)  # no saturation to scale
        bright = corrupt(images, "brightness", severity, sample_ids=IDS)
        torch.testing.assert_close(bright, (images + 0.1 * severity).clamp(max=1.0))  # HSV value on grey: + c


class _GreyNet(nn.Module):
    """A tiny conv net that only accepts one channel (a 3-channel batch would fail in conv)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).tanh().mean(dim=(2, 3)))


def _grey_model() -> Model:
    return Model.from_module(_GreyNet(), GREY, labels=[0, 1], name="grey-net").eval()


def _attacks() -> list[object]:
    attacks: list[object] = [FGSM(4 / 255), PGD("linf", 4 / 255, 1 / 255, 3), PGD("l2", 0.3, 0.1, 3)]
    try:
        import pyautoattack  # noqa: F401
    except ImportError:
        return attacks
    return [*attacks, AutoAttack("linf", 4 / 255, attacks=("apgd-ce",))]


@pytest.mark.parametrize("attack", _attacks(), ids=lambda a: a.spec())
def test_attack_keeps_a_grey_batch_grey(attack: FGSM) -> None:
    model = _grey_model()
    images = _grey_batch(seed=1)[:, :, :16, :16].contiguous()
    labels = torch.tensor([0, 1])
    adv = attack(images, IDS, seed=5, model=model, labels=labels)
    assert adv.shape == images.shape and bool(torch.isfinite(adv).all())
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    delta = (adv - images).flatten(1)
    if getattr(attack, "norm", "linf") == "l2":
        assert float(delta.norm(dim=1).max()) <= attack.eps + 1e-5
    else:
        assert float(delta.abs().max()) <= attack.eps + 1e-6
    assert torch.equal(adv, attack(images, IDS, seed=5, model=model, labels=labels))  # deterministic


def test_overlays_draw_in_luma_on_grey() -> None:
    images = _grey_batch()
    solid = BackgroundSwap(lambda ids: torch.zeros(len(ids), 32, 32), "solid", colour=(0.0, 1.0, 0.0))
    torch.testing.assert_close(solid(images.clone(), IDS), torch.full_like(images, 0.587))  # luma of green
    noise = BackgroundSwap(lambda ids: torch.zeros(len(ids), 32, 32), "noise")
    field = noise(images.clone(), IDS, seed=2)
    assert field.shape == images.shape and torch.equal(field, noise(images.clone(), IDS, seed=2))
    try:
        watermark = Watermark()
    except MissingFontError:
        pytest.skip("no CJK font for the watermark")
    grey = watermark(images.clone(), IDS)
    rgb = watermark(images.expand(2, 3, 32, 32).contiguous(), IDS)
    assert grey.shape == images.shape and not torch.equal(grey, images)
    torch.testing.assert_close(grey, to_channels(rgb, 1), rtol=0, atol=1e-6)  # a linear blend commutes with luma


def test_grey_model_end_to_end(tmp_path: Path) -> None:
    from robustscope.api import evaluate
    from robustscope.config import Workspace

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(6, 16, 16, 3), dtype=np.uint8)
    for i, pixels in enumerate(rgb):
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(6)], "path": [f"{i}.png" for i in range(6)],
                          "label": [i % 2 for i in range(6)]})
    data = Dataset("colours", tmp_path, ["0", "1"], frame)
    model = _grey_model()
    shifts = ["none", "corruption:gaussian_noise:2", "corruption:saturate:5", "corruption:frost:3", "fgsm:eps=2/255"]
    ws = Workspace(tmp_path / "ws")
    table = evaluate(model, data, shifts=shifts, metrics=["top1"], slice_by=None, n_resamples=0, store=ws,
                     progress=False)
    keys = table.drop_duplicates("shift").set_index("shift")["prediction_key"]
    assert len(keys) == len(shifts)
    logits = {spec: PredictionStore(ws.predictions).load(key).logits for spec, key in keys.items()}
    # Clean logits, computed independently: luma by the ITU-R 601-2 formula, then (x - 0.5) / 0.25.
    luma = np.rint(rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / 255
    expected = model.network(((torch.from_numpy(luma).float().unsqueeze(1)) - 0.5) / 0.25).detach().numpy()
    np.testing.assert_allclose(logits["none"], expected, atol=0.05)
    np.testing.assert_array_equal(logits["corruption:saturate:5"], logits["none"])
    assert all(np.isfinite(v).all() and v.shape == (6, 2) for v in logits.values())
    assert not np.array_equal(logits["corruption:gaussian_noise:2"], logits["none"])
