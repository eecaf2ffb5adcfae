"""Deep Feature Reweighting, DFR^Val_Tr (Kirichenko, Izmailov & Wilson, "Last Layer Re-Training is Sufficient for
Robustness to Spurious Correlations", ICLR 2023): refit a model's last layer, an L1 logistic regression, on
group-balanced held-out (validation) features.

Reference: github.com/PolinaKirichenko/deep_feature_reweighting, commit
9d8d5de78feafb0ba99878b8a1f91c5cd942e62a, ``dfr_evaluate_spurious.py`` (``dfr_on_validation_tune`` and
``dfr_on_validation_eval``, run with the script's defaults ``balance_dfr_val=True``, ``notrain_dfr_val=True``).
:func:`fit_dfr` does what they do, step for step:

1. Tuning (``dfr_on_validation_tune``, one repeat): shuffle the validation set and cut it in half; in the second
   half, shuffle each group and keep its first ``min`` samples (every group downsampled to the smallest); fit a
   ``StandardScaler`` on *that balanced half* (the reference fits the tuning scaler there, not on the train
   embeddings); for each C in :data:`C_OPTIONS` fit ``LogisticRegression(penalty="l1", solver="liblinear", C=C,
   class_weight={0: 1, 1: 1})`` (scikit-learn's default ``tol=1e-4``, ``max_iter=100``) and score the worst-group
   accuracy on the first half; keep the best C (ties: the first in :data:`C_OPTIONS`, the largest).
2. Final head (``dfr_on_validation_eval``): a ``StandardScaler`` fitted on the *train* embeddings; then
   :data:`NUM_RETRAINS` (20) times, a freshly group-balanced subset of the whole validation set, one fit with the
   chosen C; ``coef_`` and ``intercept_`` are averaged over the 20 fits.

Randomness: one ``np.random.RandomState(seed)`` replaces the reference's global ``np.random`` and is drawn from
in the same order (the shuffles, one draw per liblinear fit through ``random_state``, and the reference's
shuffle of the unused train index in every retrain), so ``np.random.seed(seed)`` followed by the reference's two
functions gives the same C and the same averaged coefficients (``tests/test_dfr.py`` checks it).

Where robustscope departs, and why:

- The head is returned in the *unscaled* feature space (the scaler's mean and scale folded into the linear
  layer: ``W / scale``, ``b - W @ (mean / scale)``), so it applies to raw features as the model's own head does.
- Binary problems: liblinear returns one row ``w, b`` (the score of class 1); the head has two logits
  ``[-(w·x + b) / 2, (w·x + b) / 2]``, whose difference (and so the softmax, = ``predict_proba``) is preserved.
- More than two classes: scikit-learn ≥ 1.8 no longer runs liblinear on multiclass problems; what liblinear did
  internally (one-vs-rest, one binary L1 fit per class) is done explicitly, each fit drawing its own seed.
  The head's argmax is the reference's ``predict``. The reference's experiments are all binary.
- Groups may be any values (they are numbered in sorted order; the reference requires ``0 … G-1``); the
  worst-group accuracy counts the groups present in the held-out half (the reference's would be NaN).
- scikit-learn ≥ 1.8 deprecates ``penalty="l1"``; there ``l1_ratio=1.0`` (the same L1 fit) is passed instead.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustscope.errors import MissingDependencyError

__all__ = [
    "C_OPTIONS",
    "NUM_RETRAINS",
    "REFERENCE",
    "DFRResult",
    "balanced_indices",
    "fit_dfr",
    "fit_linear",
    "fold_scaler",
    "two_logit_head",
    "worst_group_accuracy",
]

#: The inverse L1 strengths tried, in the reference's order (its WaterBirds ``C_OPTIONS``).
C_OPTIONS: tuple[float, ...] = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)
#: Fits averaged into the final head (the reference's ``dfr_on_validation_eval(num_retrains=20)``).
NUM_RETRAINS = 20
REFERENCE = (
    "github.com/PolinaKirichenko/deep_feature_reweighting@9d8d5de78feafb0ba99878b8a1f91c5cd942e62a:"
    "dfr_evaluate_spurious.py (dfr_on_validation_tune, dfr_on_validation_eval)"
)
#: The reference's class weights for DFR^Val (``balance_val and not add_train``): uniform.
_CLASS_WEIGHT = {0: 1.0, 1: 1.0}


@dataclass(frozen=True)
class DFRResult:
    """A DFR head: ``weight [K, D]`` and ``bias [K]`` apply to *raw* features (the scaler folded in).

    Attributes:
        c: the inverse L1 strength used (chosen by worst-group accuracy unless given).
        weight, bias: the head in the unscaled feature space (two rows for a binary problem).
        coef, intercept: the averaged scikit-learn ``coef_`` / ``intercept_``, in the scaled space (one row for
            a binary problem), as the reference keeps them.
        scaler_mean, scaler_scale: the ``StandardScaler`` fitted on the train features.
        worst_group_accuracy: C → worst-group accuracy on the held-out half (empty when C was given).
        seed, num_retrains: the generator's seed and the number of fits averaged.
        groups: the group values, in the order they are numbered; per_group: samples per group in each
            balanced retraining set.
    """

    c: float
    weight: np.ndarray
    bias: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    worst_group_accuracy: dict[float, float]
    seed: int
    num_retrains: int
    groups: list[str] = field(default_factory=list)
    per_group: int = 0

    def logits(self, features: np.ndarray) -> np.ndarray:
        """The head's logits ``[N, K]`` on raw features ``[N, D]``."""
        return np.asarray(features, dtype=np.float64) @ self.weight.T + self.bias

    def params(self) -> dict[str, Any]:
        """What was fitted and how, JSON-able (saved in a mitigated model's ``config.json``)."""
        return {
            "protocol": "DFR^Val_Tr",
            "reference": REFERENCE,
            "c": self.c,
            "c_options": list(C_OPTIONS),
            "worst_group_accuracy": {str(c): acc for c, acc in self.worst_group_accuracy.items()},
            "seed": self.seed,
            "num_retrains": self.num_retrains,
            "groups": self.groups,
            "per_group": self.per_group,
            "logistic_regression": {"penalty": "l1", "solver": "liblinear", "class_weight": "uniform"},
            "scaler": "StandardScaler fitted on the train features, folded into the head",
        }


