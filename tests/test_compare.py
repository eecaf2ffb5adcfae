"""Paired bootstrap comparison of two models: the metric-level test, the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

import robustscope
from conftest import write_colour_folder
from robustscope.api import Comparison
from robustscope.cli import main
from robustscope.metrics.bootstrap import paired_bootstrap_test
from robustscope.metrics.registry import compare_metric
from test_api import COLOURS, colour_model


def _two_models(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    logits_a = rng.normal(size=(n, 4)) + 2.5 * np.eye(4)[labels]  # the better model
    logits_b = rng.normal(size=(n, 4)) + 0.8 * np.eye(4)[labels]
    return logits_a, logits_b, labels


def test_top1_comparison_is_the_paired_test_on_per_sample_correctness() -> None:
    a, b, y = _two_models()
    result = compare_metric("top1", a, b, y, n_resamples=2000, seed=3)
    correct_a, correct_b = (a.argmax(1) == y).astype(float), (b.argmax(1) == y).astype(float)
    reference = paired_bootstrap_test(correct_a, correct_b, n_resamples=2000, seed=3)
    assert result.difference == pytest.approx(correct_a.mean() - correct_b.mean())
    assert result.ci == pytest.approx(reference.ci) and result.p_value == pytest.approx(reference.p_value)
    assert result.ci[0] > 0 and result.p_value < 0.01


def test_ece_difference_matches_torchmetrics_and_swapping_negates_it() -> None:
    a, b, y = _two_models(seed=1)
    result = compare_metric("ece", a, b, y, n_resamples=500)

    def ece(logits: np.ndarray) -> float:
        probs = torch.softmax(torch.from_numpy(logits), dim=1)
        return float(multiclass_calibration_error(probs, torch.from_numpy(y), num_classes=4, n_bins=15, norm="l1"))

    assert result.difference == pytest.approx(ece(a) - ece(b), abs=1e-6)
    swapped = compare_metric("ece", b, a, y, n_resamples=500)
    assert swapped.difference == pytest.approx(-result.difference)
    assert swapped.ci == pytest.approx((-result.ci[1], -result.ci[0]))
    assert swapped.p_value == pytest.approx(result.p_value)


def test_a_model_against_itself_is_no_difference() -> None:
    a, _, y = _two_models()
    result = compare_metric("nll", a, a, y, n_resamples=200)
    assert result.difference == 0.0 and result.ci == (0.0, 0.0) and result.p_value == 1.0
    with pytest.raises(ValueError, match="shape"):
        compare_metric("top1", a, a[:, :3], y)


def test_compare_api_on_two_models(tmp_path: Path) -> None:
    data = f"folder:{write_colour_folder(tmp_path / 'd', COLOURS, per_class=12, seed=5)}"
    right = colour_model()
    wrong = colour_model(["green", "blue", "red"])  # labels swapped: wrong on blue and green
    result = robustscope.compare(right, wrong, data, metric="top1", n_resamples=2000, progress=False)
    assert isinstance(result, Comparison)
    assert (result.value_a, result.n) == (1.0, 36) and result.value_b == pytest.approx(1 / 3)
    assert result.difference == pytest.approx(2 / 3) and result.p_value < 0.01
    assert result.verdict().startswith(f"{right.name} beats {wrong.name} on top1")
    # NLL: lower is better, so the better model has the negative difference and still wins
    nll = robustscope.compare(wrong, right, data, metric="nll", n_resamples=500, progress=False)
    assert nll.difference > 0 and not nll.higher_is_better
    assert nll.verdict().startswith(f"{right.name} beats {wrong.name} on nll")
    calls = right.network.calls
    robustscope.compare(right, wrong, data, metric="ece", n_resamples=100, progress=False)
    assert right.network.calls == calls  # predictions come from the store


def _save_torchscript(model: robustscope.Model, folder: Path) -> str:
    folder.mkdir()
    torch.jit.script(model.network).save(str(folder / "model.pt"))
    config = {"labels": model.labels, "preprocessing": model.preprocessing.to_dict(), "format": "torchscript"}
    (folder / "config.json").write_text(json.dumps(config))
    return f"file:{folder / 'model.pt'}"


def test_cli_compare_prints_a_verdict_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = f"folder:{write_colour_folder(tmp_path / 'd', COLOURS, per_class=10)}"
    right = _save_torchscript(colour_model(), tmp_path / "right")
    wrong = _save_torchscript(colour_model(["green", "blue", "red"]), tmp_path / "wrong")
    assert main(["-q", "compare", right, wrong, "--data", data, "--n-resamples", "500"]) == 0
    out = capsys.readouterr().out
    assert "beats" in out and "n = 30" in out
    assert main(["-q", "compare", right, right, "--data", data, "--format", "json", "--n-resamples", "100"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["difference"] == 0.0 and same["p_value"] == 1.0
    assert main(["compare", right, wrong, "--data", data, "--metric", "top-1"]) == 2
    assert "top1" in capsys.readouterr().err  # the near-miss suggestion
