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

import importlib
import logging
from abc import abstractmethod
from collections.abc import Sequence
from fractions import Fraction
from types import ModuleType
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from robustscope.errors import MissingDependencyError, ShiftSpecError
from robustscope.shifts.base import Shift, sample_seed

NORMS = ("linf", "l2")


def _where(attack: str, argument: str) -> str:
    """The spec as the user wrote it: ``fgsm:eps=abc`` (``pgd`` alone when it had no argument)."""
    return f"{attack}:{argument}" if argument else attack


def _number(attack: str, argument: str, key: str, text: str) -> float:
    """``"1/255"``, ``"0.5"`` or ``"8"`` → float; anything else (``abc``, ``1/0``, ``inf``) is a spec error."""
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError, OverflowError):
        raise ShiftSpecError(
            f"{_where(attack, argument)}: {key} must be a number or a fraction (e.g. {key}=1/255), got {text!r}"
        ) from None
    return value


def _whole(attack: str, argument: str, key: str, text: str) -> int:
    """``"20"`` → 20; anything else is a spec error naming the key."""
    try:
        return int(text.strip())
    except ValueError:
        raise ShiftSpecError(
            f"{_where(attack, argument)}: {key} must be a whole number (e.g. {key}=20), got {text!r}"
        ) from None


def _show(value: float) -> str:
    """A float as a short fraction when it is one (``1/255``), else ``repr``; keeps specs readable."""
    frac = Fraction(value).limit_denominator(10_000)
    if frac.denominator != 1 and abs(float(frac) - value) < 1e-12:
        return f"{frac.numerator}/{frac.denominator}"
    return repr(float(value))


def _parse(attack: str, argument: str, known: Sequence[str], positional: Sequence[str] = ()) -> dict[str, str]:
    """``"linf:eps=1/255:steps=20"`` (``:`` or ``,`` separated) → ``{"norm": "linf", "eps": "1/255", ...}``.

    Unknown keys, repeated keys and positional values beyond ``positional`` raise :class:`ShiftSpecError`
    naming the spec and the keys ``known``.
    """
    out: dict[str, str] = {}
    free = list(positional)
    takes = ", ".join(f"{k}=..." for k in known)
    for token in argument.replace(",", ":").split(":"):
        token = token.strip()
        if not token:
            continue
        key, sep, value = token.partition("=")
        if not sep:
            if not free:
                raise ShiftSpecError(f"{_where(attack, argument)}: unexpected {token!r}; {attack} takes {takes}")
            key, value = free.pop(0), token
        key = key.strip()
        if key not in known:
            raise ShiftSpecError(f"{_where(attack, argument)}: unknown parameter {key!r}; {attack} takes {takes}")
        if key in out:
            raise ShiftSpecError(f"{_where(attack, argument)}: {key} is given twice")
        free = [k for k in free if k != key]  # a key given by name is no longer free for a positional value
        out[key] = value.strip()
    return out


def _parse_known(
    attack: str, argument: str, known: set[str], positional: Sequence[str] = (), flags: Sequence[str] = ()
) -> tuple[dict[str, str], dict[str, bool]]:
    """:func:`_parse` over the keys ``known``, reading the true/false ``flags`` (default true)."""
    args = _parse(attack, argument, sorted(known), positional=positional)
    values: dict[str, bool] = {}
    for flag in flags:
        text = args.get(flag, "true").lower()
        if text not in ("true", "false", "1", "0"):
            raise ShiftSpecError(f"{_where(attack, argument)}: {flag} must be true or false, got {text!r}")
        values[flag] = text in ("true", "1")
    return args, values


def _named(err: ShiftSpecError, attack: str, argument: str) -> ShiftSpecError:
    """``err`` with the spec it came from in front (``pgd:l3: norm must be linf or l2``), once."""
    prefix = f"{_where(attack, argument)}: "
    message = str(err)
    return ShiftSpecError(message if message.startswith(prefix) else prefix + message)


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

    def __init__(self, eps: float):
        if not eps >= 0:  # also refuses NaN
            raise ShiftSpecError(f"eps must be >= 0 (a budget in [0,1] pixels, e.g. eps=1/255), got {_show(eps)}")
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
        args = _parse("fgsm", argument, ("eps",), positional=("eps",))
        if "eps" not in args:
            raise ShiftSpecError(f"{_where('fgsm', argument)}: fgsm needs its budget, e.g. fgsm:eps=1/255")
        try:
            return cls(_number("fgsm", argument, "eps", args["eps"]))
        except ShiftSpecError as err:
            raise _named(err, "fgsm", argument) from None


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
            raise ShiftSpecError(f"norm must be linf or l2, got {norm!r}")
        for key, value in (("eps", eps), ("steps", steps), ("alpha", 0.0 if alpha is None else alpha)):
            if not value >= 0:  # also refuses NaN
                raise ShiftSpecError(f"{key} must be >= 0, got {value if key == 'steps' else _show(value)}")
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
        known = {"norm", "eps", "alpha", "steps", "random_start"}
        args, flags = _parse_known("pgd", argument, known, positional=("norm",), flags=("random_start",))
        try:
            return cls(
                norm=args.get("norm", "linf").lower(),
                eps=_number("pgd", argument, "eps", args.get("eps", "8/255")),
                alpha=_number("pgd", argument, "alpha", args["alpha"]) if "alpha" in args else None,
                steps=_whole("pgd", argument, "steps", args.get("steps", "10")),
                random_start=flags["random_start"],
            )
        except ShiftSpecError as err:
            raise _named(err, "pgd", argument) from None

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


