"""Adversarial attacks as shifts: FGSM (Goodfellow et al. 2015), PGD (Madry et al. 2018), AutoAttack (Croce & Hein).

Attacks act in [0,1] pixel space (the :class:`~robustscope.models.Model` normalises inside) and
maximise the cross-entropy of the model's logits w.r.t. the true labels. They set
``Shift.needs_model``, so the Runner calls ``apply(images, sample_ids, seed, model=..., labels=...)``
with gradients enabled. As Runner shifts: ``fgsm:eps=1/255``, ``pgd:linf:eps=1/255:steps=20:alpha=2/255``,
``pgd:l2:eps=0.5:steps=10``, ``autoattack:linf:eps=4/255`` (needs ``pip install 'robustscope[autoattack]'``).

References:
    Goodfellow, Shlens, Szegedy. "Explaining and Harnessing Adversarial Examples." ICLR 2015.
    Madry, Makelov, Schmidt, Tsipras, Vladu. "Towards Deep Learning Models Resistant to Adversarial
    Attacks." ICLR 2018.
    Croce, Hein. "Reliable Evaluation of Adversarial Robustness with an Ensemble of Diverse
    Parameter-free Attacks." ICML 2020 (AutoAttack).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustscope.errors import MissingDependencyError
from robustscope.shifts.base import Shift, sample_seed
from robustscope.shifts.params import Param
from robustscope.shifts.params import format_number as _show

NORMS = ("linf", "l2")
#: The budget and the norm, as every attack declares them.
EPS = Param("eps", "number", default=8 / 255, range=(0, None), example="1/255")
NORM = Param("norm", positional=True, default="linf", choices=NORMS)


def input_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy w.r.t. the input pixels, ``[B,C,H,W]`` like the images.

    Summed, not averaged, so each sample's gradient does not depend on the batch size.
    Only the input requires grad: parameter gradients are never computed or stored.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
        >>> input_gradient(net, torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 0, 1])).shape
        torch.Size([4, 3, 2, 2])
    """
    with torch.enable_grad():
        x = images.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model(x).float(), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def _flat_norm(x: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm, shaped ``[B,1,1,1]`` to broadcast over images."""
    return x.flatten(1).norm(dim=1).view(-1, *([1] * (x.ndim - 1)))


class Attack(Shift):
    """Base class of the attacks: checks arguments, runs :meth:`perturb` with gradients on.

    Subclasses implement ``perturb(model, images, labels, sample_ids, seed) -> adversarial images``
    with ``images [B,C,H,W]`` in [0,1] (C = 3, or 1 for grey models: every attack is channel-agnostic,
    perturbing each value of the tensor the model sees) and ``labels [B]`` (int64 logit indices). The result must be
    in [0,1] and depend only on (image, label, sample id, parameters, seed).
    """

    needs_model: ClassVar[bool] = True

    def apply(  # type: ignore[override]
        self,
        images: torch.Tensor,
        sample_ids: Sequence[str],
        seed: int,
        model: nn.Module | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if model is None or labels is None:
            raise ValueError(f"attack {self.name} needs model=... and labels=... (true logit indices)")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must be [B]={images.shape[0]}, got {tuple(labels.shape)}")
        if bool((labels < 0).any()):
            raise ValueError("labels contain -1: every attacked sample needs a class in the model's label space")
        # A shift receives no reference to the model's mode; attacks assume eval (the Runner sets it).
        with torch.enable_grad():
            adv = self.perturb(model, images.detach(), labels.to(images.device).long(), sample_ids, seed)
        return adv.detach()

    @abstractmethod
    def perturb(
        self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, sample_ids: Sequence[str], seed: int
    ) -> torch.Tensor:
        """Adversarial images ``[B,C,H,W]`` in [0,1] for ``images`` with true ``labels``."""


class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al., ICLR 2015): ``x + eps * sign(∇x CE)``, in [0,1].

    Args:
        eps: L∞ budget in [0,1] pixel units (``1/255`` = one grey level).

    Shapes: ``images [B,C,H,W]`` in [0,1] (C = 3 or 1), ``labels [B]`` → ``[B,C,H,W]``.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
        >>> x = torch.rand(4, 3, 2, 2)
        >>> adv = FGSM(eps=8 / 255)(x, ["a", "b", "c", "d"], model=net, labels=torch.tensor([0, 1, 0, 1]))
        >>> bool((adv - x).abs().max() <= 8 / 255 + 1e-6)
        True
        >>> FGSM(eps=1 / 255).spec()
        'fgsm:eps=1/255'
    """

    name = "fgsm"
    version = "1"
    # The budget may be given bare (fgsm:1/255) but is written eps=1/255: the number alone reads as nothing.
    PARAMS = (Param("eps", "number", positional=True, named=True, range=(0, None), example="1/255"),)
    EXAMPLE = "fgsm:eps=1/255"

    def __init__(self, eps: float):
        self.PARAMS[0].check(eps)  # also refuses NaN
        self.eps = float(eps)

    def params(self) -> dict[str, Any]:
        return {"eps": _show(self.eps)}

    def perturb(
        self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, sample_ids: Sequence[str], seed: int
    ) -> torch.Tensor:
        if self.eps == 0:
            return images.clone()
        grad = input_gradient(model, images, labels)
        return (images + self.eps * grad.sign()).clamp(0.0, 1.0)


class PGD(Attack):
    """Projected Gradient Descent (Madry et al., ICLR 2018), L∞ or L2, with a seeded random start.

    Each of ``steps`` iterations ascends the cross-entropy and projects back onto the eps-ball
    around the clean image and onto [0,1]:

    - ``linf``: ``x ← Π(x + alpha · sign(∇))``, projection = clip of the perturbation to [-eps, eps];
    - ``l2``: ``x ← Π(x + alpha · ∇/‖∇‖₂)``, projection = rescaling the perturbation to norm ≤ eps.

    The random start (uniform in the L∞ box; uniform in the L2 ball) is drawn on the CPU from a
    generator seeded by ``sample_seed(sample_id, "pgd", norm, eps, seed)`` and then moved to the
    images' device, so the result does not depend on batch composition or device.

    Args:
        norm: ``"linf"`` or ``"l2"``.
        eps: budget in [0,1] pixel units (L∞: per value; L2: over the whole ``C·H·W`` image).
        alpha: step size; default ``2.5 · eps / steps`` (Madry et al.'s rule of thumb).
        steps: iterations.
        random_start: start from a random point of the ball (True) or the clean image.

    Shapes: ``images [B,C,H,W]`` in [0,1] (C = 3 or 1), ``labels [B]`` → ``[B,C,H,W]``.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
        >>> x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 0, 1])
        >>> attack = PGD("linf", eps=8 / 255, alpha=2 / 255, steps=5)
        >>> adv = attack(x, ["a", "b", "c", "d"], seed=0, model=net, labels=y)
        >>> bool((adv - x).abs().max() <= 8 / 255 + 1e-6)
        True
        >>> attack.spec()
        'pgd:linf:steps=5:alpha=2/255'
    """

    name = "pgd"
    version = "1"
    PARAMS = (
        NORM,
        EPS,
        Param("steps", "int", default=10, range=(0, None)),
        Param("alpha", "number", default=None, range=(0, None), example="2/255"),  # None: 2.5 · eps / steps
        Param("random_start", "bool", default=True),
    )
    EXAMPLE = "pgd:linf:eps=1/255:steps=20:alpha=2/255"

    def __init__(
        self,
        norm: str = "linf",
        eps: float = 8 / 255,
        alpha: float | None = None,
        steps: int = 10,
        random_start: bool = True,
    ):
        for param, value in zip(self.PARAMS, (norm, eps, steps, alpha), strict=False):
            param.check(value)  # also refuses NaN
        self.norm = norm
        self.eps = float(eps)
        self.steps = int(steps)
        self.alpha = float(alpha) if alpha is not None else 2.5 * self.eps / max(self.steps, 1)
        self.random_start = bool(random_start)

    def params(self) -> dict[str, Any]:
        return {
            "norm": self.norm,
            "eps": _show(self.eps),
            "alpha": _show(self.alpha),
            "steps": self.steps,
            "random_start": self.random_start,
        }

    def spec_values(self) -> dict[str, Any]:
        # alpha is left out of the spec when it is the derived default, so pgd:linf:eps=1/255 reads as written.
        derived = self.alpha == 2.5 * self.eps / max(self.steps, 1)
        return {**super().spec_values(), "alpha": None if derived else self.alpha}

    def random_init(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        """The starting perturbation ``[B,C,H,W]`` (inside the ball, before the [0,1] clip)."""
        shape = images.shape[1:]
        deltas = []
        for sid in sample_ids:
            gen = torch.Generator().manual_seed(sample_seed(str(sid), "pgd", self.norm, self.eps, seed))
            if self.norm == "linf":
                delta = (torch.rand(shape, generator=gen) * 2 - 1) * self.eps
            else:  # uniform in the L2 ball: Gaussian direction, radius eps · u^(1/d)
                direction = torch.randn(shape, generator=gen)
                radius = torch.rand((), generator=gen) ** (1.0 / direction.numel())
                delta = direction / direction.norm().clamp_min(1e-12) * radius * self.eps
            deltas.append(delta)
        return torch.stack(deltas).to(images.device, images.dtype)

    def project(self, adv: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Project onto the eps-ball around ``images``, then onto [0,1]."""
        delta = adv - images
        if self.norm == "linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            norm = _flat_norm(delta)
            delta = delta * torch.where(norm > self.eps, self.eps / norm.clamp_min(1e-12), torch.ones_like(norm))
        return (images + delta).clamp(0.0, 1.0)

    def perturb(
        self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, sample_ids: Sequence[str], seed: int
    ) -> torch.Tensor:
        if self.eps == 0:
            return images.clone()
        adv = images.clone()
        if self.random_start:
            adv = (images + self.random_init(images, sample_ids, seed)).clamp(0.0, 1.0)
        for _ in range(self.steps):
            grad = input_gradient(model, adv, labels)
            step = grad.sign() if self.norm == "linf" else grad / _flat_norm(grad).clamp_min(1e-12)
            adv = self.project(adv + self.alpha * step, images)
        return adv


def fgsm_shift(argument: str = "") -> FGSM:
    """FGSM from the part of a spec after ``fgsm:`` (kept for older callers; :func:`load_shift` reads whole specs).

    Example:
        >>> fgsm_shift("eps=1/255").eps == 1 / 255
        True
    """
    return FGSM.from_spec(f"fgsm:{argument}")


def pgd_shift(argument: str = "") -> PGD:
    """PGD from the part of a spec after ``pgd:`` (kept for older callers; :func:`load_shift` reads whole specs).

    Example:
        >>> pgd_shift("linf:eps=1/255:steps=20:alpha=2/255").spec()
        'pgd:linf:eps=1/255:steps=20:alpha=2/255'
    """
    return PGD.from_spec(f"pgd:{argument}")


__all__ = ["EPS", "FGSM", "NORM", "NORMS", "PGD", "Attack", "MissingDependencyError", "fgsm_shift", "input_gradient",
           "pgd_shift"]
