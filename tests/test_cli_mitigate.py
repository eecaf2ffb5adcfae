"""``robustscope mitigate``: each sub-command saves a model that ``robustscope run --model file:OUT`` evaluates, with
the head a direct library call fits on the same features; bad inputs exit 2 with one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from safetensors.numpy import load_file
from safetensors.torch import save_file

from robustscope.cli import main
from robustscope.config import workspace
from robustscope.data.base import Dataset
from robustscope.data.registry import load_dataset
from robustscope.engine.features import extract_features
from robustscope.engine.result_store import ResultStore
from robustscope.mitigate.dfr import fit_dfr
from robustscope.mitigate.pipeline import groups_of
from robustscope.models import load_model
from robustscope.models.smallcnn import SmallCNN


def _write_split(root: Path, n: int, seed: int, agree: float) -> str:
    """A CSV set of 8-px images: red channel = the class, blue = a ``place`` that agrees with it ``agree`` of
    the time (a spurious factor), plus noise. Returns its ``csv:`` spec."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    rows = []
    for i in range(n):
        label = i % 2
        place = label if rng.random() < agree else 1 - label
        pixels = np.clip(np.stack([np.full((8, 8), 60 + 120 * label), rng.integers(0, 255, (8, 8)),
                                   np.full((8, 8), 40 + 160 * place)], -1) + rng.normal(0, 25, (8, 8, 3)), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(root / f"{i:03d}.png")
        rows.append({"filename": f"{i:03d}.png", "label": ["a", "b"][label], "place": ["land", "water"][place]})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    (root / "classes.txt").write_text("a\nb\n")
    return f"csv:{root / 'labels.csv'}"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("mitigate-cli")
    model = root / "model"  # named in its config: the saved heads must record file:PATH, not the name
    model.mkdir()
    save_file(SmallCNN(2, width=4, depth=2).state_dict(), str(model / "model.safetensors"))
    (model / "config.json").write_text(json.dumps({"arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 2},
                                                  "labels": ["a", "b"], "name": "toy-cnn",
                                                  "preprocessing": {"input_size": 8, "crop_pct": 1.0}}))
    return {"root": str(root), "model": f"file:{model}", "train": _write_split(root / "train", 48, 0, 0.9),
            "val": _write_split(root / "val", 40, 1, 0.5)}  # fmt: skip


def test_dfr_saves_a_model_run_evaluates(setup: dict[str, str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    ws, out = tmp_path / "ws", tmp_path / "dfr"
    argv = ["--workspace", str(ws), "-q", "mitigate", "dfr", "--model", setup["model"], "--train-data",
            setup["train"], "--val-data", setup["val"], "--group-by", "place", "--out", str(out), "--seed", "3"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "chosen C" in printed and "worst group, val" in printed and f"robustscope run --model file:{out}" in printed
    assert "shards computed" in printed
    # the saved head is what fit_dfr gives on the same cached features, groups and seed
    model = load_model(setup["model"])
    train = extract_features(model, _data(setup["train"]), store=workspace(ws), progress=False)
    val = extract_features(model, _data(setup["val"]), store=workspace(ws), progress=False)
    assert train.shards_computed == val.shards_computed == 0  # the CLI stored them in its workspace
    direct = fit_dfr(val.features, val.labels, groups_of(val, "place"), train_features=train.features, seed=3)
    head = load_file(str(out / "head.safetensors"))
    np.testing.assert_allclose(head["weight"], direct.weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(head["bias"], direct.bias, rtol=1e-5, atol=1e-6)
    assert re.search(rf"^chosen C +{direct.c:g} \(", printed, re.M)
    # a second run reuses every feature shard
    assert main([*argv[:-2], "--seed", "3", "--out", str(tmp_path / "again")]) == 0
    assert "0 shards computed" in capsys.readouterr().out
    # robustscope run evaluates the saved folder like any model; its rows land in the result store
    assert main(["--workspace", str(ws), "-q", "run", "--model", f"file:{out}", "--data", setup["val"],
                 "--metric", "top1", "--slice-by", "none", "--n-resamples", "0"]) == 0
    rows = ResultStore(workspace(ws).results_db).query()
    logits = val.features.astype(np.float64) @ direct.weight.T.astype(np.float64) + direct.bias
    top1 = rows[rows["metric"] == "top1"]["value"].iloc[0]
    assert top1 == pytest.approx((logits.argmax(1) == val.labels).mean())


def _data(spec: str) -> Dataset:
    return load_dataset(spec)


@pytest.mark.parametrize(("extra", "message"), [
    (["--group-by", "place"], "pass --val-data"),
    (["--group-by", "colour", "--val-data", "VAL"], "--group-by 'colour' is not a factor"),
    (["--val-data", "VAL"], "pass --group-by"),
])  # fmt: skip
def test_bad_inputs_exit_2_with_one_line(setup: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         extra: list[str], message: str) -> None:  # fmt: skip
    extra = [setup["val"] if value == "VAL" else value for value in extra]
    argv = ["--workspace", str(tmp_path / "ws"), "-q", "mitigate", "dfr", "--model", setup["model"],
            "--train-data", setup["train"], "--out", str(tmp_path / "out"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("robustscope: error:")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("command", "extra", "fit", "options"), [
    ("last-layer", ["--balanced", "--group-by", "place"], "group_balanced", {}),
    ("groupdro", ["--group-by", "place", "--step-size", "0.5"], "group_dro", {"step_size": 0.5}),
    ("jtt", ["--up-weight", "7"], "jtt", {"up_weight": 7}),
])  # fmt: skip
def test_last_layer_commands_fit_what_the_library_fits(setup: dict[str, str], tmp_path: Path, command: str,
                                                       extra: list[str], fit: str, options: dict[str, float],
                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from robustscope.mitigate import last_layer
    from robustscope.mitigate.pipeline import base_head_init
    from robustscope.models.features import split_model

    ws, out = tmp_path / "ws", tmp_path / command
    assert main(["--workspace", str(ws), "-q", "mitigate", command, "--model", setup["model"], "--train-data",
                 setup["train"], "--val-data", setup["val"], "--out", str(out), "--seed", "2", "--epochs", "4",
                 *extra]) == 0
    printed = capsys.readouterr().out
    assert "worst group, train" in printed and "worst group, val" in printed and "epochs              4" in printed
    # the same fit called directly: epochs, seed, groups, options and the base head as the start all passed on
    model = load_model(setup["model"])
    train = extract_features(model, _data(setup["train"]), store=workspace(ws), progress=False)
    arguments = {"config": last_layer.LastLayerConfig(epochs=4, seed=2),
                 "init": base_head_init(split_model(model), train.class_names), **options}  # fmt: skip
    if fit != "jtt":
        arguments["groups"] = groups_of(train, "place")
    direct = getattr(last_layer, f"fit_{fit}")(train.features, train.labels, **arguments)
    head = load_file(str(out / "head.safetensors"))
    np.testing.assert_allclose(head["weight"], direct.weight, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(head["bias"], direct.bias, rtol=1e-5, atol=1e-6)
    assert main(["--workspace", str(ws), "-q", "run", "--model", f"file:{out}", "--data", setup["val"],
                 "--metric", "top1", "--slice-by", "none", "--n-resamples", "0"]) == 0


def test_lle_with_a_shift_augmentation(setup: dict[str, str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    ws, out = tmp_path / "ws", tmp_path / "lle"
    assert main(["--workspace", str(ws), "-q", "mitigate", "lle", "--model", setup["model"], "--train-data",
                 setup["train"], "--augment", "noise=corruption:gaussian_noise:3", "--out", str(out),
                 "--epochs", "3"]) == 0
    assert "original (48 images), noise (48 images)" in capsys.readouterr().out
    model = load_model(f"file:{out}")
    assert model.labels == ["a", "b"] and model.metadata["method"] == "lle"
    assert sorted(load_file(str(out / "head.safetensors"))) == ["heads.0.bias", "heads.0.weight", "heads.1.bias",
                                                                "heads.1.weight", "shift.bias", "shift.weight"]
    assert main(["--workspace", str(ws), "-q", "run", "--model", f"file:{out}", "--data", setup["train"],
                 "--metric", "top1", "--slice-by", "none", "--n-resamples", "0"]) == 0
    for bad, message in ((["--augment", "noise"], "expected NAME=SPEC"), ([], "needs augmentations")):
        argv = ["--workspace", str(ws), "-q", "mitigate", "lle", "--model", setup["model"], "--train-data",
                setup["train"], "--out", str(tmp_path / "bad"), *bad]
        assert main(argv) == 2
        assert message in capsys.readouterr().err
