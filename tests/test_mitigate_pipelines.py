"""lle_mitigate and last_layer_mitigate: from a model and images to a saved head, features cached (issue 12)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import robustscope.mitigate.pipeline as pipeline
from robustscope.data.base import Dataset
from robustscope.engine.features import extract_features
from robustscope.errors import OptionError
from robustscope.mitigate import (
    LastLayerConfig,
    fit_erm,
    fit_group_balanced,
    fit_group_dro,
    fit_jtt,
    fit_lle,
    groups_of,
    last_layer_mitigate,
    lle_mitigate,
)
from robustscope.models import Model, load_model
from robustscope.models.features import split_model
from robustscope.models.smallcnn import SmallCNN

CONFIG = LastLayerConfig(epochs=4, batch_size=8, lr=0.5)


def _base(folder: Path, labels: list[str], **extra: str) -> Model:
    torch.manual_seed(0)
    folder.mkdir(parents=True)
    save_file(SmallCNN(2, width=4, depth=2).state_dict(), str(folder / "model.safetensors"))
    config = {"arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 2}, "labels": labels,
              "preprocessing": {"input_size": 16, "crop_pct": 1.0}, **extra}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return load_model(f"file:{folder}")


def _images(root: Path, n: int, seed: int, classes: tuple[str, str] = ("a", "b")) -> Dataset:
    """Images whose colour says the class, a band at the top says the place (agreeing 80% of the time), a mask."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        place = label if rng.random() < 0.8 else 1 - label
        pixels = np.clip(rng.normal(70 + 110 * label, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
        pixels[:4] = 240 * place
        Image.fromarray(pixels).save(root / f"{i}.png")
        mask = np.zeros((16, 16), np.uint8)
        mask[5:13, 4:12] = 255
        Image.fromarray(mask).save(root / f"{i}_mask.png")
        rows.append({"sample_id": f"{seed}-{i}", "path": f"{i}.png", "label": label, "place": place,
                     "mask_filename": f"{i}_mask.png"})  # fmt: skip
    return Dataset(f"images-{seed}", root, list(classes), pd.DataFrame(rows))


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Model, Dataset, Path]:
    return _base(tmp_path / "base", ["a", "b"]), _images(tmp_path / "train", 24, 0), tmp_path / "store"


def test_saved_lle_equals_its_ensemble_head_on_extracted_features(setup, tmp_path: Path) -> None:
    model, train, store = setup
    extra = _images(tmp_path / "extra", 12, 1)  # augmented images given as a dataset
    augmentations = {"noise": "corruption:gaussian_noise:3", "swap": "background_swap:solid", "extra": extra}
    folder, lle = lle_mitigate(model, train, augmentations, store=store, out=tmp_path / "lle", seed=2, config=CONFIG,
                               progress=False)  # fmt: skip

    # the fit is fit_lle on the features extract_features gives, from the base head, with the seed
    options = {"store": store, "progress": False}
    original = extract_features(model, train, **options)
    sets = {"noise": extract_features(model, train, shift="corruption:gaussian_noise:3", **options),
            "swap": extract_features(model, train, shift="background_swap:solid", **options),
            "extra": extract_features(model, extra, **options)}  # fmt: skip
    assert all(fs.shards_computed == 0 for fs in [original, *sets.values()])  # lle_mitigate stored them all
    split = split_model(model)
    direct = fit_lle(original.features, original.labels, {k: (v.features, v.labels) for k, v in sets.items()},
                     config=dataclasses.replace(CONFIG, seed=2), init=(split.weight, split.bias))  # fmt: skip
    for ours, theirs in zip(lle.head.state_dict().values(), direct.head.state_dict().values(), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)

    # the saved model's logits on images are the ensemble head on the images' features
    test = _images(tmp_path / "test", 10, 2)
    loaded = load_model(f"file:{folder}").eval()
    images = torch.stack([loaded.preprocessing.to_tensor(test.load_image(i)) for i in range(len(test))])
    features = extract_features(model, test, **options).features
    with torch.no_grad():
        np.testing.assert_allclose(loaded(images).numpy(), lle.head(torch.from_numpy(features)).numpy(),
                                   rtol=1e-4, atol=1e-5)  # fmt: skip
    params = json.loads((folder / "config.json").read_text())["method"]["params"]
    assert params["shifts"] == ["original", "noise", "swap", "extra"] and params["num_heads"] == 4
    assert params["augmentations"] == {"noise": {"kind": "shift", "shift": "corruption:gaussian_noise:3"},
                                       "swap": {"kind": "shift", "shift": "background_swap:solid:colour=0.5,0.5,0.5"},
                                       "extra": {"kind": "dataset", "dataset": "images-1"}}  # fmt: skip
    assert params["features"] == {"original": original.key, **{k: v.key for k, v in sets.items()}}
    assert params["init"] == "base_head" and params["seed"] == 2 and loaded.labels == ["a", "b"]


@pytest.mark.parametrize(("method", "options"), [("erm", {}), ("group-balanced", {}), ("groupdro", {"step_size": 0.1}),
                                                 ("jtt", {"up_weight": 5})])  # fmt: skip
def test_each_baseline_saves_the_head_its_fit_function_gives(setup, tmp_path: Path, method: str, options: dict) -> None:
    model, train, store = setup
    folder, fit = last_layer_mitigate(method, model, train, group_of="place", store=store, out=tmp_path / method,
                                      seed=5, config=CONFIG, progress=False, **options)  # fmt: skip
    features = extract_features(model, train, store=store, progress=False)
    split = split_model(model)
    config, init = dataclasses.replace(CONFIG, seed=5), (split.weight, split.bias)
    groups = groups_of(features, "place")
    direct = {
        "erm": lambda: fit_erm(features.features, features.labels, config=config, init=init),
        "group-balanced": lambda: fit_group_balanced(features.features, features.labels, groups, config=config,
                                                     init=init),
        "groupdro": lambda: fit_group_dro(features.features, features.labels, groups, config=config, init=init,
                                          **options),
        "jtt": lambda: fit_jtt(features.features, features.labels, config=config, init=init, **options),
    }[method]()
    saved = split_model(load_model(f"file:{folder}"))
    np.testing.assert_array_equal(saved.weight.numpy(), direct.weight)
    np.testing.assert_array_equal(saved.bias.numpy(), direct.bias)
    assert not np.array_equal(direct.weight, split.weight.numpy())  # the head did move from the base's
    params = json.loads((folder / "config.json").read_text())["method"]["params"]
    assert params["features"] == features.key and params["init"] == "base_head" and params["seed"] == 5
    assert fit.method == direct.method and params["group_of"] == "place"


def test_a_base_over_other_labels_gives_a_random_start(tmp_path: Path) -> None:
    model = _base(tmp_path / "base", ["x", "y"])
    train = _images(tmp_path / "train", 24, 0)
    folder, _ = last_layer_mitigate("erm", model, train, store=tmp_path / "store", out=tmp_path / "erm", seed=1,
                                    config=CONFIG, progress=False)  # fmt: skip
    features = extract_features(model, train, store=tmp_path / "store", progress=False)
    direct = fit_erm(features.features, features.labels, config=dataclasses.replace(CONFIG, seed=1), init=None)
    saved = load_model(f"file:{folder}")
    assert saved.labels == ["a", "b"]
    np.testing.assert_array_equal(split_model(saved).weight.numpy(), direct.weight)
    assert json.loads((folder / "config.json").read_text())["method"]["params"]["init"] == "random"


def test_a_checkpoint_that_names_itself_is_saved_by_its_weights_file(tmp_path: Path) -> None:
    model = _base(tmp_path / "base", ["a", "b"], name="my-erm")  # as train_urbancars_reference's models do
    assert model.name == "my-erm"
    folder, _ = last_layer_mitigate("erm", model, _images(tmp_path / "train", 8, 0), store=tmp_path / "store",
                                    out=tmp_path / "erm", config=CONFIG, progress=False)  # fmt: skip
    base = json.loads((folder / "config.json").read_text())["base"]
    assert base["spec"] == f"file:{tmp_path / 'base' / 'model.safetensors'}"
    assert base["fingerprint"] == model.fingerprint()
    assert load_model(f"file:{folder}").labels == ["a", "b"]


def test_running_twice_reuses_the_stored_features(setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, train, store = setup
    computed: list[int] = []

    def counting(*args, **kwargs):
        features = extract_features(*args, **kwargs)
        computed.append(features.shards_computed)
        return features

    monkeypatch.setattr(pipeline, "extract_features", counting)
    augmentations = {"fog": "corruption:fog:2", "swap": "background_swap:noise"}
    run = lambda out: lle_mitigate(model, train, augmentations, store=store, out=out, config=CONFIG,  # noqa: E731
                                   progress=False)  # fmt: skip
    run(tmp_path / "first")
    assert computed == [1, 1, 1]
    run(tmp_path / "second")
    last_layer_mitigate("groupdro", model, train, group_of="place", store=store, out=tmp_path / "gdro",
                        config=CONFIG, progress=False)  # fmt: skip
    assert computed == [1, 1, 1, 0, 0, 0, 0]
    first, second = (tmp_path / "first" / "head.safetensors").read_bytes(), (tmp_path / "second" / "head.safetensors")
    assert first == second.read_bytes()


def test_clear_errors(setup, tmp_path: Path) -> None:
    model, train, store = setup
    with pytest.raises(OptionError, match="choose one of"):
        last_layer_mitigate("dfr", model, train, store=store, out=tmp_path / "x")
    with pytest.raises(OptionError, match="needs groups"):
        last_layer_mitigate("group-balanced", model, train, store=store, out=tmp_path / "x")
    with pytest.raises(OptionError, match="does not take"):
        last_layer_mitigate("erm", model, train, store=store, out=tmp_path / "x", config=CONFIG, progress=False,
                            up_weight=3)  # fmt: skip
    other = _images(tmp_path / "other", 4, 3, classes=("b", "a"))
    with pytest.raises(OptionError, match="same classes"):
        lle_mitigate(model, train, {"other": other}, store=store, out=tmp_path / "x")
    with pytest.raises(OptionError, match="at least one augmentation"):
        lle_mitigate(model, train, {}, store=store, out=tmp_path / "x")
