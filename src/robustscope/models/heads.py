"""Heads over penultimate features that are more than one linear layer: the Last Layer Ensemble's head.

:class:`EnsembleHead` is the module of Li et al.'s ``LastLayerEnsemble`` (github.com/facebookresearch/Whac-A-Mole,
commit ``c91b097043246bc726fccd70f9860873e28d6122``, ``model/classifiers.py``) without the backbone: ``K`` linear
heads (one per training distribution: the original data and one per augmentation type) and a linear classifier of
the distribution. It lives in :mod:`robustscope.models` (not in :mod:`robustscope.mitigate`, which fits it) so that
:mod:`robustscope.models.mitigated` can rebuild a saved one.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EnsembleHead"]


class EnsembleHead(nn.Module):
    """``num_heads`` linear heads ``in_features → out_features`` and a linear ``shift`` classifier
    ``in_features → num_heads``; ``forward(x) = Σ_k softmax(shift(x))_k · heads[k](x)`` (logits).

    The reference returns the pair ``(per-head logits, shift logits)`` in training mode and the weighted sum in
    eval mode; here :meth:`forward` is always the weighted sum (a model's network is put in training mode by
    whoever fine-tunes it, and must still return logits) and :meth:`parts` returns the pair.

    Example:
        >>> head = EnsembleHead(4, 3, 2)
        >>> x = torch.randn(5, 4)
        >>> logits, shift = head.parts(x)
        >>> tuple(logits.shape), tuple(shift.shape), tuple(head(x).shape)
        ((5, 2, 3), (5, 2), (5, 3))
        >>> bool(torch.allclose(head(x), (logits * shift.softmax(1).unsqueeze(-1)).sum(1)))
        True
    """

    def __init__(self, in_features: int, out_features: int, num_heads: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.num_heads = int(in_features), int(out_features), int(num_heads)
        self.heads = nn.ModuleList(nn.Linear(self.in_features, self.out_features) for _ in range(self.num_heads))
        self.shift = nn.Linear(self.in_features, self.num_heads)

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-head logits ``[B, num_heads, out_features]`` and shift logits ``[B, num_heads]``.

        Example:
            >>> [tuple(t.shape) for t in EnsembleHead(2, 2, 3).parts(torch.zeros(1, 2))]
            [(1, 3, 2), (1, 3)]
        """
        return torch.stack([head(x) for head in self.heads], dim=1), self.shift(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The softmax(shift)-weighted sum of the heads' logits (the reference sums logits, not probabilities).

        Example:
            >>> head = EnsembleHead(2, 2, 1)
            >>> bool(torch.allclose(head(torch.ones(1, 2)), head.heads[0](torch.ones(1, 2))))
            True
        """
        logits, shift = self.parts(x)
        return (logits * torch.softmax(shift, dim=1).unsqueeze(-1)).sum(dim=1)

    def spec(self) -> dict[str, int | str]:
        """What rebuilds it (with its state dict): stored in a mitigated model's ``config.json``.

        Example:
            >>> EnsembleHead(8, 2, 3).spec()
            {'kind': 'ensemble', 'in_features': 8, 'out_features': 2, 'num_heads': 3}
        """
        return {"kind": "ensemble", "in_features": self.in_features, "out_features": self.out_features,
                "num_heads": self.num_heads}  # fmt: skip
