"""Model adapters: file round trips, preprocessing from timm/torchvision, offline errors, CLIP head."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
import pickle
import time
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from robustscope.errors import CheckpointError, UnknownNameError, WeightsUnavailableError
from robustscope.models import MODEL_SCHEMES, Model, Preprocessing, SmallCNN, imagenet_classes, load_model
from robustscope.models.clip_adapter import ZeroShotClassifier, build_zero_shot_weights
from robustscope.models.labels import imagenet_templates
from robustscope.models.torchvision_adapter import crop_pct_for

LABELS = ["circle", "square", "triangle"]
PRE = Preprocessing(input_size=32, crop_pct=1.0, interpolation="bilinear", mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))


def _config(**extra: object) -> dict:
    return {"arch": "smallcnn", "arch_kwargs": {"width": 8}, "labels": LABELS, "preprocessing": PRE.to_dict(), **extra}


@pytest.fixture
def net() -> SmallCNN:
    torch.manual_seed(0)
    network = SmallCNN(len(LABELS), width=8).eval()
    # non-trivial BN statistics, so a lost buffer would change the logits
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return network


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def _reference(network: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(PRE.mean).view(1, 3, 1, 1)
    std = torch.tensor(PRE.std).view(1, 3, 1, 1)
    with torch.no_grad():
        return network((images - mean) / std)


def test_file_safetensors_dir_round_trip(tmp_path: Path, net: SmallCNN, images: torch.Tensor) -> None:
    save_file(net.state_dict(), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(_config()))
    model = load_model(f"file:{tmp_path}")
    assert model.labels == LABELS and model.preprocessing == PRE and model.metadata["format"] == "safetensors"
    with torch.no_grad():
        assert torch.equal(model(images), _reference(net, images))


def test_normalisation_lives_inside_model(tmp_path: Path, net: SmallCNN, images: torch.Tensor) -> None:
    model = Model(net, PRE, LABELS)
    with torch.no_grad():
        torch.testing.assert_close(model(images), _reference(net, images))


def test_file_state_dict_pt_round_trip(tmp_path: Path, net: SmallCNN, images: torch.Tensor) -> None:
    torch.save({"state_dict": net.state_dict(), "epoch": 3}, tmp_path / "weights.pt")
    (tmp_path / "weights.json").write_text(json.dumps(_config()))
    model = load_model(f"file:{tmp_path / 'weights.pt'}")
    assert model.metadata["format"] == "state_dict"
    with torch.no_grad():
        assert torch.equal(model(images), _reference(net, images))


def test_file_torchscript_round_trip(tmp_path: Path, net: SmallCNN, images: torch.Tensor) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated but still the format people ship
        torch.jit.save(torch.jit.trace(net, torch.rand(1, 3, 32, 32)), str(tmp_path / "model.ts"))
    (tmp_path / "config.json").write_text(json.dumps({"labels": LABELS, "preprocessing": PRE.to_dict()}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model(f"file:{tmp_path}")
    assert model.metadata["format"] == "torchscript"
    with torch.no_grad():
        torch.testing.assert_close(model(images), _reference(net, images), rtol=1e-5, atol=1e-5)


class NotWeights:
    """Stands in for whatever a malicious or careless pickle might hold."""

    def __init__(self) -> None:
        self.payload = "anything"


def test_pickle_that_is_not_weights_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    with path.open("wb") as handle:
        pickle.dump(NotWeights(), handle, protocol=2)
    (tmp_path / "config.json").write_text(json.dumps(_config()))
    with pytest.raises(CheckpointError, match="weights_only"):
        load_model(f"file:{path}")
    torch.save(SmallCNN(3, width=8), path)  # a whole pickled module is not weights either
    with pytest.raises(CheckpointError, match="safetensors"):
        load_model(f"file:{path}")


def test_file_errors_name_the_fix(tmp_path: Path, net: SmallCNN) -> None:
    save_file(net.state_dict(), str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="arch"):
        load_model(f"file:{tmp_path}")
    (tmp_path / "config.json").write_text(json.dumps(_config(arch_kwargs={"width": 16})))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(f"file:{tmp_path}")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(f"file:{tmp_path / 'missing.safetensors'}")


def test_file_timm_arch(tmp_path: Path, images: torch.Tensor) -> None:
    import timm

    network = timm.create_model("resnet10t", pretrained=False, num_classes=3).eval()
    save_file(network.state_dict(), str(tmp_path / "model.safetensors"))
    config = {"arch": "timm:resnet10t", "labels": LABELS, "preprocessing": PRE.to_dict()}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with torch.no_grad():
        assert torch.equal(load_model(f"file:{tmp_path}")(images), _reference(network, images))


def test_timm_preprocessing_from_timm_config() -> None:
    from timm.data import resolve_data_config

    model = load_model("timm:vit_tiny_patch16_224", pretrained=False)
    expected = resolve_data_config({}, model=model.network)
    pre = model.preprocessing
    assert pre.input_size == expected["input_size"][-1]
    assert pre.crop_pct == expected["crop_pct"]
    assert pre.interpolation == expected["interpolation"]
    assert pre.mean == tuple(expected["mean"]) and pre.std == tuple(expected["std"])
    assert model.label_space == "imagenet-1k" and model.labels == imagenet_classes()
    assert model.name == "timm:vit_tiny_patch16_224"


def test_timm_non_imagenet_head_gets_generic_labels() -> None:
    model = load_model("timm:resnet10t", pretrained=False, num_classes=5)
    assert model.labels == [f"class_{i}" for i in range(5)] and model.label_space == "custom"


def test_torchvision_preprocessing_from_weights() -> None:
    import torchvision.models as tvm

    weights = tvm.get_model_weights("resnet50").DEFAULT
    transform = weights.transforms()
    model = load_model("tv:resnet50", pretrained=False)
    pre = model.preprocessing
    assert pre.input_size == transform.crop_size[0] and pre.resize_size == transform.resize_size[0]
    assert pre.interpolation == transform.interpolation.value
    assert pre.mean == tuple(transform.mean) and pre.std == tuple(transform.std)
    assert model.labels == weights.meta["categories"] and model.label_space == "imagenet-1k"


@pytest.mark.parametrize(("crop", "resize"), [(224, 256), (224, 232), (384, 384), (518, 518), (240, 262)])
def test_crop_pct_reproduces_resize(crop: int, resize: int) -> None:
    assert Preprocessing(input_size=crop, crop_pct=crop_pct_for(crop, resize)).resize_size == resize


@pytest.mark.parametrize(
    ("spec", "suggestion"),
    [
        ("timm:resnt18", "resnet18"),
        ("tv:resnt50", "resnet50"),
        ("tim:resnet18", "timm:resnet18"),
        ("clip:ViT-B-23/openai", "ViT-B-32"),
        ("timm:resnet18.a1_in1", "resnet18.a1_in1k"),
    ],
)
def test_unknown_names_suggest_near_misses(spec: str, suggestion: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        load_model(spec)
    assert suggestion in info.value.suggestions


@pytest.mark.parametrize("spec", ["timm:resnet18", "tv:resnet18", "clip:RN50/openai"])
def test_offline_hub_load_fails_fast(spec: str) -> None:
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as info:
        load_model(spec)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "looked for" in message and "file:" in message


def test_model_schemes_listed() -> None:
    assert MODEL_SCHEMES.keys() == ["clip", "file", "timm", "tv"]
    for entry in MODEL_SCHEMES.entries():
        assert entry.summary and entry.example.startswith(entry.key + ":")


def test_templates_and_zero_shot_head() -> None:
    templates = imagenet_templates()
    assert len(templates) == 80 and all(t.count("{}") == 1 for t in templates)
    classes = ["cat", "dog", "car", "tree"]
    vocabulary: dict[str, int] = {}

    def tokenize(texts: list[str]) -> torch.Tensor:
        return torch.tensor([[vocabulary.setdefault(t, len(vocabulary))] for t in texts])

    table = torch.randn(len(classes) * len(templates), 16, generator=torch.Generator().manual_seed(0))
    weights = build_zero_shot_weights(lambda tokens: table[tokens[:, 0]], tokenize, classes, templates, batch_size=100)
    assert weights.shape == (4, 16) and len(vocabulary) == 320
    # class 2's row is the normalised mean of its 80 normalised prompt embeddings
    expected = torch.nn.functional.normalize(table[160:240], dim=-1).mean(0)
    torch.testing.assert_close(weights[2], expected / expected.norm())

    head = ZeroShotClassifier(torch.nn.Flatten(), weights, logit_scale=100.0)
    features = torch.randn(5, 16)
    logits = head(features.view(5, 1, 4, 4))
    assert logits.shape == (5, 4)
    torch.testing.assert_close(logits, 100 * torch.nn.functional.normalize(features, dim=-1) @ weights.t())


def test_clip_adapter_with_tiny_random_open_clip(tmp_path: Path) -> None:
    import open_clip

    config = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }
    (tmp_path / "rs-tiny-clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "rs-tiny-clip.json")
    model = load_model("clip:rs-tiny-clip", pretrained=False, labels=["cat", "dog", "car"])
    assert model.preprocessing.input_size == 32 and model.preprocessing.crop_pct == 1.0
    assert model.preprocessing.interpolation == "bicubic" and model.metadata["num_templates"] == 80
    assert model.network.class_embeddings.shape == (3, 16)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3)
    assert not any(name.startswith("transformer") for name, _ in model.network.named_parameters())

    # the same towers from a local checkpoint give the same head and logits
    checkpoint = tmp_path / "tiny.pt"
    clip = open_clip.create_model("rs-tiny-clip", pretrained=None)
    torch.save(clip.state_dict(), checkpoint)
    first = load_model("clip:rs-tiny-clip", checkpoint=checkpoint, labels=["cat", "dog", "car"])
    second = load_model("clip:rs-tiny-clip", checkpoint=checkpoint, labels=["cat", "dog", "car"])
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = clip.encode_image(first.normalize(images), normalize=True)
        torch.testing.assert_close(
            first.network.image_encoder(first.normalize(images)), clip.visual(first.normalize(images))
        )
        assert torch.equal(first(images), second(images))
        tokens = open_clip.get_tokenizer("rs-tiny-clip")([t.format("dog") for t in imagenet_templates()])
        dog = torch.nn.functional.normalize(clip.encode_text(tokens), dim=-1).mean(0)
        torch.testing.assert_close(first.network.class_embeddings[1], dog / dog.norm())
        scale = clip.logit_scale.exp()
        torch.testing.assert_close(first(images), scale * expected @ first.network.class_embeddings.t())


def test_cached_hub_weights_load_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: torch.Tensor) -> None:
    import timm
    import torch.hub
    import torchvision.models as tvm
    from huggingface_hub import constants

    # a Hugging Face cache holding timm/resnet10t.c3_in1k, laid out as huggingface_hub writes it
    network = timm.create_model("resnet10t", pretrained=False).eval()
    repo = tmp_path / "hf" / "models--timm--resnet10t.c3_in1k"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    save_file(network.state_dict(), str(repo / "snapshots" / commit / "model.safetensors"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    model = load_model("timm:resnet10t.c3_in1k")
    with torch.no_grad():
        torch.testing.assert_close(model.network(images), network(images))

    # a torch hub cache holding torchvision's squeezenet1_1 weights
    weights = tvm.SqueezeNet1_1_Weights.DEFAULT
    tv_net = tvm.squeezenet1_1().eval()
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "torch"))
    try:
        (tmp_path / "torch" / "checkpoints").mkdir(parents=True)
        torch.save(tv_net.state_dict(), tmp_path / "torch" / "checkpoints" / Path(weights.url).name)
        tv_model = load_model("tv:squeezenet1_1")
    finally:
        torch.hub.set_dir(previous)
    with torch.no_grad():
        torch.testing.assert_close(tv_model.network(images), tv_net(images))


def test_zero_shot_cache_round_trip(tmp_path: Path) -> None:
    from robustscope.models.clip_adapter import _cache_file, _read_cached, _write_cached

    path = _cache_file(tmp_path, "ViT-B-32", "openai", ["cat", "dog"], ["a {}."])
    assert path is not None and _read_cached(path) is None
    embeddings = torch.randn(2, 8)
    _write_cached(path, embeddings)
    assert torch.equal(_read_cached(path), embeddings)
    assert _cache_file(tmp_path, "ViT-B-32", "openai", ["cat", "cow"], ["a {}."]) != path
    assert _cache_file(False, "ViT-B-32", "openai", ["cat"], ["a {}."]) is None


def test_imagenet_models_accept_wordnet_id_folders(tmp_path: Path) -> None:
    """A dataset in the ImageNet release layout (wnid folders) maps onto an ImageNet-1k model's logits."""
    from PIL import Image

    from robustscope.data.folder import load_folder
    from robustscope.engine.label_space import label_mapping
    for wnid in ("n01440764", "n02099601"):  # tench (0) and golden retriever (207)
        (tmp_path / wnid).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / wnid / "a.JPEG")
    model = Model(torch.nn.Identity(), Preprocessing(input_size=8, crop_pct=1.0), imagenet_classes(),
                  label_space="imagenet-1k")
    assert label_mapping(model, load_folder(tmp_path)) == (0, 207)