def balanced_indices(groups: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Indices of a group-balanced subset: each group (numbered ``0 … G-1``) shuffled, its first ``min`` kept,
    group after group (the reference's downsampling, drawing from ``rng`` in the same order).

    Example:
        >>> idx = balanced_indices(np.array([0, 0, 0, 1, 1, 2, 2, 2, 2]), np.random.RandomState(0))
        >>> np.bincount(np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])[idx]).tolist()
        [2, 2, 2]
    """
    g_idx = [np.where(groups == g)[0] for g in range(int(np.max(groups)) + 1)]
    min_g = min(len(g) for g in g_idx)
    if min_g == 0:
        raise ValueError(f"a group has no samples (sizes {[len(g) for g in g_idx]}): DFR needs every group")
    for g in g_idx:
        rng.shuffle(g)
    return np.concatenate([g[:min_g] for g in g_idx])


def _logistic_regression(c: float, rng: np.random.RandomState) -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as err:
        raise MissingDependencyError(
            f"DFR fits scikit-learn's LogisticRegression, and sklearn cannot be imported here ({err}); "
            "install it with: pip install 'robustscope[mitigate]' (or pip install scikit-learn)"
        ) from None
    deprecated = inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"  # ≥ 1.8
    l1: dict[str, Any] = {"l1_ratio": 1.0} if deprecated else {"penalty": "l1"}
    return LogisticRegression(**l1, C=c, solver="liblinear", class_weight=_CLASS_WEIGHT, random_state=rng)


def fit_linear(
    x: np.ndarray, y: np.ndarray, c: float, rng: np.random.RandomState, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """One L1 liblinear logistic regression: ``coef_ [1, D]`` and ``intercept_ [1]`` for two classes,
    ``[K, D]`` and ``[K]`` (one-vs-rest, one fit per class) for more. Each fit draws one seed from ``rng``.

    Example:
        >>> x = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array([0, 0, 1, 1])
        >>> coef, intercept = fit_linear(x, y, 1.0, np.random.RandomState(0), 2)
        >>> coef.shape, bool(coef[0, 0] > 0)
        ((1, 1), True)
    """
    if num_classes == 2:
        model = _logistic_regression(c, rng).fit(x, y)
        return model.coef_.copy(), model.intercept_.copy()
    fits = [_logistic_regression(c, rng).fit(x, (y == k).astype(int)) for k in range(num_classes)]
    return np.concatenate([f.coef_ for f in fits]), np.concatenate([f.intercept_ for f in fits])


def _predict(coef: np.ndarray, intercept: np.ndarray, x: np.ndarray) -> np.ndarray:
    """scikit-learn's ``predict`` for these coefficients: ``score > 0`` (binary), else the argmax."""
    scores = x @ coef.T + intercept
    return (scores[:, 0] > 0).astype(int) if coef.shape[0] == 1 else scores.argmax(axis=1)


