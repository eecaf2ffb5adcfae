"""What a backbone has learned, from its embeddings alone: weighted kNN, RankMe, alignment and uniformity.

- **Weighted kNN** (Wu et al. 2018, as evaluated by DINO: Caron et al., "Emerging Properties in Self-Supervised
  Vision Transformers", ICCV 2021): :func:`knn_scores` follows ``knn_classifier`` in facebookresearch/dino
  @ ``7c446df5b9f45747937fb0d72314eb9f7b66930a``, ``eval_knn.py``: features L2-normalised, cosine similarity to
  every training feature, the ``k`` most similar neighbours (k = 20), each voting for its class with weight
  ``exp(sim / T)`` (T = 0.07); classes ranked by their summed votes. Top-5 counts the first ``min(5, k)``.
  Ties, which the reference leaves to ``torch.topk``/``torch.sort`` (unspecified order), are broken here
  deterministically: among equally similar neighbours the lower training index wins, among classes with
  equal votes the lower class index.
- **RankMe** (Garrido et al., "RankMe: Assessing the Downstream Performance of Pretrained Self-Supervised
  Representations by Their Rank", ICML 2023): :func:`rankme` = ``exp(−Σ p_k log p_k)`` with
  ``p_k = σ_k / ‖σ‖₁ + 1e-7`` over the singular values of the *uncentred* N×D embedding matrix. Some
  packaged implementations centre the embeddings and use σ² (the covariance's eigenvalues): on a 1000×1024
  standard Gaussian that gives ≈614 instead of ≈814; it is :func:`rankme` with ``centre=True, squared=True``,
  kept for comparison only.
- **Alignment and uniformity** (Wang & Isola, "Understanding Contrastive Representation Learning through
  Alignment and Uniformity on the Hypersphere", ICML 2020, ssnl/align_uniform ``align_uniform/__init__.py``):
  ``align = E‖f(x) − f(y)‖^α`` over positive pairs (α = 2), ``uniform = log E exp(−t‖f(x) − f(y)‖²)`` over all
  pairs (t = 2), both on L2-normalised features. Lower is better for both.

Per-sample outputs (:func:`knn_correct`) feed the bootstrap like any other accuracy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KNN_K", "KNN_TEMPERATURE", "alignment", "knn_correct", "knn_scores", "l2_normalise", "rankme",
           "uniformity"]  # fmt: skip

#: DINO's ``eval_knn.py`` defaults (``--nb_knn 20``, ``--temperature 0.07``).
KNN_K = 20
KNN_TEMPERATURE = 0.07


def l2_normalise(features: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit L2 norm (as ``torch.nn.functional.normalize(x, dim=1, p=2)``, eps 1e-12).

    Example:
        >>> l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
        [[0.6, 0.8], [0.0, 0.0]]
    """
    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, eps)


def knn_scores(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    num_classes: int,
    *,
    k: int = KNN_K,
    temperature: float = KNN_TEMPERATURE,
    chunk: int = 256,
) -> np.ndarray:
    """Each test sample's summed neighbour votes per class ``[N_test, C]``: DINO's weighted kNN.

    Args:
        train_features: ``[N_train, D]`` (normalised here).
        train_labels: ``[N_train]`` int in ``[0, num_classes)``.
        test_features: ``[N_test, D]`` (normalised here).
        num_classes: C.
        k: neighbours (at most ``N_train``).
        temperature: T of the vote weight ``exp(sim / T)``.
        chunk: test rows per similarity block (memory: ``chunk × N_train`` floats).

    Example:
        >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> scores = knn_scores(train, np.array([0, 0, 1]), np.array([[1.0, 0.05]]), 2, k=2)
        >>> int(scores.argmax()), bool(scores[0, 1] == 0)
        (0, True)
    """
    train_labels = np.asarray(train_labels, dtype=np.int64)
    if len(train_labels) != len(train_features):
        raise ValueError(f"{len(train_features)} training features but {len(train_labels)} labels")
    if not 1 <= k <= len(train_labels):
        raise ValueError(f"k={k} must be between 1 and the number of training samples ({len(train_labels)})")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    train = l2_normalise(train_features)
    test = l2_normalise(test_features)
    scores = np.zeros((len(test), num_classes))
    rows = np.arange(min(chunk, len(test)))[:, None]
    for start in range(0, len(test), chunk):
        similarity = test[start : start + chunk] @ train.T
        # A stable sort of −similarity: the k most similar, equal similarities in training order.
        neighbours = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
        here = rows[: len(similarity)]
        votes = np.exp(similarity[here, neighbours] / temperature)
        np.add.at(scores[start : start + chunk], (np.broadcast_to(here, neighbours.shape), train_labels[neighbours]),
                  votes)  # fmt: skip
    return scores


