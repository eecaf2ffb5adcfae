"""Features of a shifted dataset: the split model's features of the images the shift makes (issue 12, part 1)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from robustscope.data.base import Dataset
from robustscope.engine.features import FeatureShiftError, extract_features, feature_key
from robustscope.engine.fingerprint import KEY_LENGTH, key_payload
from robustscope.models import Model, Preprocessing, load_model
from robustscope.models.features import split_model
from robustscope.models.smallcnn import SmallCNN
from robustscope.shifts import Identity, load_shift


def _model(folder: Path) -> Model:
    torch.manual_seed(0)
    folder.mkdir(parents=True)
    save_file(SmallCNN(2, width=4, depth=2).state_dict(), str(folder / "model.safetensors"))
    config = {"arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 2}, "labels": ["a", "b"],
              "preprocessing": {"input_size": 16, "crop_pct": 1.0}}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return load_model(f"file:{folder}").eval()  # by hand, batch norm must use its running statistics too


def _masked_images(root: Path, n: int = 6) -> Dataset:
    """Noisy 16×16 images, each with a square object mask (so ``background_swap`` binds to the dataset)."""
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / f"{i}.png")
        mask = np.zeros((16, 16), np.uint8)
        mask[2 + i % 4 : 10 + i % 4, 3:11] = 255
        Image.fromarray(mask).save(root / f"{i}_mask.png")
        rows.append({"sample_id": f"s{i}", "path": f"{i}.png", "label": i % 2, "mask_filename": f"{i}_mask.png"})
    return Dataset("masked", root, ["a", "b"], pd.DataFrame(rows))


def _by_hand(model: Model, data: Dataset, spec: str, seed: int) -> np.ndarray:
    """Load the images, apply the shift ourselves (bound to the dataset when it reads masks), then the backbone."""
    images = torch.stack([model.preprocessing.to_tensor(data.load_image(i)) for i in range(len(data))])
    shift = load_shift(spec)
    if shift.needs_dataset:
        shift = shift.bind(data, model.preprocessing)
    ids = data.manifest["sample_id"].astype(str).tolist()
    with torch.no_grad():
        shifted = shift(images.clone(), ids, seed)
        assert not torch.allclose(shifted, images)  # the shift does change the images
        return split_model(model).features(shifted).numpy()


@pytest.mark.parametrize("spec", ["background_swap:noise", "background_swap:solid", "corruption:gaussian_noise:3",
                                  "corruption:fog:3"])  # fmt: skip
def test_shifted_features_equal_the_backbone_on_images_shifted_by_hand(tmp_path: Path, spec: str) -> None:
    model, data = _model(tmp_path / "model"), _masked_images(tmp_path / "images")
    features = extract_features(model, data, store=tmp_path / "store", progress=False, shift=spec, seed=2,
                                batch_size=4, shard_size=4)  # fmt: skip
    np.testing.assert_allclose(features.features, _by_hand(model, data, spec, seed=2), rtol=1e-5, atol=1e-5)
    assert features.labels.tolist() == data.manifest["label"].tolist() and features.shards_computed == 2
    clean = extract_features(model, data, store=tmp_path / "store", progress=False, seed=2)
    assert not np.allclose(clean.features, features.features)
    again = extract_features(model, data, store=tmp_path / "store", progress=False, shift=load_shift(spec), seed=2)
    assert again.key == features.key and again.shards_computed == 0  # a Shift object keys like its spec


def test_keys_differ_by_shift_and_seed_and_none_keeps_its_old_key(tmp_path: Path) -> None:
    model, data = _model(tmp_path / "model"), _masked_images(tmp_path / "images")
    store = tmp_path / "store"
    keys = {
        spec: extract_features(model, data, store=store, progress=False, shift=spec).key
        for spec in ["none", "background_swap:noise", "background_swap:solid", "corruption:fog:3", "corruption:fog:2"]
    }
    assert len(set(keys.values())) == len(keys)
    assert extract_features(model, data, store=store, progress=False, shift="corruption:fog:3", seed=1).key != keys[
        "corruption:fog:3"]  # fmt: skip

    # The key of shift "none" is the one written before shifts existed: the prediction key's payload with the
    # Identity shift plus the output tag, hashed, so features stored by earlier versions are still found.
    payload = key_payload(model, data, Identity(), 0)
    payload["output"] = {"kind": "penultimate_features", "head": "head"}
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    assert keys["none"] == hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]
    meta = json.loads((store / keys["none"] / "meta.json").read_text())
    assert meta["shift"]["spec"] == "none" and meta["shift"]["name"] == "none"


def test_none_key_is_unchanged_literally() -> None:
    """A key computed by the code before shifts were supported (commit 7690fc8), written down."""
    model = Model.from_module(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), Preprocessing(2, 1.0), ["a", "b"],
                              name="toy-model")  # fmt: skip
    data = Dataset("toy", "/none", ["a", "b"], pd.DataFrame({"sample_id": ["x"], "path": ["x.png"], "label": [0]}))
    key = feature_key(model, data, "1", 0, model_fingerprint="m", dataset_fingerprint="d")
    assert key == "608fc7ed9fe0c0200e6ab086"
    assert feature_key(model, data, "1", 3, model_fingerprint="m", dataset_fingerprint="d",
                       shift=Identity()) == "25f5436a5e5b2f9ef02d72eb"  # fmt: skip


def test_attacks_have_no_features(tmp_path: Path) -> None:
    model, data = _model(tmp_path / "model"), _masked_images(tmp_path / "images")
    with pytest.raises(FeatureShiftError, match="is an attack"):
        extract_features(model, data, store=tmp_path / "store", progress=False, shift="fgsm:eps=1/255")


def test_extraction_leaves_each_module_in_its_own_mode(tmp_path: Path) -> None:
    """A loaded model's wrapper is in train mode over a network in eval; the split's feature wrapper shares the
    network's layers: after extraction every module is in the mode it was, so the model's own forward is unchanged."""
    model, data = _model(tmp_path / "model"), _masked_images(tmp_path / "images")
    model.train()
    model.network.eval()
    modes = [module.training for module in model.modules()]
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
    extract_features(model, data, store=tmp_path / "store", progress=False, shift="corruption:fog:3")
    assert [module.training for module in model.modules()] == modes
    with torch.no_grad():
        torch.testing.assert_close(model(x), before)
