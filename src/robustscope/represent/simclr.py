"""A small self-supervised recipe on rendered images: SimCLR, optionally with a Lie operator on pose pairs.

SimCLR (Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020): two
random views of each image (random resized crop, flip, colour jitter with p = 0.8, greyscale with p = 0.2; no blur
at 32–64 px), a backbone and a two-layer projector, and the NT-Xent loss (:func:`nt_xent_loss`, checked against
lightly 1.6.0's ``NTXentLoss`` on the same inputs in ``tests/test_ssl.py``). The backbone is the reference models'
:class:`~robustscope.models.smallcnn.SmallCNN`, trained inside a :class:`~robustscope.models.base.Model` so it sees
normalised input exactly as ``file:`` loading feeds it.

With pose pairs (:class:`PosePairs`: the same object instance rendered under two poses ``t`` radians apart) and
``lie_weight`` λ > 0, each step adds λ·:func:`~robustscope.represent.lie.lie_loss` on the *backbone* features of a
batch of pairs (the representation that is evaluated, not the projector's output), with the operator learned
jointly (Ibrahim et al., arXiv 2210.13356; see :mod:`robustscope.represent.lie`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robustscope.models.base import Model
from robustscope.models.preprocessing import Preprocessing
from robustscope.models.smallcnn import SmallCNN
from robustscope.progress import step_bar
from robustscope.represent.lie import LieOperator, lie_loss

__all__ = ["PosePairs", "SSLResult", "nt_xent_loss", "simclr_views", "train_ssl"]


def nt_xent_loss(z0: torch.Tensor, z1: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy over the ``2B`` views of ``B`` images.

    Each view's positive is the other view of its image; its negatives are the other ``2B − 2`` views. The loss is
    the mean over all ``2B`` views of the cross-entropy of cosine similarities / ``temperature``.

    Example:
        >>> z = torch.eye(2)
        >>> round(float(nt_xent_loss(z, z, temperature=1.0)), 4)  # positives at similarity 1, negatives at 0
        0.5514
    """
    if z0.shape != z1.shape:
        raise ValueError(f"the two views' projections differ in shape: {tuple(z0.shape)} vs {tuple(z1.shape)}")
    batch = z0.shape[0]
    z = F.normalize(torch.cat([z0, z1]), dim=1)
    similarity = z @ z.T / temperature
    similarity = similarity.masked_fill(torch.eye(2 * batch, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(z.device)
    return F.cross_entropy(similarity, positives)


def simclr_views(images: torch.Tensor, generator: torch.Generator, crop_scale: tuple[float, float] = (0.35, 1.0),
                 jitter: float = 0.4) -> torch.Tensor:  # fmt: skip
    """One random SimCLR view of each image of a float ``[B, C, H, W]`` batch in [0, 1] (same shape).

    Per sample: a random resized crop (area share in ``crop_scale``, aspect ratio in [3/4, 4/3]) back to ``H×W``,
    a horizontal flip with p = 0.5, brightness/contrast/saturation jitter of strength ``jitter`` with p = 0.8, and
    greyscale with p = 0.2.

    Example:
        >>> simclr_views(torch.rand(3, 3, 16, 16), torch.Generator().manual_seed(0)).shape
        torch.Size([3, 3, 16, 16])
    """
    batch, channels, height, width = images.shape
    out = torch.empty_like(images)
    u = torch.rand(batch, 9, generator=generator)
    for i in range(batch):
        area = crop_scale[0] + (crop_scale[1] - crop_scale[0]) * float(u[i, 0])
        ratio = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * float(u[i, 1]))
        h = max(1, min(height, round(math.sqrt(area * height * width / ratio))))
        w = max(1, min(width, round(math.sqrt(area * height * width * ratio))))
        top, left = int(float(u[i, 2]) * (height - h + 1)), int(float(u[i, 3]) * (width - w + 1))
        view = F.interpolate(images[i : i + 1, :, top : top + h, left : left + w], size=(height, width),
                             mode="bilinear", align_corners=False)[0]  # fmt: skip
        if u[i, 4] < 0.5:
            view = view.flip(2)
        if u[i, 5] < 0.8:
            factors = 1 + jitter * (2 * torch.rand(3, generator=generator) - 1)
            view = view * factors[0]
            mean = view.mean()
            view = (view - mean) * factors[1] + mean
            grey = view.mean(0, keepdim=True)
            view = (view - grey) * factors[2] + grey
        if u[i, 6] < 0.2 and channels == 3:
            view = view.mean(0, keepdim=True).expand(3, -1, -1)
        out[i] = view.clamp(0, 1)
    return out


@dataclass
class PosePairs:
    """Images of the same instances under two poses: ``first``, ``second`` uint8 ``[P, C, S, S]``; ``t`` ``[P]`` the
    transformation between them (radians of rotation about the world's yaw axis)."""

    first: torch.Tensor
    second: torch.Tensor
    t: torch.Tensor

    def __post_init__(self) -> None:
        if not (len(self.first) == len(self.second) == len(self.t)):
            raise ValueError(f"pose pairs of unequal lengths: {len(self.first)}, {len(self.second)}, {len(self.t)}")


@dataclass
class SSLResult:
    """A trained self-supervised backbone (inside its :class:`Model`), its projector, the Lie operator (or None)
    and the per-epoch history (``ssl_loss``, ``lie_loss``)."""

    model: Model
    projector: nn.Module
    operator: LieOperator | None
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)


