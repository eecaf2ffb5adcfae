"""The capacity family (issue 12 §3): members differ from the clean recipe only in width and epochs, and the
effective-robustness fit and progress gap across a tiny trained family equal a direct numpy fit of the same points."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from robustscope.studies.capacity import family_points, run_family, summarise_family, write_family
from robustscope.train.capacity import CapacityMember, capacity_family
from robustscope.train.recipes import DEFAULT_ARCH_KWARGS


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def test_family_grows_in_width_and_epochs_only() -> None:
    family = capacity_family()
    assert len({(m.width, m.epochs) for m in family}) == len(family) >= 4
    assert {m.width for m in family} >= {8, 16, 32, 64}
    for member in family:
        assert member.arch_kwargs == {**DEFAULT_ARCH_KWARGS, "width": member.width}


def test_family_points_read_reference_standard_and_geographic_rows() -> None:
    def row(axis: str, dataset: str, value: float, metric: str = "top1", shift: str = "none",
            protocol: str = "{}") -> dict:
        return {"model": "m", "axis": axis, "dataset": dataset, "metric": metric, "shift": shift,
                "slice_factor": "", "value": value, "protocol": protocol}

    rows = pd.DataFrame([
        row("calibration", "synth:demo:test-id", 0.9), row("calibration", "synth:demo:test-pose", 0.4),
        row("corruptions", "synth:demo:test-id", 0.6, "mean_corruption_top1", "summary"),
        row("geography", "synth:geo:test", 0.7, protocol=json.dumps({"kind": "geographic"})),
        row("geography", "synth:geo:test", 0.99, metric="top5", protocol=json.dumps({"kind": "geographic"})),
        row("calibration", "synth:demo:test-lighting", 0.1) | {"slice_factor": "background"},  # a slice: ignored
    ])  # fmt: skip
    points = family_points(rows)
    assert points.set_index("benchmark")["acc"].to_dict() == {
        "demo:test-pose": 0.4, "demo:test-id+corruptions": 0.6, "geo:test": 0.7}
    assert set(points["kind"]) == {"standard", "geographic"} and (points["imagenet_acc"] == 0.9).all()


@pytest.fixture(scope="module")
def bigger_tiny_world(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny world with a 96-image train-diverse (fast to train on) and 64-image test-id and test-pose splits:
    accuracies fine enough that three small models rarely tie (the fit needs two distinct x)."""
    spec = yaml.safe_load((resources.files("robustscope.synth") / "worlds" / "tiny.yaml").read_text())
    spec["name"] = "tiny-family"
    spec["splits"] = {name: spec["splits"][name] for name in ("train-diverse", "test-id", "test-pose")}
    for name, n in (("train-diverse", 96), ("test-id", 64), ("test-pose", 64)):
        spec["splits"][name] = {**spec["splits"][name], "n": n}
    path = tmp_path_factory.mktemp("world") / "tiny-family.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_tiny_family_fit_equals_numpy_polyfit(bigger_tiny_world: str, isolated_workspace: Path) -> None:
    members = [CapacityMember("w4-e1", 4, 1), CapacityMember("w8-e2", 8, 2), CapacityMember("w8-e3", 8, 3)]
    result = run_family(bigger_tiny_world, members=members, clones_axes=[], corruptions=False, n_resamples=50,
                        workers=1, progress=False)  # fmt: skip
    assert list(result.models["member"]) == ["w4-e1", "w8-e2", "w8-e3"]
    points = result.points[result.points["benchmark"] == "tiny-family:test-pose"].sort_values("model")
    assert len(points) == 3
    x, y = points["imagenet_acc"].to_numpy(), points["acc"].to_numpy()
    assert len(np.unique(x)) >= 2, f"the three models tie on test-id ({x}): no line to fit"
    fit = result.fits.set_index("benchmark").loc["tiny-family:test-pose"]
    slope, intercept = np.polyfit(_logit(x), _logit(y), 1)
    assert fit["slope"] == pytest.approx(slope, abs=1e-9) and fit["intercept"] == pytest.approx(intercept, abs=1e-9)
    assert fit["slope_ci_low"] <= fit["slope"] <= fit["slope_ci_high"]
    # each model's effective robustness is its residual from that line, in logit units
    residuals = result.robustness[result.robustness["benchmark"] == "tiny-family:test-pose"].sort_values("model")
    np.testing.assert_allclose(residuals["effective_robustness"], _logit(y) - (slope * _logit(x) + intercept),
                               atol=1e-9)  # fmt: skip
    linear = result.linear_slopes.set_index("benchmark").loc["tiny-family:test-pose", "slope"]
    assert linear == pytest.approx(np.polyfit(x, y, 1)[0], abs=1e-9)
    written = write_family(result, isolated_workspace / "gap")
    assert {p.name for p in written} >= {"family_fits.csv", "progress_gap.md"}
    fits_csv = pd.read_csv(isolated_workspace / "gap" / "family_fits.csv")
    assert fits_csv.loc[fits_csv["benchmark"] == "tiny-family:test-pose", "models"].item() == 3
    assert "pass --geo-world" in (isolated_workspace / "gap" / "progress_gap.md").read_text()  # no geographic set


def test_progress_gap_is_the_ratio_of_the_two_linear_slopes() -> None:
    """Hand-filled points: gap = slope(standard) / slope(geographic), each a numpy least-squares slope."""
    x = np.array([0.5, 0.6, 0.7, 0.8])
    standard, geographic = np.array([0.2, 0.35, 0.45, 0.62]), np.array([0.40, 0.43, 0.47, 0.49])
    points = pd.DataFrame({"model": list("abcd") * 2, "imagenet_acc": np.r_[x, x],
                           "benchmark": ["w:test-pose"] * 4 + ["geo:test"] * 4,
                           "kind": ["standard"] * 4 + ["geographic"] * 4, "acc": np.r_[standard, geographic]})
    gaps = summarise_family(points, n_resamples=200)["gaps"]
    expected = np.polyfit(x, standard, 1)[0] / np.polyfit(x, geographic, 1)[0]
    assert gaps["progress_gap"].item() == pytest.approx(expected, rel=1e-9)
    assert gaps["ci_low"].item() <= expected <= gaps["ci_high"].item()
