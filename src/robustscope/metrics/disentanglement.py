"""Disentanglement of a representation with respect to known factors: MIG and DCI-Disentanglement.

Both follow facebookresearch/disentangling-correlated-factors @ ``3b0d233ac551ef41d054b2113a59f0166df4967b``
(Roth et al., "Disentanglement of Correlated Factors via Hausdorff Factorized Support", ICLR 2023), themselves
ports of google-research/disentanglement_lib, and work on any ``[N, D]`` embedding and ``[N, K]`` factor matrix:

- **MIG** (Chen et al., "Isolating Sources of Disentanglement in VAEs", NeurIPS 2018; ``dent/metrics/mig.py``):
  latents and factors min-max scaled to [0, 1] per column and digitised into 20 equal bins
  (``np.digitize(x, linspace(0, 1, 21)[:-1])``); for each factor, the mutual information (nats) with every latent,
  the gap between the two largest, divided by the factor's entropy; averaged over factors. robustscope computes
  the discrete mutual information from the contingency table (scikit-learn's ``mutual_info_score``; the reference
  uses pyitlib). A factor with a single value has zero entropy and is left out of the average (the reference
  divides by zero).
- **DCI-Disentanglement** (Eastwood & Williams, ICLR 2018; ``dent/metrics/dci_d.py``): per factor, a
  ``GradientBoostingClassifier`` (scikit-learn defaults) predicts the factor's value index from the min-max scaled
  latents on ``num_train`` samples; ``|feature_importances_|`` fill the importance matrix R (latents × factors);
  D = Σ_i ρ_i (1 − H_K(R_i)), with H_K the entropy of latent i's importances over the K factors in base K and
  ρ_i latent i's share of the total importance. Test accuracy on ``num_test`` other samples is the
  informativeness. Departures: the train/test draw is seeded (the reference uses numpy's global state); a factor
  with more than ``max_levels`` distinct values (a continuous one: yaw, scale) is first digitised into 20 bins as
  for MIG, since the classifier needs classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MIG_BINS", "DCIResult", "dci", "digitise", "mig", "minmax_scale"]

#: Bins of the MIG digitisation (``mig.num_bins`` in the reference).
MIG_BINS = 20


def minmax_scale(values: np.ndarray) -> np.ndarray:
    """Each column scaled to [0, 1] (``sklearn.preprocessing.minmax_scale``; a constant column becomes 0).

    Example:
        >>> minmax_scale(np.array([[1.0, 5.0], [3.0, 5.0]])).tolist()
        [[0.0, 0.0], [1.0, 0.0]]
    """
    values = np.asarray(values, dtype=np.float64)
    low, high = values.min(axis=0), values.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return (values - low) / span


def digitise(values: np.ndarray, bins: int = MIG_BINS) -> np.ndarray:
    """Min-max scale, then the bin index 1…``bins`` of each entry (the reference's ``np.digitize`` call).

    Example:
        >>> digitise(np.array([[0.0], [0.5], [1.0]]), bins=4).ravel().tolist()
        [1, 3, 4]
    """
    edges = np.linspace(0, 1, bins + 1)
    return np.digitize(minmax_scale(values), edges[:-1], right=False).astype(int)


def _entropy(codes: np.ndarray) -> float:
    _, counts = np.unique(codes, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mig(latents: np.ndarray, factors: np.ndarray, bins: int = MIG_BINS) -> float:
    """Mutual Information Gap of ``latents [N, D]`` (D ≥ 2) for ``factors [N, K]``.

    Example:
        >>> grid = np.array([(a, b) for a in range(5) for b in range(4)], float)  # a full grid: factors independent
        >>> round(mig(grid, grid), 6)  # each latent copies one factor
        1.0
    """
    from sklearn.metrics import mutual_info_score

    z, v = digitise(latents, bins), digitise(factors, bins)
    if z.shape[1] < 2:
        raise ValueError("MIG needs at least two latent dimensions (it is a gap between the best two)")
    gaps = []
    for k in range(v.shape[1]):
        entropy = _entropy(v[:, k])
        if entropy == 0:
            continue
        information = sorted(mutual_info_score(z[:, j], v[:, k]) for j in range(z.shape[1]))
        gaps.append((information[-1] - information[-2]) / entropy)
    return float(np.mean(gaps)) if gaps else float("nan")


@dataclass(frozen=True)
class DCIResult:
    """DCI scores: ``disentanglement``, ``completeness``, mean train/test ``informativeness`` (accuracy), and the
    importance matrix ``[D, K]``."""

    disentanglement: float
    completeness: float
    informativeness_train: float
    informativeness_test: float
    importance: np.ndarray


def _levels(column: np.ndarray, max_levels: int, bins: int) -> np.ndarray:
    values = np.unique(column)
    if len(values) > max_levels:
        return digitise(column[:, None], bins)[:, 0]
    return np.searchsorted(values, column)


def _entropy_base(p: np.ndarray, base: int) -> np.ndarray:
    """``scipy.stats.entropy(p + 1e-11, base=base)`` along axis 0 (the reference's call, normalising first)."""
    p = p + 1e-11
    p = p / p.sum(axis=0, keepdims=True)
    return -(p * np.log(p)).sum(axis=0) / np.log(base)


def dci(latents: np.ndarray, factors: np.ndarray, *, num_train: int = 10_000, num_test: int = 5_000, seed: int = 0,
        max_levels: int = 64, bins: int = MIG_BINS) -> DCIResult:  # fmt: skip
    """DCI of ``latents [N, D]`` for ``factors [N, K]``, with ``num_train`` / ``num_test`` samples drawn (seeded).

    A factor with more than ``max_levels`` values is digitised into ``bins`` bins (fewer bins: fewer classes for
    the boosted trees, a coarser but faster score).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> f = rng.integers(0, 4, size=(400, 2)).astype(float)
        >>> result = dci(f + rng.normal(0, 0.01, f.shape), f, num_train=300, num_test=100)
        >>> round(result.disentanglement, 2), round(result.informativeness_test, 2)
        (1.0, 1.0)
    """
    from sklearn.ensemble import GradientBoostingClassifier

    latents, factors = np.asarray(latents, dtype=np.float64), np.asarray(factors)
    if len(latents) < num_train + num_test:
        raise ValueError(f"DCI needs {num_train} + {num_test} samples, got {len(latents)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(latents))
    train, test = order[:num_train], order[num_train : num_train + num_test]
    z = minmax_scale(latents)
    codes = np.column_stack([_levels(factors[:, k], max_levels, bins) for k in range(factors.shape[1])])
    importance = np.zeros((z.shape[1], codes.shape[1]))
    train_scores, test_scores = [], []
    for k in range(codes.shape[1]):
        model = GradientBoostingClassifier(random_state=seed).fit(z[train], codes[train, k])
        importance[:, k] = np.abs(model.feature_importances_)
        train_scores.append(float((model.predict(z[train]) == codes[train, k]).mean()))
        test_scores.append(float((model.predict(z[test]) == codes[test, k]).mean()))
    n_latents, n_factors = importance.shape
    per_latent = 1.0 - _entropy_base(importance.T, n_factors)  # over factors, one value per latent
    per_factor = 1.0 - _entropy_base(importance, n_latents)
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    disentanglement = float(np.sum(per_latent * weights.sum(axis=1) / weights.sum()))
    completeness = float(np.sum(per_factor * weights.sum(axis=0) / weights.sum()))
    return DCIResult(disentanglement, completeness, float(np.mean(train_scores)), float(np.mean(test_scores)),
                     importance)  # fmt: skip
