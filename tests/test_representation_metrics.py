"""kNN, RankMe, alignment and uniformity against brute-force and reference computations on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustscope.metrics.representation import alignment, knn_correct, knn_scores, rankme, uniformity


def brute_force_knn(train: np.ndarray, labels: np.ndarray, test: np.ndarray, k: int, t: float, c: int) -> list:
    """One test point at a time, in plain Python: cosine similarities, the k best (ties: lower index), votes."""
    out = []
    unit = [row / np.linalg.norm(row) for row in train]
    for query in test:
        q = query / np.linalg.norm(query)
        sims = sorted(((-float(q @ u), i) for i, u in enumerate(unit)))[:k]
        votes = [0.0] * c
        for neg_sim, i in sims:
            votes[labels[i]] += np.exp(-neg_sim / t)
        out.append(votes)
    return out


def test_knn_equals_brute_force_with_ties() -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(-2, 3, size=(50, 3)).astype(float)  # small integers: many identical directions (ties)
    train[np.linalg.norm(train, axis=1) == 0] = 1.0
    labels = rng.integers(0, 4, size=50)
    test = rng.integers(-2, 3, size=(20, 3)).astype(float)
    test[np.linalg.norm(test, axis=1) == 0] = 1.0
    expected = np.array(brute_force_knn(train, labels, test, 20, 0.07, 4))
    got = knn_scores(train, labels, test, 4, k=20, temperature=0.07, chunk=7)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    ranked = [sorted(range(4), key=lambda j, row=row: (-row[j], j)) for row in expected]
    truth = rng.integers(0, 4, size=20)
    assert knn_correct(got, truth, 1).tolist() == [r[0] == y for r, y in zip(ranked, truth, strict=True)]
    assert knn_correct(got, truth, 2).tolist() == [y in r[:2] for r, y in zip(ranked, truth, strict=True)]


def dino_knn(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor,
             k: int, t: float, c: int) -> tuple[float, float]:
    """The reference's arithmetic (facebookresearch/dino eval_knn.py knn_classifier), on one chunk."""
    train_f = torch.nn.functional.normalize(train_f, dim=1, p=2)
    test_f = torch.nn.functional.normalize(test_f, dim=1, p=2)
    similarity = test_f @ train_f.t()
    distances, indices = similarity.topk(k, largest=True, sorted=True)
    retrieved = torch.gather(train_y.view(1, -1).expand(len(test_f), -1), 1, indices)
    one_hot = torch.zeros(len(test_f) * k, c).scatter_(1, retrieved.view(-1, 1), 1)
    probs = (one_hot.view(len(test_f), -1, c) * distances.div(t).exp().view(len(test_f), -1, 1)).sum(1)
    correct = probs.sort(1, True)[1].eq(test_y.view(-1, 1))
    return correct[:, :1].sum().item() * 100 / len(test_y), correct[:, : min(5, k)].sum().item() * 100 / len(test_y)


def test_knn_top1_top5_match_dino_on_continuous_features() -> None:
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(300, 16)), rng.normal(size=(80, 16))
    labels, truth = rng.integers(0, 10, 300), rng.integers(0, 10, 80)
    train[:, 0] += labels  # some signal
    test[:, 0] += truth
    scores = knn_scores(train, labels, test, 10)
    ours = (knn_correct(scores, truth, 1).mean() * 100, knn_correct(scores, truth, 5).mean() * 100)
    as_tensor = torch.tensor
    ref = dino_knn(as_tensor(train), as_tensor(labels), as_tensor(test), as_tensor(truth), 20, 0.07, 10)
    assert ours == pytest.approx(ref)


def test_knn_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k=5"):
        knn_scores(np.eye(3), np.array([0, 1, 2]), np.eye(3), 3, k=5)


def test_rankme_reference_values() -> None:
    assert rankme(np.eye(64)) == pytest.approx(64.0013, abs=1e-4)
    assert rankme(np.outer(np.arange(1.0, 11.0), np.arange(1.0, 6.0))) == pytest.approx(1.0, abs=1e-4)
    gaussian = np.random.default_rng(0).standard_normal((1000, 1024))
    assert rankme(gaussian) == pytest.approx(814, abs=2)
    # The centred, squared variant some packages compute: ≈614, not RankMe.
    assert rankme(gaussian, centre=True, squared=True) == pytest.approx(614, abs=2)


def test_alignment_and_uniformity_match_the_torch_formulas() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 8)), rng.normal(size=(40, 8))
    tx = torch.nn.functional.normalize(torch.tensor(x), dim=1)
    ty = torch.nn.functional.normalize(torch.tensor(y), dim=1)
    assert alignment(x, y) == pytest.approx((tx - ty).norm(p=2, dim=1).pow(2).mean().item())
    assert uniformity(x) == pytest.approx(torch.pdist(tx, p=2).pow(2).mul(-2).exp().mean().log().item())
    with pytest.raises(ValueError, match="equal shapes"):
        alignment(x, y[:3])


def test_linear_probe_equals_direct_scikit_learn_calls() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from robustscope.metrics.linear_probe import PROBE_GRID, linear_probe

    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 150)
    x = rng.normal(size=(150, 6)) + y[:, None] * 0.8
    test = rng.normal(size=(30, 6)) + rng.integers(0, 3, 30)[:, None] * 0.8
    result = linear_probe(x, y, test, seed=5)
    scaler = StandardScaler().fit(x)
    a, b, ya, yb = train_test_split(scaler.transform(x), y, test_size=0.2, random_state=5, stratify=y)
    held = {c: (LogisticRegression(C=c, max_iter=1000, random_state=5).fit(a, ya).predict(b) == yb).mean()
            for c in PROBE_GRID}
    best = max(held, key=lambda c: (held[c], -c))
    direct = LogisticRegression(C=best, max_iter=1000, random_state=5).fit(scaler.transform(x), y)
    assert result.c == best and result.held_out_accuracy == pytest.approx(held)
    assert result.predictions.tolist() == direct.predict(scaler.transform(test)).tolist()
    assert linear_probe(x, y, test, seed=5).predictions.tolist() == result.predictions.tolist()  # deterministic


def test_pooled_paired_difference_with_one_seed_is_the_paired_test() -> None:
    from robustscope.metrics.bootstrap import paired_bootstrap_test, pooled_paired_difference

    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 2, 60).astype(float), rng.integers(0, 2, 60).astype(float)
    pooled = pooled_paired_difference([a], [b], n_resamples=500, seed=7)
    single = paired_bootstrap_test(a, b, n_resamples=500, seed=7)
    assert pooled.difference == pytest.approx(single.difference)
    assert pooled.ci == pytest.approx(single.ci)
    two = pooled_paired_difference([a, b], [b, a], n_resamples=500)  # opposite effects cancel
    assert two.difference == pytest.approx(0.0) and two.ci[0] < 0 < two.ci[1]
    with pytest.raises(ValueError, match="equal 1-D shapes"):
        pooled_paired_difference([a], [b[:5]])


@pytest.mark.parametrize("classes", [2, 3])
def test_probe_folded_layer_reproduces_its_probabilities(classes: int) -> None:
    from robustscope.metrics.linear_probe import linear_probe

    rng = np.random.default_rng(5)
    y = rng.integers(0, classes, 120)
    x = rng.normal(size=(120, 5)) * [1, 2, 3, 4, 5] + 7 + y[:, None]
    test = rng.normal(size=(20, 5)) * 3 + 8
    result = linear_probe(x, y, test)
    logits = test @ result.weight.T + result.bias
    probs = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs / probs.sum(1, keepdims=True), result.probabilities, atol=1e-8)
