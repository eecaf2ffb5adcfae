"""Known-answer training recipes (issue 19): every recipe is valid data and trains a cached, named model."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from robustscope.cli import main
from robustscope.config import workspace
from robustscope.errors import SpecError, UnknownNameError
from robustscope.synth import load_spec
from robustscope.train import train_classifier
from robustscope.train.recipes import get_recipe, recipe_names, train_recipe


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_trains_with_real_train_classifier_arguments(name: str) -> None:
    accepted = set(inspect.signature(train_classifier).parameters)
    assert set(get_recipe(name).training) <= accepted


@pytest.mark.parametrize("world", ["demo", "tiny"])
@pytest.mark.parametrize("name", recipe_names())
def test_built_in_worlds_have_every_recipe_split(world: str, name: str) -> None:
    assert get_recipe(name).split in load_spec(world).split_names()


def test_planted_recipes_differ_from_clean_in_one_thing() -> None:
    """The shortcut splits are the clean split with one factor changed (what makes the answer known)."""
    spec = load_spec("demo")
    clean = spec.resolve(get_recipe("clean").split).to_dict()["factors"]
    changed = {
        "texture-shortcut": {"texture", "color"},
        "background-shortcut": {"background"},
        "context-shortcut": {"light_color"},
    }
    for recipe, factors in changed.items():
        planted = spec.resolve(get_recipe(recipe).split).to_dict()["factors"]
        differs = {k for k in set(clean) | set(planted) if clean.get(k) != planted.get(k)}
        assert differs == factors, recipe


def test_epochs_scale_in_proportion() -> None:
    assert get_recipe("clean").scaled_epochs(None) == get_recipe("clean").training["epochs"]
    assert get_recipe("clean").scaled_epochs(4) == 4
    assert get_recipe("overconfident").scaled_epochs(4) == 30  # 150 / 20 × 4


def test_unknown_recipe_is_a_clear_error() -> None:
    with pytest.raises(UnknownNameError, match="training recipe"):
        get_recipe("texture")


def test_a_world_without_the_split_is_a_clear_error(tmp_path: Path) -> None:
    ws = workspace()
    world = tmp_path / "w.yaml"
    world.write_text("name: w\nclasses: [cube, sphere]\nsplits: {test-id: {seed: 1}}\n")
    with pytest.raises(SpecError, match="no split 'train-diverse'"):
        train_recipe("clean", str(world), models_dir=ws.models, renders=ws.renders)


def test_train_recipe_caches_by_recipe_seed_and_data(tmp_path: Path) -> None:
    ws = workspace()
    kwargs = {"models_dir": ws.models, "renders": ws.renders, "epochs": 1, "workers": 1, "progress": False}
    first = train_recipe("overconfident", "tiny", **kwargs)
    config = json.loads((first / "config.json").read_text())
    assert config["name"] == "tiny-overconfident"
    split_size = len(load_spec("tiny").resolve("train-diverse").samples())
    assert config["dataset"]["num_samples"] == round(get_recipe("overconfident").fraction * split_size)
    assert config["training"]["image_size"] == load_spec("tiny").resolution
    assert config["training"]["augment"] is False and config["training"]["label_smoothing"] == 0.0
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert train_recipe("overconfident", "tiny", **kwargs) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not retrained
    other_seed = train_recipe("overconfident", "tiny", seed=1, **kwargs)
    assert other_seed != first and json.loads((other_seed / "config.json").read_text())["name"].endswith("seed1")


def test_changed_training_code_retrains(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trainer's code is part of the cache key: an edited training loop never reuses an old model."""
    from robustscope.train import recipes

    ws = workspace()
    kwargs = {"models_dir": ws.models, "renders": ws.renders, "epochs": 1, "workers": 1, "progress": False}
    before = train_recipe("overconfident", "tiny", **kwargs)
    monkeypatch.setattr(recipes, "training_code_digest", lambda: "edited-trainer")
    after = train_recipe("overconfident", "tiny", **kwargs)
    assert after != before and (after / "model.safetensors").is_file()


def test_training_code_digest_reads_the_modules_that_train() -> None:
    from robustscope.train import recipes

    assert len(recipes.training_code_digest()) == 16
    for module in ("robustscope.train.trainer", "robustscope.train.augment", "robustscope.shifts.corruptions.weather"):
        assert module in recipes._TRAINING_CODE


def test_cli_train_recipe_writes_where_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    argv = ["-q", "train", "--recipe", "overconfident", "--world", "tiny", "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    assert (out / "model.safetensors").is_file()
    assert "planted failure: calibration" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train"], "needs --data and --out, or --recipe"),
        (["train", "--recipe", "clean", "--data", "synth:tiny:test-id"], "drop --data"),
        (["train", "--recipe", "cleen"], "unknown training recipe 'cleen'"),
    ],
)
def test_cli_train_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
