"""Overlays: the ImageNet-W watermark against its published spec, and mask-based background swap."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from robustscope.errors import MissingDataError, SpecError
from robustscope.shifts.base import UnboundShiftError
from robustscope.shifts.overlays import (
    BackgroundSwap,
    MissingFontError,
    Watermark,
    find_cjk_font,
    swap_background,
    watermark_font_size,
)
from robustscope.shifts.registry import load_shift

try:
    FONT = find_cjk_font()
    NO_FONT = ""
except MissingFontError as err:
    FONT, NO_FONT = None, str(err)

needs_font = pytest.mark.skipif(FONT is None, reason=f"watermark test skipped: {NO_FONT}")


def _bbox(mask: torch.Tensor) -> tuple[int, int, int, int]:
    rows = torch.nonzero(mask.sum(1) > 0).flatten()
    cols = torch.nonzero(mask.sum(0) > 0).flatten()
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])  # left, top, right, bottom


def test_font_size_rule() -> None:
    assert watermark_font_size(224) == 36 and watermark_font_size(384) == 62
    assert watermark_font_size(448) == 72 and watermark_font_size(112) == 18


@needs_font
def test_watermark_blend_matches_spec() -> None:
    shift = Watermark()
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    out = shift(images.clone(), ["a", "b"])
    mask = shift.text_mask(224, 224)
    full, none = mask == 1, mask == 0
    assert full.sum() > 100 and none.sum() > 224 * 224 * 0.5
    torch.testing.assert_close(out[..., full], 0.5 * images[..., full] + 0.5, atol=1e-6, rtol=0)
    assert torch.equal(out[..., none], images[..., none])
    partial = (mask > 0) & (mask < 1)  # anti-aliased edges: blended towards white, never darker
    assert (out[..., partial] >= images[..., partial] - 1e-6).all()
    left, top, right, _ = _bbox(mask)
    assert 0.01 * 224 <= left <= 0.01 * 224 + 8  # text origin at (0.01 W, 0.4 H), plus glyph bearing
    assert 0.4 * 224 <= top <= 0.4 * 224 + 14
    assert right > 0.8 * 224  # six 36-px glyphs span most of the width


@needs_font
def test_watermark_scales_with_image_size() -> None:
    shift = Watermark()
    small, large = _bbox(shift.text_mask(224, 224)), _bbox(shift.text_mask(448, 448))
    width_small, width_large = small[2] - small[0], large[2] - large[0]
    assert width_large == pytest.approx(2 * width_small, rel=0.08)
    assert large[1] == pytest.approx(2 * small[1], rel=0.08)
    assert shift.text_mask(224, 224) is shift.text_mask(224, 224)  # rendered once per size


@needs_font
def test_watermark_registry_and_reference() -> None:
    shift = load_shift("watermark")
    assert isinstance(shift, Watermark) and shift.spec() == "watermark"
    assert load_shift("watermark:opacity=0.3").key() != shift.key()
    imagenet_w = pytest.importorskip("imagenet_w")
    # The reference composites uint8 PIL images (alpha 128/255); feed it exact grey levels.
    image = torch.randint(0, 256, (3, 224, 224), generator=torch.Generator().manual_seed(1)).float() / 255
    reference = imagenet_w.AddWatermark(224)(image.clone())
    ours = shift(image[None].clone(), ["a"])[0]
    diff = (ours - reference).abs()
    assert diff.max() <= 3 / 255 and diff.mean() < 0.5 / 255


def test_swap_background_keeps_object() -> None:
    images = torch.rand(3, 3, 8, 8)
    masks = torch.zeros(3, 8, 8)
    masks[:, 2:6, 2:6] = 1
    masks[:, 1, 1] = 0.25  # soft edge
    backgrounds = torch.rand(3, 3, 8, 8)
    out = swap_background(images, masks, backgrounds)
    obj, bg = masks == 1, masks == 0
    assert torch.equal(out.permute(1, 0, 2, 3)[:, obj], images.permute(1, 0, 2, 3)[:, obj])
    assert torch.equal(out.permute(1, 0, 2, 3)[:, bg], backgrounds.permute(1, 0, 2, 3)[:, bg])
    torch.testing.assert_close(out[:, :, 1, 1], 0.25 * images[:, :, 1, 1] + 0.75 * backgrounds[:, :, 1, 1])
    with pytest.raises(ValueError):
        swap_background(images, masks[:2], backgrounds)


def test_background_swap_shift_deterministic() -> None:
    table = {f"s{i}": torch.from_numpy((np.indices((8, 8)).sum(0) % (i + 2) == 0).astype(np.float32)) for i in range(4)}

    def masks(ids):
        return torch.stack([table[i] for i in ids])

    ids = list(table)
    images = torch.rand(4, 3, 8, 8)
    shift = BackgroundSwap(masks, "noise")
    whole = shift(images.clone(), ids, seed=0)
    half = shift(images[2:].clone(), ids[2:], seed=0)
    assert torch.equal(whole[2:], half)  # per-sample noise, independent of the batch
    assert not torch.equal(whole, shift(images.clone(), ids, seed=1))
    keep = masks(ids)[:, None].expand_as(images) == 1
    assert torch.equal(whole[keep], images[keep])
    solid = BackgroundSwap(masks, "solid", colour=(0.0, 0.0, 1.0))(images.clone(), ids)
    assert (solid[:, 2][~keep[:, 2]] == 1).all() and (solid[:, 0][~keep[:, 0]] == 0).all()
    assert shift.key() != BackgroundSwap(masks, "solid").key()


# -- background swap as a spec string, bound to the dataset by the Runner -------------------------------
def test_background_swap_specs_and_keys() -> None:
    noise, solid = load_shift("background_swap"), load_shift("background_swap:solid")
    assert isinstance(noise, BackgroundSwap) and noise.background == "noise" and solid.background == "solid"
    assert load_shift("background_swap:noise").key() == noise.key()
    green = load_shift("background_swap:solid:colour=0,1,0")
    assert green.colour == (0.0, 1.0, 0.0)
    assert load_shift("background_swap:solid:colour=0,255,0").key() == green.key()  # 0-255 accepted
    assert noise.key() != solid.key() and solid.key() != green.key() and noise.key() != green.key()
    for shift in (noise, solid, green):  # specs round-trip
        assert load_shift(shift.spec()).key() == shift.key()
    for bad in ("background_swap:plaid", "background_swap:noise:colour=1,0,0", "background_swap:solid:colour=1,2"):
        with pytest.raises(SpecError):
            load_shift(bad)


def test_unbound_background_swap_raises() -> None:
    shift = load_shift("background_swap:solid")
    assert shift.needs_dataset and not shift.is_bound()
    with pytest.raises(UnboundShiftError, match="bind"):
        shift(torch.rand(1, 3, 4, 4), ["a"])


def test_background_swap_runs_through_runner(tmp_path) -> None:
    from torch import nn

    from robustscope.data import Dataset
    from robustscope.data.synthetic import load_synth
    from robustscope.engine import PredictionStore, Runner
    from robustscope.models import Model, Preprocessing

    dataset = load_synth("tiny:test-id", root=tmp_path / "renders", workers=1, progress=False)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.LazyLinear(len(dataset.classes)))
    model = Model.from_module(net, Preprocessing(input_size=32, crop_pct=1.0), labels=dataset.classes).eval()
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))  # materialise the lazy layer
    runner = Runner(PredictionStore(tmp_path / "preds"), batch_size=3, progress=False)
    solid = load_shift("background_swap:solid:colour=0,1,0")
    result = runner.run(model, dataset, solid)
    assert result.shards_computed == 1 and result.key == runner.key(model, dataset, solid)
    assert runner.run(model, dataset, solid).shards_computed == 0  # cached
    noise = runner.run(model, dataset, load_shift("background_swap:noise"))
    clean = runner.run(model, dataset)
    assert len({result.key, noise.key, clean.key}) == 3
    # The Runner's logits are the model on the images composited with the dataset's own masks.
    bound = solid.bind(dataset, model.preprocessing)
    ids = dataset.manifest["sample_id"].tolist()
    images = torch.stack([model.preprocessing.to_tensor(dataset.load_image(i)) for i in range(len(dataset))])
    masks = bound.masks(ids)
    assert "masks" in bound.key() and pickle.loads(pickle.dumps(bound)).key() == bound.key()  # shards can travel
    assert 0 < float(masks.mean()) < 1  # objects cover part of each image
    with torch.no_grad():
        expected = model(bound(images.clone(), ids)).numpy()
    order = [ids.index(s) for s in result.predictions.sample_ids]
    np.testing.assert_allclose(result.predictions.logits, expected[order], rtol=1e-5, atol=1e-5)
    assert not np.allclose(result.predictions.logits, clean.predictions.logits)
    # A dataset without masks fails with the column named.
    no_masks = Dataset("no-masks", dataset.root, dataset.classes, dataset.manifest.copy())  # no CSV to read them from
    with pytest.raises(MissingDataError, match="mask_filename"):
        runner.run(model, no_masks, solid)
