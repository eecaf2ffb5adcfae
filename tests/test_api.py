"""The Python API and the CLI end to end on a small ImageFolder and a module-wrapped model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import robustscope
from conftest import write_colour_folder
from robustscope.cli import main
from robustscope.engine import ResultStore
from robustscope.errors import LabelSpaceError, NonFiniteLogitsError, UnknownNameError
from robustscope.metrics.classification import accuracy

COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}
RESULT_COLUMNS = [
    "model", "model_fingerprint", "dataset", "dataset_fingerprint", "shift", "metric", "slice_factor",
    "slice_value", "value", "ci_low", "ci_high", "n", "protocol", "prediction_key", "versions", "created_at",
    "suite", "axis", "shift_params", "private", "private_protocol",
]


class MeanColour(nn.Module):
    """Logits = mean of each channel: the right answer for pure-colour classes blue, green, red."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(4.0))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        means = x.mean(dim=(2, 3))
        return self.scale * means[:, [2, 1, 0]]  # channel order r,g,b → labels blue, green, red


def colour_model(labels: list[str] | None = None) -> robustscope.Model:
    pre = robustscope.Preprocessing(input_size=16, crop_pct=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return robustscope.Model.from_module(MeanColour(), preprocessing=pre, labels=labels or list(COLOURS))


def test_evaluate_returns_the_result_schema_and_stores_it(tmp_path: Path, isolated_workspace: Path) -> None:
    data = robustscope.load_dataset(f"folder:{write_colour_folder(tmp_path / 'd', COLOURS, per_class=5)}")
    model = colour_model()
    table = robustscope.evaluate(model, data, metrics=["top1", "ece", "nll"], n_resamples=200, progress=False)
    assert list(table.columns) == RESULT_COLUMNS
    top1 = table.query("metric == 'top1' and slice_factor == ''").iloc[0]
    assert top1["value"] == 1.0 and top1["n"] == 15
    assert top1["ci_low"] <= top1["value"] <= top1["ci_high"]
    assert json.loads(top1["protocol"])
    stored = ResultStore(isolated_workspace / "results.duckdb").query()
    assert len(stored) == len(table)


def test_second_evaluate_costs_no_forward_pass(tmp_path: Path) -> None:
    data = robustscope.load_dataset(f"folder:{write_colour_folder(tmp_path / 'd', COLOURS, per_class=4)}")
    model = colour_model()
    first = robustscope.evaluate(model, data, metrics=["top1"], progress=False, n_resamples=50)
    calls = model.network.calls
    assert calls > 0
    second = robustscope.evaluate(model, data, metrics=["top1"], progress=False, n_resamples=50)
    assert model.network.calls == calls
    assert first["value"].tolist() == second["value"].tolist()


def test_metric_values_match_a_bare_loop(tmp_path: Path) -> None:
    """The harness's accuracy equals accuracy over logits from a plain loop over the files."""
    write_colour_folder(tmp_path / "d", COLOURS, per_class=4, seed=3)
    data = robustscope.load_dataset(f"folder:{tmp_path / 'd'}")
    model = colour_model(["green", "blue", "red"])  # deliberately wrong order: some mistakes
    table = robustscope.evaluate(model, data, metrics=["top1"], slice_by=None, progress=False, n_resamples=10)
    logits, labels = [], []
    index = model.label_index()
    for i in range(len(data)):
        x = model.preprocessing.to_tensor(data.load_image(i))[None]
        logits.append(model(x).detach().numpy()[0])
        labels.append(index[data.class_names()[i]])
    assert table["value"].iloc[0] == pytest.approx(accuracy(np.array(logits), np.array(labels)))


def test_label_outside_label_space_is_a_clear_error(tmp_path: Path) -> None:
    data = robustscope.load_dataset(f"folder:{write_colour_folder(tmp_path / 'd', COLOURS, per_class=1)}")
    with pytest.raises(LabelSpaceError, match="red"):
        robustscope.evaluate(colour_model(["blue", "green", "rouge"]), data, progress=False)


def test_nan_logits_are_a_clear_error(tmp_path: Path) -> None:
    data = robustscope.load_dataset(f"folder:{write_colour_folder(tmp_path / 'd', COLOURS, per_class=1)}")
    model = colour_model()
    with torch.no_grad():
        model.network.scale.fill_(float("nan"))
    with pytest.raises(NonFiniteLogitsError):
        robustscope.evaluate(model, data, progress=False)


def test_unknown_metric_and_factor_suggest_near_misses(tmp_path: Path) -> None:
    data = robustscope.load_dataset(f"folder:{write_colour_folder(tmp_path / 'd', COLOURS, per_class=1)}")
    with pytest.raises(UnknownNameError, match="top1"):
        robustscope.evaluate(colour_model(), data, metrics=["topp1"], progress=False)
    with pytest.raises(UnknownNameError):
        robustscope.evaluate(colour_model(), data, slice_by=["no_such_factor"], progress=False)


def test_cli_run_with_bad_image_skip_and_results_export(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_colour_folder(tmp_path / "d", COLOURS, per_class=3)
    broken = root / "red" / "001.png"
    broken.write_bytes(broken.read_bytes()[:30])
    model = colour_model()
    scripted = torch.jit.script(model.network)
    (tmp_path / "m").mkdir()
    scripted.save(str(tmp_path / "m" / "model.pt"))
    config = {"labels": model.labels, "preprocessing": model.preprocessing.to_dict(), "format": "torchscript"}
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))

    args = ["-q", "run", "--model", f"file:{tmp_path / 'm' / 'model.pt'}", "--data", f"folder:{root}",
            "--metric", "top1", "--n-resamples", "20"]
    assert main(args) == 2  # the corrupt image stops the run …
    assert "001.png" in capsys.readouterr().err
    assert main([*args, "--on-bad-image", "skip"]) == 0  # … unless asked to skip it
    assert "skipped 1 unreadable image" in capsys.readouterr().out
    assert main(["results", "--format", "json", "--out", str(tmp_path / "r.json")]) == 0
    rows = json.loads((tmp_path / "r.json").read_text())
    assert rows and rows[0]["n"] == 8