def _projector(dim: int, hidden: int, out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out))


def train_ssl(
    images: torch.Tensor,
    labels: list[str],
    *,
    pairs: PosePairs | None = None,
    lie_weight: float = 0.0,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 2e-3,
    temperature: float = 0.5,
    seed: int = 0,
    arch_kwargs: Mapping[str, Any] | None = None,
    projection_dim: int = 64,
    progress: bool = True,
) -> SSLResult:
    """SimCLR on uint8 ``images [N, C, S, S]`` (+ λ·Lie loss on ``pairs`` when ``lie_weight`` > 0).

    ``labels`` names the classes of the saved model's head (the head itself is fitted later, by a linear probe:
    SimCLR never sees a label). Adam with cosine decay over all steps; the same seed gives the same weights.

    Example:
        >>> result = train_ssl(torch.randint(0, 255, (16, 3, 16, 16), dtype=torch.uint8), ["a", "b"], epochs=1,
        ...                    batch_size=8, arch_kwargs={"width": 4, "depth": 2}, progress=False)
        >>> len(result.history), result.operator is None
        (1, True)
    """
    if lie_weight > 0 and pairs is None:
        raise ValueError("lie_weight > 0 needs pose pairs (PosePairs)")
    started = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    kwargs = dict(arch_kwargs or {})
    backbone = SmallCNN(len(labels), **kwargs)
    model = Model(backbone, Preprocessing(input_size=images.shape[-1], crop_pct=1.0), labels, name="ssl:simclr")
    projector = _projector(backbone.num_features, 2 * backbone.num_features, projection_dim)
    operator = LieOperator(backbone.num_features, seed=seed) if lie_weight > 0 else None
    parameters = [*backbone.parameters(), *projector.parameters(), *(operator.parameters() if operator else [])]
    optimiser = torch.optim.Adam(parameters, lr=lr, weight_decay=1e-6)
    steps_per_epoch = max(1, len(images) // batch_size)  # SimCLR drops the last partial batch (BatchNorm, negatives)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs * steps_per_epoch)

    def embed(batch: torch.Tensor) -> torch.Tensor:
        return backbone.forward_features(model.normalize(batch))

    history: list[dict[str, float]] = []
    with step_bar(progress, "SimCLR" + (f" + Lie (λ={lie_weight:g})" if operator else ""),
                      epochs * steps_per_epoch) as advance:  # fmt: skip
        for _epoch in range(epochs):
            model.train()
            projector.train()
            order = torch.randperm(len(images), generator=generator)
            ssl_total, lie_total = 0.0, 0.0
            for step in range(steps_per_epoch):
                batch = images[order[step * batch_size : (step + 1) * batch_size]].float().div_(255.0)
                views = simclr_views(batch, generator), simclr_views(batch, generator)
                loss = nt_xent_loss(projector(embed(views[0])), projector(embed(views[1])), temperature)
                ssl_total += float(loss.detach())
                if operator is not None and pairs is not None:
                    pick = torch.randint(0, len(pairs.t), (min(batch_size, len(pairs.t)),), generator=generator)
                    first = pairs.first[pick].float().div_(255.0)
                    second = pairs.second[pick].float().div_(255.0)
                    extra = lie_loss(operator, embed(first), embed(second), pairs.t[pick])
                    lie_total += float(extra.detach())
                    loss = loss + lie_weight * extra
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                scheduler.step()
                advance(1)
            history.append({"ssl_loss": ssl_total / steps_per_epoch, "lie_loss": lie_total / steps_per_epoch})
    model.eval()
    settings = {"method": "simclr", "epochs": epochs, "batch_size": batch_size, "lr": lr, "temperature": temperature,
                "seed": seed, "arch_kwargs": kwargs, "projection_dim": projection_dim, "lie_weight": lie_weight,
                "pairs": len(pairs.t) if pairs is not None else 0}  # fmt: skip
    return SSLResult(model, projector, operator, history, time.perf_counter() - started, settings)
