"""Metrics of the robustness axes: OOD detection, calibration, shape/context/background bias, corruptions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from robustscope.metrics.bias import (
    background_gap,
    context_bias,
    decision_16,
    shape_bias,
    shape_bias_from_decisions,
)
from robustscope.metrics.calibration import adaptive_ece, classwise_ece
from robustscope.metrics.classification import ece
from robustscope.metrics.corruption import (
    ALEXNET_CLEAN_ERROR,
    IMAGENET_C_CORRUPTIONS,
    alexnet_errors,
    corruption_errors,
    mce,
    per_corruption_ce,
    relative_mce,
)
from robustscope.metrics.ood import aupr, auroc, fpr_at_tpr, ood_score

# ------------------------------------------------------------------------------------------------
# OOD
# ------------------------------------------------------------------------------------------------


def _sk_fpr(id_s: np.ndarray, ood_s: np.ndarray, tpr: float) -> float:
    y = np.r_[np.ones(id_s.size), np.zeros(ood_s.size)]
    fpr, tpr_curve, _ = roc_curve(y, np.r_[id_s, ood_s], drop_intermediate=False)
    return float(fpr[np.flatnonzero(tpr_curve >= tpr)[0]])


def _score_pairs():
    rng = np.random.default_rng(0)
    yield rng.normal(1.0, 1.0, 200), rng.normal(0.0, 1.0, 150)  # continuous
    yield rng.integers(0, 5, 97).astype(float), rng.integers(0, 4, 61).astype(float)  # heavy ties
    yield np.full(20, 1.0), np.full(7, 1.0)  # all tied
    yield rng.normal(0, 1, 1), rng.normal(0, 1, 3)  # single ID sample
    yield np.round(rng.uniform(0, 1, 333), 2), np.round(rng.uniform(-0.2, 0.8, 100), 2)


@pytest.mark.parametrize("pair", list(_score_pairs()))
def test_ood_metrics_match_sklearn(pair):
    id_s, ood_s = pair
    y = np.r_[np.ones(id_s.size), np.zeros(ood_s.size)]
    s = np.r_[id_s, ood_s]
    assert auroc(id_s, ood_s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert aupr(id_s, ood_s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    for tpr in (0.95, 0.5, 0.9, 1.0):
        assert fpr_at_tpr(id_s, ood_s, tpr) == pytest.approx(_sk_fpr(id_s, ood_s, tpr), abs=1e-12)


def test_fpr_at_tpr_tie_convention():
    ids = np.arange(1.0, 21.0)  # threshold 2 accepts 19/20
    assert fpr_at_tpr(ids, [2.0]) == 1.0  # OOD tied with the threshold is a false positive
    assert fpr_at_tpr(ids, [1.999]) == 0.0
    # ID ties at the threshold: all accepted, the achieved TPR exceeds 95%
    assert fpr_at_tpr(np.r_[np.zeros(10), np.ones(10)], [0.0, 0.5]) == 1.0


def test_ood_metrics_perfect_and_reversed():
    assert auroc([2, 3], [0, 1]) == 1.0 and aupr([2, 3], [0, 1]) == 1.0 and fpr_at_tpr([2, 3], [0, 1]) == 0.0
    assert auroc([0, 1], [2, 3]) == 0.0 and fpr_at_tpr([0, 1], [2, 3]) == 1.0


def test_ood_scores_against_reference():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 3, (50, 7))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(ood_score(z, "msp"), p.max(1), rtol=1e-12)
    np.testing.assert_allclose(ood_score(z, "maxlogit"), z.max(1))
    np.testing.assert_allclose(ood_score(z, "entropy"), (p * np.log(p)).sum(1), rtol=1e-10)
    np.testing.assert_allclose(ood_score(z, "energy"), np.log(np.exp(z).sum(1)), rtol=1e-12)
    np.testing.assert_allclose(ood_score(z, "energy", temperature=2.0), 2 * np.log(np.exp(z / 2).sum(1)), rtol=1e-12)
    # no overflow, and the convention "higher = more ID": a confident row beats a flat one
    big = np.array([[1000.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    for method in ("msp", "maxlogit", "entropy", "energy"):
        s = ood_score(big, method)
        assert np.isfinite(s).all() and s[0] > s[1]


def test_ood_input_errors():
    with pytest.raises(ValueError, match="unknown"):
        ood_score(np.zeros((2, 2)), "odin")
    with pytest.raises(ValueError):
        ood_score(np.zeros(3), "msp")
    with pytest.raises(ValueError):
        auroc([], [1.0])
    with pytest.raises(ValueError):
        fpr_at_tpr([1.0], [0.0], tpr=0.0)


# ------------------------------------------------------------------------------------------------
# Calibration
# ------------------------------------------------------------------------------------------------


def test_adaptive_ece_hand_computed():
    probs = np.array([[0.6, 0.4], [0.7, 0.3], [0.8, 0.2], [0.9, 0.1], [0.95, 0.05], [0.55, 0.45]])
    labels = np.array([0, 1, 0, 0, 1, 0])
    # sorted conf: 0.55(c) 0.6(c) | 0.7(w) 0.8(c) | 0.9(c) 0.95(w)
    expected = (abs(1 - 0.575) + abs(0.5 - 0.75) + abs(0.5 - 0.925)) / 3
    assert adaptive_ece(probs, labels, n_bins=3) == pytest.approx(expected, abs=1e-12)
    # one bin: |acc - mean conf|
    conf = probs.max(1)
    assert adaptive_ece(probs, labels, n_bins=1) == pytest.approx(abs(4 / 6 - conf.mean()), abs=1e-12)


def test_adaptive_ece_equals_ece_when_bins_coincide():
    # 10 classes so top-1 confidences can fall in every equal-width quarter; 2 samples per quarter
    conf = np.array([0.12, 0.2, 0.3, 0.45, 0.55, 0.7, 0.8, 0.99])
    k = 10
    probs = np.empty((conf.size, k))
    for i, c in enumerate(conf):
        probs[i] = (1 - c) / (k - 1)
        probs[i, i % k] = c
    rng = np.random.default_rng(3)
    labels = np.where(rng.random(conf.size) < 0.5, np.arange(conf.size) % k, (np.arange(conf.size) + 1) % k)
    value = adaptive_ece(probs, labels, n_bins=4)
    assert value > 0.05
    assert value == pytest.approx(ece(probs, labels, n_bins=4), abs=1e-12)
    assert adaptive_ece(probs, labels, n_bins=8) == pytest.approx(ece(probs, labels, n_bins=100), abs=1e-12)


def test_adaptive_ece_more_bins_than_samples():
    probs = np.array([[0.7, 0.3], [0.2, 0.8]])
    labels = np.array([0, 0])
    assert adaptive_ece(probs, labels, n_bins=15) == pytest.approx((0.3 + 0.8) / 2)


def test_classwise_ece_two_classes_by_hand():
    probs = np.array([[0.9, 0.1], [0.65, 0.35], [0.4, 0.6], [0.2, 0.8], [0.55, 0.45]])
    labels = np.array([0, 1, 1, 0, 0])
    n, n_bins = len(labels), 2

    def one_class(p, y):
        total = 0.0
        for lo, hi in ((0.0, 0.5), (0.5, 1.0)):
            m = (p >= lo) & (p < hi)
            if m.any():
                total += m.sum() / n * abs(y[m].mean() - p[m].mean())
        return total

    expected = (one_class(probs[:, 0], labels == 0) + one_class(probs[:, 1], labels == 1)) / 2
    assert classwise_ece(probs, labels, n_bins=n_bins) == pytest.approx(expected, abs=1e-12)


def test_classwise_ece_three_classes_and_perfect():
    probs = np.eye(3)[[0, 1, 2, 0]]
    assert classwise_ece(probs, np.array([0, 1, 2, 0])) == 0.0
    # all uniform predictions with balanced labels are class-wise calibrated
    assert classwise_ece(np.full((3, 3), 1 / 3), np.array([0, 1, 2])) == pytest.approx(0.0, abs=1e-12)
    # a confident model that is always right on class 0 but wrong elsewhere is not
    probs = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05]])
    assert classwise_ece(probs, np.array([0, 1])) > 0


# ------------------------------------------------------------------------------------------------
# Bias
# ------------------------------------------------------------------------------------------------


def test_decision_16_averages_not_sums():
    # category A has 3 classes at 0.2 each (sum 0.6, mean 0.2); B has 1 class at 0.3
    p = np.array([[0.2, 0.2, 0.2, 0.3, 0.1]])
    assert decision_16(p, [[0, 1, 2], [3]]).tolist() == [1]
    assert decision_16(p, {"a": [0, 1, 2], "b": [3]}).tolist() == ["b"]
    with pytest.raises(ValueError):
        decision_16(p, [[0, 9]])


def test_shape_bias_cue_conflict_pipeline():
    sets = {"cat": [0, 1], "dog": [2], "car": [3, 4]}
    probs = np.array(
        [
            [0.5, 0.3, 0.1, 0.05, 0.05],  # cat
            [0.05, 0.05, 0.8, 0.05, 0.05],  # dog
            [0.05, 0.05, 0.1, 0.4, 0.4],  # car
            [0.05, 0.05, 0.1, 0.4, 0.4],  # car
            [0.05, 0.05, 0.8, 0.05, 0.05],  # dog
        ]
    )
    decisions = decision_16(probs, sets)
    shape = ["cat", "cat", "car", "dog", "car"]
    texture = ["dog", "dog", "car", "cat", "dog"]  # image 3 agrees -> skipped
    r = shape_bias_from_decisions(decisions, shape, texture)
    # kept: (cat|dog: shape hit) (cat|dog: texture hit) (dog|cat -> car: neither) (car|dog: texture hit)
    assert (r.shape_hits, r.texture_hits, r.n_conflict) == (1, 2, 4)
    assert r.overall == pytest.approx(1 / 3)
    assert r.per_category["cat"] == pytest.approx(0.5)
    assert r.per_category["car"] == 0.0
    assert np.isnan(r.per_category["dog"])


def test_shape_bias_counts_and_empty():
    assert shape_bias(3, 1) == 0.75
    assert np.isnan(shape_bias(np.zeros(4, bool), np.zeros(4, bool)))


def test_context_bias_hand_computed():
    correct = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0])
    k = np.array([0, 0, 0, 0, 1, 1, 2, 2, 3])
    cb = context_bias(correct, k)
    assert cb.accuracy == {0: 0.75, 1: 0.5, 2: 0.0, 3: 0.0}
    assert cb.counts == {0: 4, 1: 2, 2: 2, 3: 1}
    assert cb.relative_drop[0] == 0.0
    assert cb.relative_drop[1] == pytest.approx(1 / 3)
    assert cb.relative_drop[2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k = 0"):
        context_bias([1, 0], [1, 2])
    assert np.isnan(context_bias([0, 1], [0, 1]).relative_drop[1])


def test_background_gap():
    assert background_gap(0.9, 0.8) == pytest.approx(0.1)
    assert background_gap(70.0, 75.0) == pytest.approx(-5.0)


# ------------------------------------------------------------------------------------------------
# Corruptions
# ------------------------------------------------------------------------------------------------


def test_alexnet_table_is_complete():
    t = alexnet_errors()
    assert list(t.index) == list(IMAGENET_C_CORRUPTIONS)
    assert list(t.columns) == [1, 2, 3, 4, 5]
    assert ((t > 0.4) & (t < 1)).all().all()
    # per-corruption means of the published table (Hendrycks & Dietterich 2019 reference code)
    means = t.mean(axis=1)
    assert means["gaussian_noise"] == pytest.approx(0.886428, abs=1e-9)
    assert means["jpeg_compression"] == pytest.approx(0.6065, abs=1e-9)


def test_alexnet_against_itself():
    assert mce(alexnet_errors()) == pytest.approx(100.0)
    assert relative_mce(alexnet_errors(), ALEXNET_CLEAN_ERROR) == pytest.approx(100.0)
    acc = 1.0 - alexnet_errors()
    assert mce(corruption_errors(acc)) == pytest.approx(100.0)


def test_mce_hand_computed():
    base = pd.DataFrame({1: [0.4, 0.5], 2: [0.6, 0.7]}, index=["fog", "snow"])
    acc = pd.DataFrame({1: [0.8, 0.6], 2: [0.7, 0.2]}, index=["fog", "snow"])
    err = corruption_errors(acc)  # fog 0.2, 0.3; snow 0.4, 0.8
    ce = per_corruption_ce(err, base, corruptions=("fog", "snow"))
    assert ce["fog"] == pytest.approx(100 * 0.5 / 1.0)
    assert ce["snow"] == pytest.approx(100 * 1.2 / 1.2)
    assert mce(err, base, corruptions=("fog", "snow")) == pytest.approx(75.0)
    # relative: fog (0.1 + 0.2) / (0.1 + 0.3); snow (0.3 + 0.7) / (0.2 + 0.4)
    rel = relative_mce(err, 0.1, base, 0.3, corruptions=("fog", "snow"))
    assert rel == pytest.approx(100 * (0.3 / 0.4 + 1.0 / 0.6) / 2)


def test_mce_ignores_extra_corruptions_and_validates():
    err = alexnet_errors() * 0.5
    extra = pd.DataFrame([[0.9] * 5], index=["speckle_noise"], columns=[1, 2, 3, 4, 5])
    assert mce(pd.concat([err, extra])) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="lacks"):
        mce(err.drop(index="fog"))
    with pytest.raises(ValueError, match="fractions"):
        mce(err * 100)
    with pytest.raises(ValueError, match="baseline_clean_error"):
        relative_mce(err, 0.2, baseline=alexnet_errors())
    # string severity columns (as read from CSV) are accepted
    assert mce(err.rename(columns=str)) == pytest.approx(50.0)


def test_registered_calibration_metrics_equal_the_functions_with_cis() -> None:
    from robustscope.metrics.calibration import adaptive_ece, classwise_ece
    from robustscope.metrics.classification import softmax
    from robustscope.metrics.registry import compute_metrics

    rng = np.random.default_rng(3)
    logits = rng.normal(size=(300, 4)) * 2
    labels = rng.integers(0, 4, size=300)
    table = compute_metrics(logits, labels, None, ["adaptive_ece", "classwise_ece"], n_resamples=50).set_index("metric")
    probs = softmax(logits)
    assert table.loc["adaptive_ece", "value"] == pytest.approx(adaptive_ece(probs, labels, n_bins=15))
    assert table.loc["classwise_ece", "value"] == pytest.approx(classwise_ece(probs, labels, n_bins=15))
    # (binned calibration errors are biased upward under resampling, so the point estimate need not lie
    # inside the percentile interval; only that an interval was computed is checked)
    assert (table["ci_low"] < table["ci_high"]).all()