def test_cli_unknown_model_suggests_and_lists_work(capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--model", "timn:resnet18", "--data", "folder:/nowhere"]) == 2
    assert "timm:resnet18" in capsys.readouterr().err
    for what in ("models", "datasets", "metrics", "shifts", "corruptions", "worlds"):
        assert main(["list", what]) == 0


def test_cli_render_train_run_report_round_trip(tmp_path: Path, isolated_workspace: Path) -> None:
    """The commands a newcomer types, chained: render a split, train on it, evaluate, report, export."""
    renders = tmp_path / "renders"
    render = ["-q", "synth", "render", "tiny", "--split", "train-narrow", "--out", str(renders), "--workers", "1"]
    assert main(render) == 0
    labels = renders / "labels.csv"
    assert labels.is_file() and (renders / "world.json").is_file()
    assert (renders / "classes.txt").read_text().split() == ["sphere", "cube", "torus", "cone"]
    model_dir = tmp_path / "model"
    assert main(["-q", "train", "--data", f"csv:{labels}", "--out", str(model_dir), "--epochs", "1",
                 "--image-size", "32"]) == 0
    assert (model_dir / "model.safetensors").is_file()
    assert main(["-q", "run", "--model", f"file:{model_dir}", "--data", f"csv:{labels}", "--metric", "top1", "ece",
                 "--n-resamples", "20"]) == 0
    report = tmp_path / "report.html"
    assert main(["-q", "report", "--out", str(report)]) == 0
    assert "Model comparison" in report.read_text()
    assert main(["results", "--format", "csv", "--out", str(tmp_path / "r.csv")]) == 0
    assert "top1" in (tmp_path / "r.csv").read_text()
