"""Penultimate features and the final linear head of every kind of model, and their cache (issue 12, part 1)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import write_colour_folder
from robustscope.data import load_dataset
from robustscope.data.base import Dataset
from robustscope.data.content_index import ContentIndex
from robustscope.engine import PredictionStore, Runner
from robustscope.engine.features import FEATURE_KIND, FeatureSet, extract_features, feature_key
from robustscope.errors import FeatureSplitError
from robustscope.models import Model, Preprocessing, load_model
from robustscope.models.clip_adapter import ZeroShotClassifier
from robustscope.models.features import head_path, split_model

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 70, 230)}


def _snapshot(model: Model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_split_reproduces(model: Model, size: int | None = None) -> None:
    """head(features(x)) ≈ model(x); the model's modules, weights and mode are as before."""
    model.eval()
    before, modules = _snapshot(model), dict(model.named_modules())
    split = split_model(model)
    side = size or model.preprocessing.input_size
    x = torch.rand(3, model.preprocessing.channels, side, side)
    with torch.no_grad():
        expected, features = model(x), split.features(x)
        torch.testing.assert_close(split.head(features), expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(split.logits(x), expected, rtol=1e-4, atol=1e-4)
    assert features.shape == (3, split.dim) and split.weight.shape == (model.num_classes, split.dim)
    assert split.bias.shape == (model.num_classes,) and isinstance(split.head, nn.Linear)
    assert dict(model.named_modules()) == modules and not model.training  # same module objects, same mode
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], v) for k, v in before.items())
    with torch.no_grad():  # the head is a copy: training it leaves the model alone
        split.head.weight.add_(1.0)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_torchvision_resnet18() -> None:
    model = load_model("tv:resnet18", pretrained=False)
    assert model.metadata["head"] == "fc"
    _assert_split_reproduces(model, size=64)
    assert isinstance(model.network.fc, nn.Linear)


def test_timm_model_with_a_nested_head() -> None:
    pytest.importorskip("timm")
    model = load_model("timm:convnext_atto", pretrained=False)
    assert model.metadata["head"] == "head.fc"
    _assert_split_reproduces(model, size=64)
    assert isinstance(model.network.head.fc, nn.Linear)  # the copy replaced it, never the model


def test_from_module_head_and_search() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))  # fmt: skip
    pre = Preprocessing(8, 1.0)
    named = Model.from_module(net, pre, ["a", "b", "c"], head="6")
    assert named.metadata["head"] == "6" and head_path(named) == "6"
    _assert_split_reproduces(named)
    searched = Model.from_module(net, pre, ["a", "b", "c"])  # no recorded path: the last Linear with 3 outputs
    assert "head" not in searched.metadata and head_path(searched) == "6"
    _assert_split_reproduces(searched)
    with pytest.raises(FeatureSplitError, match="16 outputs"):
        Model.from_module(net, pre, ["a", "b", "c"], head="4")
    with pytest.raises(FeatureSplitError, match="names nothing"):
        Model.from_module(net, pre, ["a", "b", "c"], head="fc")