def knn_correct(scores: np.ndarray, labels: np.ndarray, topk: int = 1) -> np.ndarray:
    """Whether each sample's label is among the ``topk`` classes by kNN votes ``[N]`` bool (ties: lower class first).

    Example:
        >>> knn_correct(np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 3.0]]), np.array([1, 1]), topk=1).tolist()
        [False, False]
        >>> knn_correct(np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 3.0]]), np.array([1, 1]), topk=2).tolist()
        [True, True]
    """
    order = np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :topk]
    return (order == np.asarray(labels)[:, None]).any(axis=1)


def rankme(embeddings: np.ndarray, *, eps: float = 1e-7, centre: bool = False, squared: bool = False) -> float:
    """RankMe of an ``[N, D]`` embedding matrix: the exponential of the entropy of its normalised singular values.

    ``centre=True, squared=True`` gives the variant some packages compute (centred data, σ²), which is *not*
    RankMe as published (≈614 instead of ≈814 on a 1000×1024 Gaussian); keep the defaults to compare with the paper.

    Example:
        >>> round(rankme(np.eye(64)), 4)
        64.0013
        >>> round(rankme(np.outer(np.arange(1, 11), np.arange(1, 6))), 4)
        1.0
    """
    matrix = np.asarray(embeddings, dtype=np.float64)
    if centre:
        matrix = matrix - matrix.mean(axis=0, keepdims=True)
    sigma = np.linalg.svd(matrix, compute_uv=False)
    if squared:
        sigma = sigma**2
    p = sigma / np.abs(sigma).sum() + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def alignment(first: np.ndarray, second: np.ndarray, alpha: float = 2.0) -> float:
    """Wang & Isola's alignment: mean ``‖f(x) − f(y)‖^α`` over positive pairs (rows), on normalised features.

    Example:
        >>> alignment(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))  # two orthogonal unit vectors: ‖·‖² = 2
        2.0000000000000004
    """
    if np.shape(first) != np.shape(second):
        raise ValueError(f"positive pairs need equal shapes, got {np.shape(first)} and {np.shape(second)}")
    diff = l2_normalise(first) - l2_normalise(second)
    return float((np.linalg.norm(diff, axis=1) ** alpha).mean())


def uniformity(features: np.ndarray, t: float = 2.0) -> float:
    """Wang & Isola's uniformity: ``log`` of the mean Gaussian potential ``exp(−t‖f(x) − f(y)‖²)`` over distinct pairs.

    Example:
        >>> round(uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])), 6)  # antipodal: ‖·‖² = 4, log e^-8
        -8.0
    """
    z = l2_normalise(features)
    if len(z) < 2:
        raise ValueError("uniformity needs at least two samples")
    squared = np.maximum((z * z).sum(1)[:, None] + (z * z).sum(1)[None, :] - 2 * z @ z.T, 0.0)
    upper = np.triu_indices(len(z), k=1)  # torch.pdist's pairs: i < j
    return float(np.log(np.exp(-t * squared[upper]).mean()))
