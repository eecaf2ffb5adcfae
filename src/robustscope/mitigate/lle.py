"""Last Layer Ensemble (LLE; Li et al., "A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One
Amplifies Others", CVPR 2023) on precomputed penultimate features.

Reference: github.com/facebookresearch/Whac-A-Mole, commit ``c91b097043246bc726fccd70f9860873e28d6122``,
``model/classifiers.py`` (``LastLayerEnsemble``), ``imagenet_trainers/lle.py`` and ``urbancars_trainers/lle.py``
(``LLETrainer``), with the linear-probing optimiser of ``imagenet_trainers/base_trainer.py`` (shared with the
baselines of :mod:`robustscope.mitigate.last_layer`: :class:`~robustscope.mitigate.last_layer.LastLayerConfig`).

- ``K`` linear heads, head 0 for the original data and one per augmentation type, and a linear classifier of the
  augmentation type (:class:`~robustscope.models.heads.EnsembleHead`); all heads start from the base model's head
  when ``init`` is given (the ImageNet trainer loads it into every head), the type classifier at random.
- Batches come from the concatenation original + augmented sets, drawn by
  ``WeightedRandomSampler([1] * total, num_samples=len(original), replacement=False)`` (:func:`lle_sampler`).
- Loss: ``CE(heads[d](x), y) + CE(shift(x), d)``, both batch means, unweighted (:func:`lle_loss`).
- Inference: ``Σ_k softmax(shift(x))_k · heads[k](x)``, a weighted sum of *logits*.

The augmented feature sets are given as arrays (features of shifted copies of the training images, e.g.
``extract_features`` on a shifted dataset); making them from images is not done here yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import WeightedRandomSampler

from robustscope.mitigate.last_layer import (
    DEFAULT_CONFIG,
    Init,
    LastLayerConfig,
    _epochs,
    _generator,
    _tensors,
    train_head,
)
from robustscope.models.heads import EnsembleHead

__all__ = ["LLEResult", "fit_lle", "lle_loss", "lle_sampler"]

#: An augmentation's features ``[N_d, D]`` (labels: the original's, same order) or ``(features, labels)``.
Augmented = Mapping[str, np.ndarray | tuple[np.ndarray, np.ndarray]]


def lle_sampler(n_original: int, n_total: int, generator: torch.Generator | None = None) -> WeightedRandomSampler:
    """The reference's sampler: uniform weights over all ``n_total`` samples (original first), ``n_original``
    draws per epoch, without replacement.

    Example:
        >>> sampler = lle_sampler(3, 9, torch.Generator().manual_seed(0))
        >>> sampler.num_samples, sampler.replacement, len(set(sampler))
        (3, False, 3)
    """
    return WeightedRandomSampler([1.0] * n_total, n_original, replacement=False, generator=generator)


def lle_loss(head: EnsembleHead, x: torch.Tensor, y: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``CE(heads[shift](x), y) + CE(shift_classifier(x), shift)``: each sample's class loss through the head of
    its own augmentation type, plus the type classifier's loss (both means over the batch, summed unweighted).

    Example:
        >>> head = EnsembleHead(2, 2, 2)
        >>> x, y, d = torch.randn(4, 2), torch.tensor([0, 1, 0, 1]), torch.tensor([0, 0, 1, 1])
        >>> logits, s = head.parts(x)
        >>> expected = F.cross_entropy(logits[torch.arange(4), d], y) + F.cross_entropy(s, d)
        >>> bool(torch.isclose(lle_loss(head, x, y, d), expected))
        True
    """
    logits, shift_logits = head.parts(x)
    return F.cross_entropy(logits[torch.arange(len(x)), shift], y) + F.cross_entropy(shift_logits, shift)


@dataclass
class LLEResult:
    """A fitted Last Layer Ensemble: ``head`` (features → logits), the augmentation types (head ``k + 1`` is
    ``shifts[k]``; head 0 the original data) and the settings.

    Example:
        >>> result = LLEResult(EnsembleHead(4, 2, 2), ["blur"], LastLayerConfig())
        >>> result.params()["shifts"], result.params()["num_heads"]
        (['original', 'blur'], 2)
    """

    head: EnsembleHead
    shifts: list[str]
    config: LastLayerConfig
    details: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """What ``save_mitigated`` records.

        Example:
            >>> LLEResult(EnsembleHead(1, 2, 1), [], LastLayerConfig()).params()["method"]
            'lle'
        """
        return {"method": "lle", "shifts": ["original", *self.shifts], "num_heads": self.head.num_heads,
                **self.config.params(), **self.details}  # fmt: skip


def fit_lle(features: np.ndarray, labels: np.ndarray, augmented: Augmented, *,
            config: LastLayerConfig = DEFAULT_CONFIG, init: Init = None,
            num_classes: int | None = None) -> LLEResult:  # fmt: skip
    """Fit a Last Layer Ensemble on the original ``features [N, D]`` / ``labels [N]`` and one feature set per
    augmentation type (``augmented``: name → features, or ``(features, labels)``), with ``config``'s SGD.

    ``init``: the base model's head ``(weight, bias)``, copied into every head (otherwise random heads); the
    classes are ``len(init[1])``, else ``num_classes``, else ``max(labels) + 1``. Returns :class:`LLEResult`;
    save ``result.head`` with ``save_mitigated(spec, split, result.head, None, labels, out, "lle", ...)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 2, 64); x = np.stack([2.0 * y - 1, rng.normal(size=64)], 1).astype(np.float32)
        >>> blurred = x * np.array([0.5, 1.0], np.float32)
        >>> fit = fit_lle(x, y, {"blur": blurred}, config=LastLayerConfig(epochs=20, batch_size=256, lr=1.0))
        >>> fit.params()["shifts"], (fit.head(torch.from_numpy(blurred)).argmax(1).numpy() == y).mean()
        (['original', 'blur'], np.float64(1.0))
    """
    x0, y0 = _tensors(features, labels)
    xs, ys, ds = [x0], [y0], [torch.zeros(len(x0), dtype=torch.long)]
    for k, (name, value) in enumerate(augmented.items(), start=1):
        xa, ya = _tensors(*(value if isinstance(value, tuple) else (value, y0.numpy())))
        if xa.shape[1] != x0.shape[1]:
            raise ValueError(f"augmentation {name!r}: {xa.shape[1]} features, the original has {x0.shape[1]}")
        xs.append(xa)
        ys.append(ya)
        ds.append(torch.full((len(xa),), k, dtype=torch.long))
    x, y, d = torch.cat(xs), torch.cat(ys), torch.cat(ds)
    classes = len(init[1]) if init is not None else num_classes or int(y.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        head = EnsembleHead(x.shape[1], classes, len(xs))
    if init is not None:
        with torch.no_grad():
            for linear in head.heads:
                linear.weight.copy_(torch.as_tensor(np.asarray(init[0]), dtype=torch.float32))
                linear.bias.copy_(torch.as_tensor(np.asarray(init[1]), dtype=torch.float32))
    sampler = lle_sampler(len(x0), len(x), _generator(config.seed))
    train_head(head, _epochs(sampler, config.batch_size), lambda i: lle_loss(head, x[i], y[i], d[i]), config)
    sizes = {"original": len(x0), **{name: len(xa) for name, xa in zip(augmented, xs[1:], strict=True)}}
    return LLEResult(head, [str(name) for name in augmented], config, {"sizes": sizes})