# -- AutoAttack (optional: the pyautoattack package) ---------------------------------------------------
AUTOATTACK_PACKAGE = "pyautoattack"
AUTOATTACK_INSTALL = "pip install 'robustscope[autoattack]'"
#: The attacks of the AutoAttack ensemble, by the reference implementation's names.
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
AUTOATTACK_VERSIONS = ("standard", "plus")


def load_autoattack() -> ModuleType:
    """Import the AutoAttack reference implementation (``pyautoattack``), or explain how to install it.

    Example:
        >>> load_autoattack().AutoAttack.__name__  # doctest: +SKIP
        'AutoAttack'
    """
    try:
        return importlib.import_module(AUTOATTACK_PACKAGE)
    except ImportError:
        raise MissingDependencyError(
            f"the autoattack shift needs the AutoAttack reference implementation (Croce & Hein, ICML 2020), "
            f"package {AUTOATTACK_PACKAGE!r}, which is not installed: {AUTOATTACK_INSTALL}"
        ) from None


class AutoAttack(Attack):
    """AutoAttack (Croce & Hein, ICML 2020): an ensemble of parameter-free attacks, as a shift.

    Runs the authors' implementation (fra31/auto-attack, as packaged on PyPI under the name
    ``pyautoattack``; ``pip install 'robustscope[autoattack]'``; imported only when the attack runs). The
    ``standard`` version runs APGD-CE, APGD-T (targeted DLR loss, 9 target classes), FAB-T and
    Square (5,000 queries), each only on the points the previous ones did not break, and returns
    the first adversarial example found (the clean image where none is). ``plus`` adds restarts
    and the untargeted APGD-DLR and FAB. A custom ``attacks`` list runs a subset with the standard
    version's settings, e.g. ``("apgd-ce", "apgd-t")``, the usual cheaper variant. Target classes
    are capped at ``num_classes - 1`` for models with fewer than 10 classes.

    Determinism: with ``per_sample=True`` (default) each image is attacked on its own with a seed
    from ``sample_seed(sample_id, "autoattack", norm, eps, seed)``, so the result depends only on
    (image, label, sample id, parameters, seed), never on the batch, at the cost of batch-1
    forward passes. ``per_sample=False`` attacks whole batches with one seed: faster on a GPU, but
    the random starts then depend on which images share a batch. The library seeds torch's global
    generator; that state is restored afterwards.

    Args:
        norm: ``"linf"`` or ``"l2"``.
        eps: budget in [0,1] pixel units.
        version: ``"standard"`` or ``"plus"`` (ignored when ``attacks`` is given).
        attacks: a subset of :data:`AUTOATTACK_ATTACKS` to run, in order (``version`` becomes ``custom``).
        per_sample: attack image by image (batch-independent) or batch by batch.

    Shapes: ``images [B,C,H,W]`` in [0,1] (C = 3 or 1), ``labels [B]`` → ``[B,C,H,W]``.

    Example:
        >>> from torch import nn
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)).eval()
        >>> x, y = torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
        >>> attack = AutoAttack("linf", eps=4 / 255, attacks=("apgd-ce",))
        >>> attack.spec()
        'autoattack:attacks=apgd-ce,eps=4/255,norm=linf,per_sample=True,version=custom'
        >>> adv = attack(x, ["a", "b"], seed=0, model=net, labels=y)  # doctest: +SKIP
        >>> bool((adv - x).abs().max() <= 4 / 255 + 1e-6)  # doctest: +SKIP
        True
    """

    name = "autoattack"
    version = "1"

    def __init__(
        self,
        norm: str = "linf",
        eps: float = 8 / 255,
        version: str = "standard",
        attacks: Sequence[str] | None = None,
        per_sample: bool = True,
    ):
        if norm not in NORMS:
            raise ShiftSpecError(f"norm must be linf or l2, got {norm!r}")
        if not eps >= 0:
            raise ShiftSpecError(f"eps must be >= 0, got {_show(eps)}")
        if attacks is not None:
            attacks = tuple(attacks)
            unknown = [a for a in attacks if a not in AUTOATTACK_ATTACKS]
            if unknown or not attacks or len(set(attacks)) != len(attacks):
                raise ShiftSpecError(f"attacks must be distinct names from {AUTOATTACK_ATTACKS}, got {attacks}")
            version = "custom"
        elif version not in AUTOATTACK_VERSIONS:
            raise ShiftSpecError(
                f"version must be one of {AUTOATTACK_VERSIONS} (or pass attacks=...), got {version!r}"
            )
        self.norm = norm
        self.eps = float(eps)
        self.aa_version = version
        self.attacks = attacks
        self.per_sample = bool(per_sample)

    def params(self) -> dict[str, Any]:
        return {
            "norm": self.norm,
            "eps": _show(self.eps),
            "version": self.aa_version,
            **({"attacks": "+".join(self.attacks)} if self.attacks else {}),
            "per_sample": self.per_sample,
        }

    def key(self) -> dict[str, Any]:
        # Another release of the reference implementation may find other adversarial examples.
        from importlib.metadata import version

        load_autoattack()  # fail at planning time, before any forward pass, when it is missing
        return {**super().key(), "library": f"{AUTOATTACK_PACKAGE} {version(AUTOATTACK_PACKAGE)}"}

    @classmethod
    def from_spec(cls, argument: str) -> AutoAttack:
        """``linf:eps=4/255`` (also ``version=plus``, ``attacks=apgd-ce+apgd-t``, ``per_sample=false``)."""
        known = {"norm", "eps", "version", "attacks", "per_sample"}
        args, flags = _parse_known("autoattack", argument, known, positional=("norm",), flags=("per_sample",))
        version = args.get("version", "standard").lower()
        attacks = tuple(a for a in args["attacks"].split("+") if a) if "attacks" in args else None
        try:
            return cls(
                norm=args.get("norm", "linf").lower(),
                eps=_number("autoattack", argument, "eps", args.get("eps", "8/255")),
                version="standard" if version == "custom" and attacks else version,
                attacks=attacks,
                per_sample=flags["per_sample"],
            )
        except ShiftSpecError as err:
            raise _named(err, "autoattack", argument) from None

    def _reference(self, model: nn.Module, num_classes: int, seed: int, device: torch.device) -> Any:
        """A configured ``pyautoattack.AutoAttack`` for ``model``."""
        library = load_autoattack()
        plus = self.aa_version == "plus"
        runner = library.AutoAttack(
            model,
            norm={"linf": "Linf", "l2": "L2"}[self.norm],
            eps=self.eps,
            version="plus" if plus else "standard",
            seed=seed,
            device=device,
        )
        if self.attacks is not None:  # a subset, with the standard version's settings
            runner.attacks_to_run = list(self.attacks)
        targets = max(1, min(9, num_classes - 1))
        runner.apgd_targeted.n_target_classes = min(runner.apgd_targeted.n_target_classes, targets)
        runner.fab.n_target_classes = min(runner.fab.n_target_classes, targets)
        return runner

    def perturb(
        self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, sample_ids: Sequence[str], seed: int
    ) -> torch.Tensor:
        if self.eps == 0:
            return images.clone()
        with torch.no_grad():
            num_classes = int(model(images[:1]).shape[1])
        needs_dlr = {"apgd-dlr", "apgd-t"} & set(self.attacks or AUTOATTACK_ATTACKS)
        if needs_dlr and num_classes < 4:
            raise ValueError(
                f"AutoAttack's DLR-loss attacks ({', '.join(sorted(needs_dlr))}) need at least 4 classes, the model "
                f"has {num_classes}: pass attacks=apgd-ce+fab+square (or a subset)"
            )
        if self.per_sample:
            chunks = [
                (slice(i, i + 1), sample_seed(str(sid), "autoattack", self.norm, self.eps, seed) % 2**31)
                for i, sid in enumerate(sample_ids)
            ]
        else:
            chunks = [(slice(0, len(images)), sample_seed("batch", "autoattack", self.norm, self.eps, seed) % 2**31)]
        devices = [images.device] if images.device.type == "cuda" else []
        out = []
        quiet = logging.getLogger("auto-attack")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # its per-run checks warn on toy models; the report says what ran
        try:
            for index, chunk_seed in chunks:
                with torch.random.fork_rng(devices=devices):  # it seeds torch's global generator
                    runner = self._reference(model, num_classes, chunk_seed, images.device)
                    adv, _ = runner.run_standard_evaluation(images[index], labels[index], batch_size=len(images))
                out.append(adv.to(images.dtype))
        finally:
            quiet.setLevel(level)
        return torch.cat(out).clamp(0.0, 1.0)


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


def autoattack_shift(argument: str = "") -> AutoAttack:
    """Shift factory for ``autoattack:linf:eps=4/255`` (also ``autoattack:l2:eps=0.5``, ``...:attacks=apgd-ce+apgd-t``).

    Example:
        >>> autoattack_shift("linf:eps=4/255").spec()
        'autoattack:eps=4/255,norm=linf,per_sample=True,version=standard'
    """
    return AutoAttack.from_spec(argument)


__all__ = [
    "AUTOATTACK_ATTACKS",
    "FGSM",
    "NORMS",
    "PGD",
    "Attack",
    "AutoAttack",
    "MissingDependencyError",
    "autoattack_shift",
    "fgsm_shift",
    "input_gradient",
    "load_autoattack",
    "pgd_shift",
]