def worst_group_accuracy(predictions: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    """The lowest accuracy over the groups present.

    Example:
        >>> worst_group_accuracy(np.array([0, 1, 1, 1]), np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]))
        0.5
    """
    correct = predictions == labels
    return float(min(correct[groups == g].mean() for g in np.unique(groups)))


def fold_scaler(
    coef: np.ndarray, intercept: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A linear layer on standardised features, ``coef @ ((x - mean) / scale) + intercept``, as one on raw ``x``.

    Example:
        >>> w, b = fold_scaler(np.array([[2.0]]), np.array([1.0]), np.array([3.0]), np.array([4.0]))
        >>> w.tolist(), b.tolist()
        ([[0.5]], [-0.5])
    """
    weight = coef / scale
    return weight, intercept - weight @ mean


def two_logit_head(coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A binary logistic regression's one row ``(w, b)`` as two logits ``[-(w·x+b)/2, (w·x+b)/2]`` (their
    difference is the score, so the softmax is ``predict_proba``); more rows are returned as they are.

    Example:
        >>> w, b = two_logit_head(np.array([[2.0, -4.0]]), np.array([1.0]))
        >>> w.tolist(), b.tolist()
        ([[-1.0, 2.0], [1.0, -2.0]], [-0.5, 0.5])
    """
    if coef.shape[0] != 1:
        return coef, intercept
    return np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])


def _tune(
    x: np.ndarray, y: np.ndarray, g: np.ndarray, rng: np.random.RandomState, c_options: tuple[float, ...], k: int
) -> dict[float, float]:
    """The reference's ``dfr_on_validation_tune`` (one repeat): C → worst-group accuracy on the held-out half."""
    from sklearn.preprocessing import StandardScaler

    n_val = len(x) // 2
    idx = np.arange(len(x))
    rng.shuffle(idx)
    fit_idx, held_idx = idx[n_val:], idx[:n_val]
    keep = fit_idx[balanced_indices(g[fit_idx], rng)]
    scaler = StandardScaler()
    x_fit = scaler.fit_transform(x[keep])  # the reference's tuning scaler: fitted on the balanced half
    x_held = scaler.transform(x[held_idx])
    scores = {}
    for c in c_options:
        coef, intercept = fit_linear(x_fit, y[keep], c, rng, k)
        scores[c] = worst_group_accuracy(_predict(coef, intercept, x_held), y[held_idx], g[held_idx])
    return scores


def fit_dfr(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    train_features: np.ndarray,
    seed: int = 0,
    c: float | None = None,
    c_options: tuple[float, ...] = C_OPTIONS,
    num_retrains: int = NUM_RETRAINS,
    num_classes: int | None = None,
) -> DFRResult:
    """DFR^Val_Tr on validation ``features [N, D]``, ``labels [N]`` (``0 … K-1``), ``groups [N]`` (any values);
    ``train_features [M, D]`` fit the final scaler. ``c`` skips the tuning. See the module docstring.

    Example:
        >>> rng = np.random.RandomState(0)
        >>> y = np.repeat([0, 1], 40); g = 2 * y + (rng.rand(80) < 0.5)
        >>> x = np.c_[y + 0.3 * rng.randn(80), rng.randn(80)]
        >>> dfr = fit_dfr(x, y, g, train_features=x, seed=0)
        >>> dfr.weight.shape, dfr.c in C_OPTIONS, bool((dfr.logits(x).argmax(1) == y).mean() > 0.9)
        ((2, 2), True, True)
    """
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features)
    y = np.asarray(labels).astype(np.int64)
    values, g = np.unique(np.asarray(groups), return_inverse=True)
    g = g.reshape(-1)
    k = int(num_classes if num_classes is not None else y.max() + 1)
    if x.ndim != 2 or len(x) != len(y) or len(y) != len(g):
        raise ValueError(f"features [N, D], labels [N], groups [N] expected; got {x.shape}, {y.shape}, {g.shape}")
    missing = sorted(set(range(k)) - set(y.tolist()))
    if k < 2 or missing:
        raise ValueError(f"DFR needs every one of the {k} classes in the validation set; missing: {missing}")
    rng = np.random.RandomState(seed)
    scores = _tune(x, y, g, rng, tuple(c_options), k) if c is None else {}
    chosen = float(list(scores)[int(np.argmax(list(scores.values())))]) if c is None else float(c)

    train = np.asarray(train_features)
    scaler = StandardScaler().fit(train)
    coefs, intercepts = [], []
    per_group = 0
    for _ in range(num_retrains):
        keep = balanced_indices(g, rng)
        rng.shuffle(np.arange(len(train)))  # the reference shuffles a train index it then uses none of (n_train=0)
        per_group = len(keep) // len(values)
        coef, intercept = fit_linear(scaler.transform(x[keep]), y[keep], chosen, rng, k)
        coefs.append(coef)
        intercepts.append(intercept)
    coef, intercept = np.mean(coefs, axis=0), np.mean(intercepts, axis=0)
    weight, bias = two_logit_head(*fold_scaler(coef, intercept, scaler.mean_, scaler.scale_))
    return DFRResult(
        c=chosen,
        weight=weight,
        bias=bias,
        coef=coef,
        intercept=intercept,
        scaler_mean=scaler.mean_,
        scaler_scale=scaler.scale_,
        worst_group_accuracy=scores,
        seed=int(seed),
        num_retrains=int(num_retrains),
        groups=[str(v) for v in values],
        per_group=per_group,
    )
