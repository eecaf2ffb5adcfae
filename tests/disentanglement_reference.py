"""A transcription of the reference metrics (facebookresearch/disentangling-correlated-factors @ 3b0d233,
``dent/metrics/mig.py`` and ``dent/metrics/dci_d.py``), as the oracle of tests/test_disentanglement.py.

Changes from the reference, all mechanical: no joblib/fastargs/BaseMetric wrapper; pyitlib's discrete mutual
information and entropy replaced by the plug-in estimates from joint counts (what pyitlib computes, in nats);
the DCI train/test indices passed in instead of drawn from numpy's global state.
"""

import numpy as np
import scipy.stats
import sklearn.ensemble
import sklearn.preprocessing


def _entropy(x: np.ndarray) -> float:
    _, counts = np.unique(x, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def _mutual_information(x: np.ndarray, y: np.ndarray) -> float:
    joint = np.array([f"{a}|{b}" for a, b in zip(x, y, strict=True)])
    return _entropy(x) + _entropy(y) - _entropy(joint)


def reference_mig(mean_qzx: np.ndarray, gt_factors: np.ndarray, num_bins: int = 20) -> float:
    num_latents, num_factors = mean_qzx.shape[-1], gt_factors.shape[-1]
    mean_qzx = sklearn.preprocessing.minmax_scale(mean_qzx)
    gt_factors = sklearn.preprocessing.minmax_scale(gt_factors)
    bins = np.linspace(0, 1, num_bins + 1)
    mean_qzx = np.digitize(mean_qzx, bins[:-1], right=False).astype(int)
    gt_factors = np.digitize(gt_factors, bins[:-1], right=False).astype(int)
    migs = []
    for factor_id in range(num_factors):
        factor = gt_factors[:, factor_id]
        scores = sorted(_mutual_information(mean_qzx[:, j], factor) for j in range(num_latents))
        migs.append((scores[-1] - scores[-2]) / _entropy(factor))
    return float(np.mean(migs))


def reference_dci_d(mean_qzx: np.ndarray, gt_factors: np.ndarray, train_idcs: np.ndarray, test_idcs: np.ndarray,
                    random_state: int = 0) -> float:
    gt_factors = sklearn.preprocessing.minmax_scale(gt_factors)
    mean_qzx = sklearn.preprocessing.minmax_scale(mean_qzx)
    for i in range(gt_factors.shape[-1]):
        uv = np.unique(gt_factors[:, i])
        dc = {val: j for j, val in enumerate(uv)}
        gt_factors[:, i] = np.array([dc[val] for val in gt_factors[:, i]])
    gt_factors = gt_factors.astype(int)
    importance_scores = np.zeros([mean_qzx.shape[-1], gt_factors.shape[-1]])
    for factor_id in range(gt_factors.shape[-1]):
        model = sklearn.ensemble.GradientBoostingClassifier(random_state=random_state)
        model.fit(mean_qzx[train_idcs], gt_factors[train_idcs, factor_id])
        importance_scores[:, factor_id] = np.abs(model.feature_importances_)
    per_latent = 1.0 - scipy.stats.entropy(importance_scores.T + 1e-11, base=importance_scores.shape[1])
    if importance_scores.sum() == 0.0:
        importance_scores = np.ones_like(importance_scores)
    total_latent = importance_scores.sum(axis=1) / importance_scores.sum()
    return float(np.sum(per_latent * total_latent))
