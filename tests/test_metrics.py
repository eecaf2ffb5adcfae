"""Metrics agree with sklearn and torchmetrics; bootstrap and compute_metrics behave as documented."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import brier_score_loss, log_loss, top_k_accuracy_score
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

from robustscope.errors import UnknownNameError
from robustscope.metrics import (
    METRIC_COLUMNS,
    METRICS,
    accuracy,
    bootstrap_ci,
    brier,
    compute_metrics,
    correct_topk,
    ece,
    get_metric,
    nll,
    reliability_curve,
    softmax,
)
from robustscope.metrics.bootstrap import bootstrap_distribution
from robustscope.metrics.classification import calibration_bins, ece_batched


def random_case(seed: int, n: int = 400, k: int = 10, scale: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Random logits with a signal towards the label, so accuracy and confidence spread out."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) * scale
    logits[np.arange(n), labels] += rng.uniform(0, 2 * scale, size=n)
    return logits, labels


def tm_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    metric = MulticlassCalibrationError(num_classes=probs.shape[1], n_bins=n_bins, norm="l1")
    return float(metric(torch.from_numpy(probs), torch.from_numpy(labels)))


# ------------------------------------------------------------------------------------------------
# Accuracy
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 5])
def test_accuracy_matches_sklearn_and_torchmetrics(seed: int, k: int) -> None:
    logits, labels = random_case(seed)
    ours = accuracy(logits, labels, k=k)
    sk = top_k_accuracy_score(labels, logits, k=k, labels=np.arange(10))
    tm = MulticlassAccuracy(num_classes=10, top_k=k, average="micro")(
        torch.from_numpy(logits), torch.from_numpy(labels)
    )
    assert ours == pytest.approx(sk, abs=1e-12)
    assert ours == pytest.approx(float(tm), abs=1e-6)
    # Probabilities rank like logits.
    assert accuracy(softmax(logits), labels, k=k) == pytest.approx(ours, abs=1e-12)


def test_ties_rank_lower_class_index_first() -> None:
    scores = np.array([[0.4, 0.4, 0.2], [0.4, 0.4, 0.2], [0.3, 0.3, 0.3]])
    assert correct_topk(scores, np.array([0, 1, 2]), k=1).tolist() == [True, False, False]
    assert correct_topk(scores, np.array([0, 1, 2]), k=2).tolist() == [True, True, False]
    assert correct_topk(scores, np.array([0, 1, 2]), k=3).tolist() == [True, True, True]
    # Top-1 agrees with argmax, which takes the first maximum.
    assert accuracy(scores, scores.argmax(axis=1)) == 1.0


def test_k_larger_than_classes_is_clipped() -> None:
    logits, labels = random_case(0, k=3)
    assert accuracy(logits, labels, k=5) == 1.0
    with pytest.raises(ValueError, match="positive integer"):
        accuracy(logits, labels, k=0)


# ------------------------------------------------------------------------------------------------
# ECE and reliability
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_bins", [15, 20])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ece_matches_torchmetrics_random(n_bins: int, seed: int) -> None:
    logits, labels = random_case(seed, n=1000, scale=[0.5, 1.0, 3.0, 8.0][seed])
    # float32 like a real softmax output; torchmetrics bins in float32 anyway.
    probs = softmax(logits).astype(np.float32)
    assert ece(probs, labels, n_bins=n_bins) == pytest.approx(tm_ece(probs, labels, n_bins), abs=1e-6)


def edge_probs(confidences: np.ndarray, k: int = 10) -> np.ndarray:
    """Rows whose top-1 probability (class 0) is exactly the given confidence, the rest spread evenly."""
    rest = (1.0 - confidences) / (k - 1)
    assert (rest < confidences).all()
    probs = np.repeat(rest[:, None], k, axis=1)
    probs[:, 0] = confidences
    return probs


# Edges whose float32 value in torch.linspace equals the float32 rounding of the float64 edge; at the
# others (e.g. 0.2 for 15 bins, where torch's float32 edge is 0.20000002) torchmetrics' float32
# arithmetic moves the edge itself, which is an artefact rather than a convention.
@pytest.mark.parametrize(("n_bins", "edge_ids"), [(15, [2, 4, 5, 11, 12, 13, 14, 15]), (20, [5, 10, 12, 15, 19, 20])])
def test_ece_matches_torchmetrics_on_bin_edges(n_bins: int, edge_ids: list[int]) -> None:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    tm_edges = torch.linspace(0, 1, n_bins + 1).numpy()
    assert all(tm_edges[i] == np.float32(edges[i]) for i in edge_ids)
    rng = np.random.default_rng(n_bins)
    conf = np.repeat(edges[edge_ids], 7)
    conf = np.concatenate([conf, rng.uniform(0.2, 1.0, size=50)])
    probs = edge_probs(conf)
    probs[conf == 1.0, 1:] = 0.0
    labels = np.where(rng.random(conf.size) < conf, 0, 1 + rng.integers(0, 9, size=conf.size))
    ours = ece(probs, labels, n_bins=n_bins)
    assert ours == pytest.approx(tm_ece(probs, labels, n_bins), abs=1e-6)
    # Left-closed bins: a confidence on edge i lands in bin i; exactly 1.0 in its own slot n_bins.
    assert calibration_bins(edges[edge_ids], n_bins).tolist() == edge_ids


def test_ece_confidence_one_is_its_own_bin_like_torchmetrics() -> None:
    # Two samples at 0.95 (both right) and two at 1.0 (one wrong): with a merged last bin the ECE would be
    # |0.75 - 0.975| * 1 = 0.225; with the separate slot it is |1 - 0.95| / 2 + |0.5 - 1| / 2 = 0.275.
    probs = edge_probs(np.array([0.95, 0.95, 1.0, 1.0]), k=2)
    labels = np.array([0, 0, 0, 1])
    assert ece(probs, labels, n_bins=10) == pytest.approx(0.275, abs=1e-12)
    assert ece(probs, labels, n_bins=10) == pytest.approx(tm_ece(probs, labels, 10), abs=1e-6)


def test_ece_tiny_hand_case() -> None:
    # n_bins=4; top-1 confidences 0.45 (class 2, wrong), 0.6 (right), 0.6 (wrong), 0.9 (right):
    # [0.25, 0.5): |0 - 0.45| * 1/4;  [0.5, 0.75): |0.5 - 0.6| * 2/4;  [0.75, 1): |1 - 0.9| * 1/4.
    probs = np.array([[0.3, 0.25, 0.45], [0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.9, 0.05, 0.05]])
    labels = np.array([0, 0, 1, 0])
    expected = 0.45 * 0.25 + 0.1 * 0.5 + 0.1 * 0.25
    assert ece(probs, labels, n_bins=4) == pytest.approx(expected, abs=1e-12)
    assert ece(probs, labels, n_bins=4) == pytest.approx(tm_ece(probs, labels, 4), abs=1e-6)


def test_reliability_curve_consistent_with_ece() -> None:
    logits, labels = random_case(5, n=800)
    probs = softmax(logits)
    curve = reliability_curve(probs, labels, n_bins=15)
    assert curve.bin_edges.shape == (16,)
    assert curve.bin_count.sum() == 800
    assert curve.ece == pytest.approx(ece(probs, labels, 15), abs=1e-12)
    filled = curve.bin_count > 0
    weighted_gap = (np.abs(curve.gap[filled]) * curve.bin_count[filled]).sum() / 800
    if (probs.max(axis=1) < 1.0).all():
        assert weighted_gap == pytest.approx(curve.ece, abs=1e-12)
    assert np.isnan(curve.bin_accuracy[~filled]).all()
    inside = (curve.bin_confidence[filled] >= curve.bin_edges[:-1][filled]) & (
        curve.bin_confidence[filled] <= curve.bin_edges[1:][filled]
    )
    assert inside.all()


# ------------------------------------------------------------------------------------------------
# NLL and Brier
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_nll_matches_sklearn_log_loss(seed: int) -> None:
    logits, labels = random_case(seed)
    probs = softmax(logits)
    assert nll(probs, labels) == pytest.approx(log_loss(labels, probs, labels=np.arange(10)), rel=1e-9)


def test_nll_clips_zero_probability() -> None:
    assert nll(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-np.log(1e-12))


def test_brier_hand_computed() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([0, 0])
    # row 0: 0.3² + 0.2² + 0.1² = 0.14; row 1: 0.9² + 0.1² + 0.8² = 1.46; mean 0.8.
    assert brier(probs, labels) == pytest.approx(0.8, abs=1e-12)


def test_brier_binary_is_twice_sklearn() -> None:
    rng = np.random.default_rng(0)
    p1 = rng.uniform(size=300)
    y = (rng.uniform(size=300) < p1).astype(int)
    probs = np.stack([1 - p1, p1], axis=1)
    assert brier(probs, y) == pytest.approx(2 * brier_score_loss(y, p1), abs=1e-12)


def test_brier_multiclass_matches_sklearn_unhalved() -> None:
    logits, labels = random_case(3)
    probs = softmax(logits)
    expected = brier_score_loss(labels, probs, labels=np.arange(10), scale_by_half=False)
    assert brier(probs, labels) == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------


def test_softmax_is_stable() -> None:
    p = softmax(np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]]))
    assert np.isfinite(p).all()
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert p[0, 0] == 1.0


@pytest.mark.parametrize(
    ("probs", "labels", "match"),
    [
        (np.array([0.5, 0.5]), np.array([0]), "2-D"),
        (np.array([[0.5, 0.5]]), np.array([0, 1]), "entries"),
        (np.array([[0.5, 0.5]]), np.array([2]), r"\[0, 2\)"),
        (np.array([[0.5, 0.5]]), np.array([-1]), r"\[0, 2\)"),
        (np.array([[0.5, 0.5]]), np.array([0.5]), "integer"),
        (np.array([[np.nan, 0.5]]), np.array([0]), "NaN"),
        (np.array([[2.0, -1.0]]), np.array([0]), "softmax"),
        (np.array([[0.6, 0.6]]), np.array([0]), "sum to 1"),
        (np.zeros((0, 3)), np.zeros(0, dtype=int), "empty"),
    ],
)
def test_bad_inputs_raise_value_error(probs: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ece(probs, labels)


def test_accuracy_accepts_logits_but_calibration_rejects_them() -> None:
    logits, labels = random_case(0, n=20)
    accuracy(logits, labels)
    for fn in (ece, nll, brier):
        with pytest.raises(ValueError, match="softmax"):
            fn(logits, labels)


# ------------------------------------------------------------------------------------------------
# Bootstrap
# ------------------------------------------------------------------------------------------------


def test_bootstrap_contains_estimate_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    correct = (rng.random(2000) < 0.7).astype(float)
    low, high = bootstrap_ci(np.mean, correct, seed=3)
    assert low < correct.mean() < high
    assert bootstrap_ci(np.mean, correct, seed=3) == (low, high)
    assert bootstrap_ci(np.mean, correct, seed=4) != (low, high)


def test_bootstrap_width_close_to_normal_approximation_and_narrows_with_n() -> None:
    rng = np.random.default_rng(2)
    widths = []
    for n in (500, 5000):
        correct = (rng.random(n) < 0.8).astype(float)
        low, high = bootstrap_ci(np.mean, correct, n_resamples=2000)
        p = correct.mean()
        normal = 2 * 1.96 * np.sqrt(p * (1 - p) / n)
        assert high - low == pytest.approx(normal, rel=0.1)
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_bootstrap_vectorized_and_looped_paths_agree() -> None:
    logits, labels = random_case(0, n=300)
    probs = softmax(logits)
    correct = correct_topk(logits, labels, 1).astype(float)
    fast = bootstrap_ci(np.mean, correct, n_resamples=200, seed=7)
    slow = bootstrap_ci(lambda s, y: accuracy(s, y), logits, labels, n_resamples=200, seed=7)
    assert fast == pytest.approx(slow, abs=1e-12)
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    batched = bootstrap_distribution(
        lambda b, c, ok: ece_batched(b, c, ok, 15),
        calibration_bins(conf, 15),
        conf,
        (pred == labels).astype(float),
        n_resamples=50,
        vectorized=True,
    )
    looped = bootstrap_distribution(lambda p, y: ece(p, y, 15), probs, labels, n_resamples=50)
    np.testing.assert_allclose(batched, looped, atol=1e-12)


def test_bootstrap_accuracy_is_fast() -> None:
    correct = (np.random.default_rng(0).random(10_000) < 0.6).astype(float)
    start = time.perf_counter()
    bootstrap_ci(np.mean, correct, n_resamples=1000)
    assert time.perf_counter() - start < 2.0  # typically ~60 ms; generous for a shared CI box


def test_bootstrap_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="same number of rows"):
        bootstrap_ci(lambda a, b: 0.0, np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(np.mean, np.zeros(3), confidence=1.5)
    with pytest.raises(ValueError, match="empty"):
        bootstrap_ci(np.mean, np.zeros(0))


# ------------------------------------------------------------------------------------------------
# Registry and compute_metrics
# ------------------------------------------------------------------------------------------------


def test_registry_has_the_v1_metrics() -> None:
    assert {"top1", "top5", "ece", "ece20", "nll", "brier"} <= set(METRICS.keys())
    assert get_metric("ece").protocol["parameters"]["n_bins"] == 15
    assert get_metric("ece20").protocol["parameters"]["n_bins"] == 20
    assert get_metric("top1").protocol["higher_is_better"] is True
    assert get_metric("nll").protocol["higher_is_better"] is False


def test_unknown_metric_suggests_near_misses() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_metric("ece_20")
    assert "ece20" in info.value.suggestions
    with pytest.raises(UnknownNameError, match="top1"):
        compute_metrics(*random_case(0, n=10), None, ["tpo1"])


@pytest.fixture
def sliced_case() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    logits, labels = random_case(11, n=600)
    rng = np.random.default_rng(11)
    factors = pd.DataFrame(
        {
            "pose": rng.choice(["front", "side", "back"], size=600),
            "size": rng.integers(1, 4, size=600),
            "occluded": rng.random(600) < 0.3,
        },
        index=np.arange(1000, 1600),  # a non-default index must not confuse the slicing
    )
    return logits, labels, factors


def test_compute_metrics_whole_set_and_slices(sliced_case: tuple[np.ndarray, np.ndarray, pd.DataFrame]) -> None:
    logits, labels, factors = sliced_case
    names = ["top1", "top5", "ece", "ece20", "nll", "brier"]
    table = compute_metrics(logits, labels, factors, names, slice_by=["pose", "size", "occluded"], n_resamples=200)
    assert list(table.columns) == METRIC_COLUMNS
    probs = softmax(logits)
    by_hand = {
        "top1": lambda s: accuracy(logits[s], labels[s]),
        "top5": lambda s: accuracy(logits[s], labels[s], k=5),
        "ece": lambda s: ece(probs[s], labels[s], 15),
        "ece20": lambda s: ece(probs[s], labels[s], 20),
        "nll": lambda s: nll(probs[s], labels[s]),
        "brier": lambda s: brier(probs[s], labels[s]),
    }
    whole = table[table.slice_factor == ""]
    assert whole.metric.tolist() == names
    assert (whole.slice_value == "").all()
    assert (whole.n == 600).all()
    for row in table.itertuples():
        if row.slice_factor:
            mask = factors[row.slice_factor].astype(str).to_numpy() == row.slice_value
        else:
            mask = np.ones(600, dtype=bool)
        assert row.n == mask.sum()
        assert row.value == pytest.approx(by_hand[row.metric](mask), abs=1e-12)
        assert row.ci_low <= row.ci_high
        if not row.metric.startswith("ece"):  # ECE is biased, its percentile CI may exclude the estimate
            assert row.ci_low <= row.value + 1e-12 and row.value - 1e-12 <= row.ci_high
    pose = table[(table.metric == "top1") & (table.slice_factor == "pose")]
    assert pose.slice_value.tolist() == ["back", "front", "side"]
    assert set(table[table.slice_factor == "size"].slice_value) == {"1", "2", "3"}
    assert set(table[table.slice_factor == "occluded"].slice_value) == {"False", "True"}
    protocol = json.loads(whole[whole.metric == "ece"].protocol.iloc[0])
    assert protocol["name"] == "ece"
    assert protocol["ci"] == {
        "method": "percentile bootstrap",
        "n_resamples": 200,
        "confidence": 0.95,
        "seed": 0,
        "resampling": "samples (rows) with replacement, within each slice",
    }


def test_compute_metrics_fast_ci_equals_generic_bootstrap() -> None:
    logits, labels = random_case(4, n=300)
    table = compute_metrics(logits, labels, None, ["top1", "ece", "nll"], n_resamples=100, seed=5)
    probs = softmax(logits)
    generic = {
        "top1": bootstrap_ci(lambda s, y: accuracy(s, y), logits, labels, n_resamples=100, seed=5),
        "ece": bootstrap_ci(lambda p, y: ece(p, y), probs, labels, n_resamples=100, seed=5),
        "nll": bootstrap_ci(nll, probs, labels, n_resamples=100, seed=5),
    }
    for row in table.itertuples():
        assert (row.ci_low, row.ci_high) == pytest.approx(generic[row.metric], abs=1e-12)


def test_compute_metrics_top5_with_few_classes_clips_k() -> None:
    logits, labels = random_case(0, n=50, k=3)
    table = compute_metrics(logits, labels, None, ["top5"], n_resamples=0)
    row = table.iloc[0]
    assert row.value == 1.0
    assert np.isnan(row.ci_low) and np.isnan(row.ci_high)
    params = json.loads(row.protocol)["parameters"]
    assert params["k"] == 3 and params["k_requested"] == 5


def test_compute_metrics_without_slicing_and_bad_arguments() -> None:
    logits, labels = random_case(0, n=30)
    factors = pd.DataFrame({"pose": ["a"] * 30})
    assert len(compute_metrics(logits, labels, factors, ["top1", "nll"], n_resamples=0)) == 2
    with pytest.raises(ValueError, match="unknown factor"):
        compute_metrics(logits, labels, factors, ["top1"], slice_by=["psoe"])
    with pytest.raises(ValueError, match="needs a factors table"):
        compute_metrics(logits, labels, None, ["top1"], slice_by=["pose"])
    bad = logits.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics(bad, labels, None, ["top1"])


def test_compute_metrics_skips_missing_factor_values() -> None:
    logits, labels = random_case(0, n=6)
    factors = pd.DataFrame({"region": ["eu", None, "af", "eu", np.nan, "af"]})
    table = compute_metrics(logits, labels, factors, ["top1"], slice_by=["region"], n_resamples=0)
    assert table.slice_value.tolist() == ["", "af", "eu"]
    assert table.n.tolist() == [6, 2, 2]


def test_binned_continuous_factor_slices_match_hand_computed_bins() -> None:
    from robustscope.metrics.slicing import slicing_frame

    yaw = np.array([-170.0, -100.0, -10.0, 0.0, 20.0, 90.0, 150.0, 175.0, -180.0, 180.0, 30.0, 60.0, 5.0, -45.0])
    labels = np.zeros(len(yaw), dtype=int)
    correct = np.abs(yaw) < 60  # the model is right only near the canonical pose
    logits = np.where(correct[:, None], [[1.0, 0.0]], [[0.0, 1.0]])
    factors = pd.DataFrame({"yaw": yaw, "constant": 1.0})
    frame = slicing_frame(factors, "all", n_bins=3)
    assert list(frame.columns) == ["yaw"]  # a constant factor is not sliced
    table = compute_metrics(logits, labels, frame, ["top1"], slice_by=["yaw"], n_resamples=0)
    by_bin = dict(zip(table.slice_value, table.value, strict=True))
    edges = [-180, -60, 60, 180]
    for low, high, label in zip(edges, edges[1:], ["[-180, -60)", "[-60, 60)", "[60, 180]"], strict=False):
        inside = (yaw >= low) & ((yaw < high) if high < 180 else (yaw <= high))
        assert by_bin[label] == pytest.approx(correct[inside].mean())
    assert table.slice_value.tolist() == ["", "[-180, -60)", "[-60, 60)", "[60, 180]"]