class _ScaledAfterHead(nn.Module):
    """The Linear with one output per label is not the last operation: a split must refuse it."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(self.body(x))) * 3


def test_a_head_that_is_not_last_is_refused() -> None:
    model = Model.from_module(_ScaledAfterHead(), Preprocessing(2, 1.0), ["a", "b"])
    with pytest.raises(FeatureSplitError, match="does not reproduce"):
        split_model(model)
    no_linear = Model.from_module(nn.Sequential(nn.Conv2d(3, 2, 1)), Preprocessing(2, 1.0), ["a", "b"])
    with pytest.raises(FeatureSplitError, match=r"no nn\.Linear with 2 outputs"):
        split_model(no_linear)


def test_zero_shot_head_is_scaled_text_embeddings() -> None:
    torch.manual_seed(0)
    embeddings = nn.functional.normalize(torch.randn(3, 6), dim=-1)
    network = ZeroShotClassifier(nn.Sequential(nn.Flatten(), nn.Linear(12, 6)), embeddings, logit_scale=100.0)
    model = Model(network, Preprocessing(2, 1.0), ["a", "b", "c"], name="clip:toy")
    split = split_model(model)
    assert split.head_path == "class_embeddings" and split.dim == 6
    torch.testing.assert_close(split.weight, 100.0 * embeddings)
    assert torch.equal(split.bias, torch.zeros(3))
    _assert_split_reproduces(model)
    x = torch.rand(2, 3, 2, 2)
    with torch.no_grad():
        assert torch.allclose(split.features(x).norm(dim=1), torch.ones(2), atol=1e-5)  # normalised embedding


def test_compiled_formats_raise_a_clear_error(tmp_path: Path) -> None:
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2)).eval()
    folder = tmp_path / "exported"
    folder.mkdir()
    torch.export.save(torch.export.export(net, (torch.rand(1, 3, 2, 2),)), folder / "model.pt2")
    config = {"labels": ["a", "b"], "preprocessing": {"input_size": 2, "crop_pct": 1.0}}
    (folder / "config.json").write_text(json.dumps(config))
    model = load_model(f"file:{folder}")
    with pytest.raises(FeatureSplitError, match=r"torch\.export models.*Model\.from_module\(.*head="):
        split_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript is deprecated
        scripted = Model.from_module(torch.jit.script(net), Preprocessing(2, 1.0), ["a", "b"])
    with pytest.raises(FeatureSplitError, match="not available"):
        split_model(scripted)


# -- a trained SmallCNN file: checkpoint, and the feature cache -------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from robustscope.train import train_classifier

    root = tmp_path_factory.mktemp("features")
    images = write_colour_folder(root / "images", COLOURS, per_class=4, size=16)
    dataset = load_dataset(f"folder:{images}")
    out = train_classifier(dataset, root / "model", arch_kwargs={"width": 4, "depth": 2}, epochs=1, batch_size=8,
                           image_size=16, progress=False, num_threads=1)  # fmt: skip
    return out, images


class _Counter:
    """Forward calls of a module of the model (the features share it with the model)."""

    def __init__(self, module: nn.Module):
        self.calls = 0
        module.register_forward_hook(lambda *_: setattr(self, "calls", self.calls + 1))


def test_smallcnn_file_checkpoint(trained: tuple[Path, Path]) -> None:
    model = load_model(f"file:{trained[0]}")
    assert model.metadata["head"] == "head" and head_path(model) == "head"
    _assert_split_reproduces(model)


def test_features_are_computed_once_and_keyed_like_logits(trained: tuple[Path, Path], tmp_path: Path) -> None:
    model = load_model(f"file:{trained[0]}")
    dataset = load_dataset(f"folder:{shutil.copytree(trained[1], tmp_path / 'images')}")  # its images change below
    store, index = PredictionStore(tmp_path / "store"), ContentIndex(tmp_path / "index.sqlite")
    counter = _Counter(model.network.stem)

    def extract(m: Model, d: Dataset) -> FeatureSet:
        return extract_features(m, d, store=store, batch_size=5, progress=False, shard_size=7, content_index=index)

    first = extract(model, dataset)
    assert counter.calls > 0 and first.shards_computed == 2 and first.dim == 16 and len(first) == 12
    assert first.features.dtype == np.float32 and first.class_names == dataset.classes
    assert first.labels.tolist() == dataset.manifest["label"].tolist()
    assert list(first.sample_ids) == dataset.manifest["sample_id"].tolist() and len(first.factors) == 12
    assert store.read_meta(first.key)["kind"] == FEATURE_KIND and store.read_meta(first.key)["head"] == "head"

    calls = counter.calls
    again = extract(model, dataset)  # a cache hit: the network does not run, not even for the split's check
    assert counter.calls == calls and (again.shards_computed, again.shards_reused) == (0, 2)
    assert again.key == first.key and np.array_equal(again.features, first.features)

    # The head on the stored features gives the Runner's logits; feature and logit keys never collide.
    run = Runner(store, progress=False, content_index=index).run(model, dataset)
    split = split_model(model)
    logits = split.head(torch.from_numpy(first.features)).detach().numpy()
    np.testing.assert_allclose(logits, run.predictions.logits, rtol=1e-4, atol=1e-5)
    assert run.key != first.key

    with torch.no_grad():  # a changed model recomputes
        model.network.stem[0].weight.mul_(1.5)
    calls = counter.calls
    changed = extract(model, dataset)
    assert counter.calls > calls and changed.shards_computed == 2 and changed.key != first.key
    assert not np.allclose(changed.features, first.features)

    image = Path(dataset.root) / dataset.manifest["path"].iloc[0]  # a changed dataset recomputes
    Image.new("RGB", (16, 16), (255, 255, 0)).save(image)
    calls = counter.calls
    moved = extract(model, dataset)
    assert counter.calls > calls and moved.shards_computed == 2 and moved.key != changed.key


def test_feature_key_names_the_head(trained: tuple[Path, Path], tmp_path: Path) -> None:
    model = load_model(f"file:{trained[0]}")
    dataset = load_dataset(f"folder:{trained[1]}")
    fp = dataset.fingerprint(ContentIndex(tmp_path / "index.sqlite"))
    keys = {feature_key(model, dataset, h, seed, dataset_fingerprint=fp) for h in ("head", "fc") for seed in (0, 1)}
    assert len(keys) == 4


def test_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "features.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the example's mkdtemp() lands in this test's folder
    exec(compile(code, "docs/features.md", "exec"), {"__name__": "docs_features"})
    assert capsys.readouterr().out.split("\n")[:3] == ["fc 512 (1000, 512)", "(8, 512) 1 0", "1.0"]
