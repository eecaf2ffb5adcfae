"""AutoAttack (Croce & Hein, ICML 2020) as a shift: the authors' ensemble of parameter-free attacks.

Optional: needs the reference implementation, ``pip install 'robustscope[autoattack]'`` (package
``pyautoattack``), imported only when the attack runs or is keyed. As a Runner shift:
``autoattack:linf:eps=4/255``, ``autoattack:l2:eps=0.5:attacks=apgd-ce+apgd-t``.

Reference:
    Croce, Hein. "Reliable Evaluation of Adversarial Robustness with an Ensemble of Diverse
    Parameter-free Attacks." ICML 2020.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch
from torch import nn

from robustscope.errors import MissingDependencyError, ShiftSpecError
from robustscope.shifts.attacks import EPS, NORM, Attack
from robustscope.shifts.base import sample_seed
from robustscope.shifts.params import Param
from robustscope.shifts.params import format_number as _show

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
        'autoattack:linf:eps=4/255:attacks=apgd-ce'
        >>> adv = attack(x, ["a", "b"], seed=0, model=net, labels=y)  # doctest: +SKIP
        >>> bool((adv - x).abs().max() <= 4 / 255 + 1e-6)  # doctest: +SKIP
        True
    """

    name = "autoattack"
    version = "1"
    PARAMS = (
        NORM,
        EPS,
        # "custom" is what a given attacks list makes of the version; the spec writes the list instead.
        Param("version", default="standard", choices=(*AUTOATTACK_VERSIONS, "custom")),
        Param("attacks", "names", default=None, choices=AUTOATTACK_ATTACKS),
        Param("per_sample", "bool", default=True),
    )
    EXAMPLE = "autoattack:linf:eps=4/255"

    def __init__(
        self,
        norm: str = "linf",
        eps: float = 8 / 255,
        version: str = "standard",
        attacks: Sequence[str] | None = None,
        per_sample: bool = True,
    ):
        NORM.check(norm)
        EPS.check(eps)
        if attacks is not None:
            attacks = tuple(attacks)
            self.PARAMS[3].check(attacks)
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

    def spec_values(self) -> dict[str, Any]:
        # A given attacks list implies the custom version: the spec writes only the list.
        return {**super().spec_values(), "version": "standard" if self.attacks else self.aa_version}

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


def autoattack_shift(argument: str = "") -> AutoAttack:
    """AutoAttack from the part of a spec after ``autoattack:`` (kept for older callers).

    Example:
        >>> autoattack_shift("linf:eps=4/255").spec()
        'autoattack:linf:eps=4/255'
    """
    return AutoAttack.from_spec(f"autoattack:{argument}")


__all__ = [
    "AUTOATTACK_ATTACKS",
    "AUTOATTACK_INSTALL",
    "AUTOATTACK_PACKAGE",
    "AUTOATTACK_VERSIONS",
    "AutoAttack",
    "autoattack_shift",
    "load_autoattack",
]
