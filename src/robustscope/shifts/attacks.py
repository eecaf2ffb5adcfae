"""White-box adversarial attacks as shifts: FGSM (Goodfellow et al., 2015) and PGD (Madry et al., 2018).

Attacks act in [0,1] pixel space (the :class:`~robustscope.models.Model` normalises inside) and
maximise the cross-entropy of the model's logits w.r.t. the true labels. They set
``Shift.needs_model``, so the Runner calls ``apply(images, sample_ids, seed, model=..., labels=...)``
with gradients enabled. As Runner shifts: ``fgsm:eps=1/255``, ``pgd:linf:eps=1/255:steps=20:alpha=2/255``,
``pgd:l2:eps=0.5:steps=10``.

References:
    Goodfellow, Shlens, Szegedy. "Explaining and Harnessing Adversarial Examples." ICLR 2015.
    Madry, Makelov, Schmidt, Tsipras, Vladu. "Towards Deep Learning Models Resistant to Adversarial
    Attacks." ICLR 2018.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustscope.shifts.base import Shift, sample_seed

NORMS = ("linf", "l2")


def _number(text: str) -> float:
    """``"1/255"``, ``"0.5"`` or ``"8"`` → float."""
    return float(Fraction(text.strip()))


def _show(value: float) -> str:
    """A float as a short fraction when it is one (``1/255``), else ``repr``; keeps specs readable."""
    frac = Fraction(value).limit_denominator(10_000)
    if frac.denominator != 1 and abs(float(frac) - value) < 1e-12:
        return f"{frac.numerator}/{frac.denominator}"
    return repr(float(value))


def _parse(argument: str, positional: Sequence[str] = ()) -> dict[str, str]:
    """``"linf:eps=1/255:steps=20"`` (``:`` or ``,`` separated) → ``{"norm": "linf", "eps": "1/255", ...}``."""
    out: dict[str, str] = {}
    free = list(positional)
    for token in argument.replace(",", ":").split(":"):
        token = token.strip()
        if not token:
            continue
        key, sep, value = token.partition("=")
        if not sep:
            if not free:
                raise ValueError(f"unexpected argument {token!r} in attack spec {argument!r}")
            key, value = free.pop(0), token
        out[key.strip()] = value.strip()
    return out


def input_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient of the summed cross-entropy w.r.t. the input pixels, ``[B,3,H,W]``.

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
    with ``images [B,3,H,W]`` in [0,1] and ``labels [B]`` (int64 logit indices). The result must be
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
        """Adversarial images ``[B,3,H,W]`` in [0,1] for ``images`` with true ``labels``."""


class FGSM(Attack):
    """Fast Gradient Sign Method (Goodfellow et al., ICLR 2015): ``x + eps * sign(∇x CE)``, in [0,1].

    Args:
        eps: L∞ budget in [0,1] pixel units (``1/255`` = one grey level).

    Shapes: ``images [B,3,H,W]`` in [0,1], ``labels [B]`` → ``[B,3,H,W]``.

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

    def __init__(self, eps: float):
        if eps < 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
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

    @classmethod
    def from_spec(cls, argument: str) -> FGSM:
        """``eps=1/255`` (or just ``1/255``) → ``FGSM(1/255)``."""
        args = _parse(argument, positional=("eps",))
        unknown = set(args) - {"eps"}
        if unknown or "eps" not in args:
            raise ValueError(f"fgsm takes eps=..., got {argument!r}")
        return cls(_number(args["eps"]))


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
        eps: budget in [0,1] pixel units (L∞: per pixel; L2: over the whole ``3·H·W`` image).
        alpha: step size; default ``2.5 · eps / steps`` (Madry et al.'s rule of thumb).
        steps: iterations.
        random_start: start from a random point of the ball (True) or the clean image.

    Shapes: ``images [B,3,H,W]`` in [0,1], ``labels [B]`` → ``[B,3,H,W]``.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
        >>> x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 0, 1])
        >>> attack = PGD("linf", eps=8 / 255, alpha=2 / 255, steps=5)
        >>> adv = attack(x, ["a", "b", "c", "d"], seed=0, model=net, labels=y)
        >>> bool((adv - x).abs().max() <= 8 / 255 + 1e-6)
        True
        >>> attack.spec()
        'pgd:alpha=2/255,eps=8/255,norm=linf,random_start=True,steps=5'
    """

    name = "pgd"
    version = "1"

    def __init__(
        self,
        norm: str = "linf",
        eps: float = 8 / 255,
        alpha: float | None = None,
        steps: int = 10,
        random_start: bool = True,
    ):
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if eps < 0 or steps < 0 or (alpha is not None and alpha < 0):
            raise ValueError("eps, alpha and steps must be >= 0")
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

    @classmethod
    def from_spec(cls, argument: str) -> PGD:
        """``linf:eps=1/255:steps=20:alpha=2/255`` (``:`` or ``,``; the norm may be ``norm=l2``) → ``PGD``."""
        args = _parse(argument, positional=("norm",))
        unknown = set(args) - {"norm", "eps", "alpha", "steps", "random_start"}
        if unknown:
            raise ValueError(f"pgd: unknown parameter(s) {sorted(unknown)} in {argument!r}")
        start = args.get("random_start", "true").lower()
        if start not in ("true", "false", "1", "0"):
            raise ValueError(f"pgd: random_start must be true/false, got {start!r}")
        return cls(
            norm=args.get("norm", "linf").lower(),
            eps=_number(args.get("eps", "8/255")),
            alpha=_number(args["alpha"]) if "alpha" in args else None,
            steps=int(args.get("steps", "10")),
            random_start=start in ("true", "1"),
        )

    def random_init(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        """The starting perturbation ``[B,3,H,W]`` (inside the ball, before the [0,1] clip)."""
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
    """Shift factory for ``fgsm:eps=1/255``.

    Example:
        >>> fgsm_shift("eps=1/255").eps == 1 / 255
        True
    """
    return FGSM.from_spec(argument)


def pgd_shift(argument: str = "") -> PGD:
    """Shift factory for ``pgd:linf:eps=1/255:steps=20:alpha=2/255`` (also ``pgd:l2:eps=0.5``).

    Example:
        >>> pgd_shift("linf:eps=1/255:steps=20:alpha=2/255").spec()
        'pgd:alpha=2/255,eps=1/255,norm=linf,random_start=True,steps=20'
    """
    return PGD.from_spec(argument)


__all__ = ["FGSM", "NORMS", "PGD", "Attack", "fgsm_shift", "input_gradient", "pgd_shift"]
