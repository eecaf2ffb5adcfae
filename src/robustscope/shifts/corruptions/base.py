"""The common-corruption machinery: a registry of batched torch corruptions, per-sample seeding,
resolution scaling, and the :class:`Corruption` shift the Runner uses.

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019 (ImageNet-C). Parameter tables are the published ones (the
``imagecorruptions`` package, 224 px); spatial parameters scale with ``min(H, W) / 224``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from robustscope.errors import SpecError
from robustscope.registry import Registry
from robustscope.shifts.base import CHANNELS, Shift, sample_seed
from robustscope.shifts.params import Param

#: Image side the published parameters were tuned for.
REFERENCE_SIZE = 224
SEVERITIES = (1, 2, 3, 4, 5)

#: ``fn(images, severity, generators) -> images``: ``images`` ``[B,C,H,W]`` in [0,1] (float32, any
#: device; C = 3 for RGB or 1 for grey); ``generators`` one seeded CPU ``torch.Generator`` per sample
#: (draw randomness per sample on the CPU, then move it, so results do not depend on batch
#: composition or device).
CorruptionFn = Callable[[torch.Tensor, int, list[torch.Generator]], torch.Tensor]


@dataclass(frozen=True)
class CorruptionInfo:
    """One registered corruption: its function, family and whether its output is random."""

    name: str
    fn: CorruptionFn
    family: str  # noise, blur, weather, digital
    random: bool
    summary: str = ""


CORRUPTIONS: Registry[CorruptionInfo] = Registry("corruption")


def register_corruption(
    name: str, family: str, random: bool, summary: str = ""
) -> Callable[[CorruptionFn], CorruptionFn]:
    """Decorator that registers a batched corruption function under ``name``.

    Example (how each family module registers its functions)::

        @register_corruption("contrast", "digital", random=False, summary="contrast reduction")
        def contrast(images, severity, generators):
            ...

        >>> import robustscope.shifts.corruptions
        >>> CORRUPTIONS.get("contrast")().family  # doctest: +SKIP
        'digital'
    """

    def decorate(fn: CorruptionFn) -> CorruptionFn:
        info = CorruptionInfo(name, fn, family, random, summary)
        CORRUPTIONS.add(name, lambda: info, summary=summary, example=f"corruption:{name}:3")
        return fn

    return decorate


def spatial_scale(images: torch.Tensor) -> float:
    """``min(H, W) / 224``: the factor by which pixel-sized parameters (blur radii, shifts) scale.

    Example:
        >>> spatial_scale(torch.zeros(1, 3, 112, 150))
        0.5
    """
    return min(images.shape[-2:]) / REFERENCE_SIZE


def generators_for(sample_ids: Sequence[str], name: str, severity: int, seed: int) -> list[torch.Generator]:
    """One CPU generator per sample, seeded by (sample id, corruption, severity, seed).

    Example:
        >>> a = generators_for(["x", "y"], "gaussian_noise", 3, 0)
        >>> b = generators_for(["y"], "gaussian_noise", 3, 0)
        >>> torch.equal(torch.rand(2, generator=a[1]), torch.rand(2, generator=b[0]))
        True
    """
    generators = []
    for sample_id in sample_ids:
        generator = torch.Generator(device="cpu")
        generator.manual_seed(sample_seed(str(sample_id), "corruption", name, severity, seed))
        generators.append(generator)
    return generators


def per_sample(generators: Sequence[torch.Generator], shape: Sequence[int], draw: str = "rand",
               device: torch.device | str = "cpu") -> torch.Tensor:
    """Stack one random tensor of ``shape`` per sample (``rand`` uniform [0,1) or ``randn``), drawn on
    the CPU from each sample's generator and moved to ``device``.

    Example:
        >>> per_sample(generators_for(["a", "b"], "x", 1, 0), (3, 2, 2)).shape
        torch.Size([2, 3, 2, 2])
    """
    sampler = torch.rand if draw == "rand" else torch.randn
    return torch.stack([sampler(tuple(shape), generator=g) for g in generators]).to(device)


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int = 0,
            sample_ids: Sequence[str] | None = None) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1–5) to ``[B,C,H,W]`` images in [0,1], C = 3 (RGB) or 1 (grey).

    ``sample_ids`` make the randomness per sample (default: the position in the batch, which
    ties the result to the batch composition). On grey images noise is drawn per grey pixel (as in
    MNIST-C) and colours in luma; see :mod:`robustscope.shifts.corruptions` for each corruption.

    Example:
        >>> x = torch.full((2, 3, 32, 32), 0.5)
        >>> y = corrupt(x, "gaussian_noise", 3, seed=0, sample_ids=["a", "b"])  # doctest: +SKIP
        >>> y.shape, bool((y >= 0).all() and (y <= 1).all())  # doctest: +SKIP
        (torch.Size([2, 3, 32, 32]), True)
    """
    if severity not in SEVERITIES:
        raise SpecError(f"severity must be one of {SEVERITIES}, got {severity}")
    if images.ndim != 4 or images.shape[1] not in CHANNELS:
        raise ValueError(f"corrupt expects [B,3,H,W] (RGB) or [B,1,H,W] (grey) images, got {tuple(images.shape)}")
    info = CORRUPTIONS.get(name)()
    ids = list(sample_ids) if sample_ids is not None else [str(i) for i in range(images.shape[0])]
    if len(ids) != images.shape[0]:
        raise ValueError(f"{len(ids)} sample ids for a batch of {images.shape[0]}")
    generators = generators_for(ids, name, severity, seed)
    return info.fn(images.float(), severity, generators).clamp(0.0, 1.0)


class Corruption(Shift):
    """A common corruption at one severity, as a Shift (``--shift corruption:glass_blur:3``).

    Example:
        >>> Corruption("glass_blur", 3).spec()
        'corruption:glass_blur:3'
    """

    name = "corruption"
    version = "1"
    PARAMS = (
        Param("corruption", positional=True, metavar="NAME"),  # checked against the registry, with near misses
        Param("severity", "int", positional=True, range=(SEVERITIES[0], SEVERITIES[-1])),
    )
    EXAMPLE = "corruption:glass_blur:3"

    def __init__(self, corruption: str, severity: int):
        CORRUPTIONS.entry(corruption)  # unknown names fail here, with near misses
        self.PARAMS[1].check(int(severity))
        self.corruption, self.severity = corruption, int(severity)

    def params(self) -> dict[str, object]:
        return {"corruption": self.corruption, "severity": self.severity}

    def apply(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        return corrupt(images, self.corruption, self.severity, seed=seed, sample_ids=sample_ids)
