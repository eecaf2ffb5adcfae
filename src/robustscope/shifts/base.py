"""Shifts: versioned, seeded functions of a batch of [0,1] images, RGB ``[B,3,H,W]`` or grey ``[B,1,H,W]``."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from robustscope.errors import RobustscopeError

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.models.preprocessing import Preprocessing


#: Channel counts a batch may have: RGB, or grey (one luma channel, for models declaring ``channels=1``).
CHANNELS = (1, 3)
#: ITU-R 601-2 luma weights, as PIL's ``"L"`` conversion: how an RGB colour looks to a grayscale model.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def to_channels(rgb: torch.Tensor, channels: int) -> torch.Tensor:
    """An RGB tensor (channels on dim 1, e.g. a colour ``[1,3,1,1]`` or images ``[B,3,H,W]``) as ``channels``
    channels: itself for 3, its luma ``0.299·R + 0.587·G + 0.114·B`` (kept as one channel) for 1.

    Shifts draw colours (a watermark's white, mud's brown, frost's tint) in RGB; on a grey batch they
    are drawn in the luma the model's preprocessing gave the image itself.

    Example:
        >>> to_channels(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1), 1).flatten().tolist()
        [0.29899999499320984]
    """
    if channels == 3:
        return rgb
    if channels != 1:
        raise ValueError(f"images must have 1 (grey) or 3 (RGB) channels, got {channels}")
    weights = torch.tensor(LUMA_WEIGHTS, dtype=rgb.dtype, device=rgb.device).view(1, 3, *([1] * (rgb.ndim - 2)))
    return (rgb * weights).sum(1, keepdim=True)


class UnboundShiftError(RobustscopeError, RuntimeError):
    """A shift that reads per-sample data from its dataset (``needs_dataset``) was applied before :meth:`Shift.bind`."""


class Shift(ABC):
    """A distribution shift applied to a batch of images in [0,1] pixel space.

    Subclasses set :attr:`name` and :attr:`version` (bump it whenever outputs change, so stored
    predictions made with the old code are not reused) and implement :meth:`apply`. The result
    must depend only on (image, sample id, parameters, seed), never on batch composition.

    Example:
        >>> import torch
        >>> class Darken(Shift):
        ...     name, version = "darken", "1"
        ...     def __init__(self, factor: float = 0.5):
        ...         self.factor = factor
        ...     def params(self):
        ...         return {"factor": self.factor}
        ...     def apply(self, images, sample_ids, seed):
        ...         return images * self.factor
        >>> Darken(0.5)(torch.ones(2, 3, 4, 4), ["a", "b"], seed=0).max().item()
        0.5
        >>> Darken(0.5).spec()
        'darken:factor=0.5'
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    #: Attacks set this: :meth:`apply` then also takes ``model=`` (eval mode) and ``labels=`` (true
    #: logit indices ``[B]``), and the Runner calls it outside inference mode so gradients flow.
    needs_model: ClassVar[bool] = False
    #: Shifts that read per-sample data from the dataset (object masks, …) set this and implement
    #: :meth:`bind` and :meth:`is_bound`; the Runner binds them to the dataset it runs on.
    needs_dataset: ClassVar[bool] = False

    def bind(self, dataset: Dataset, preprocessing: Preprocessing) -> Shift:
        """A copy of this shift bound to ``dataset``, whose images reach it through ``preprocessing``.

        Shifts without ``needs_dataset`` return themselves. The bound copy has the same
        :meth:`params` and :meth:`spec`; the dataset's fingerprint is part of every prediction key,
        and a bound shift may add more of what it reads to :meth:`key`.
        """
        return self

    def is_bound(self) -> bool:
        """Whether the shift can be applied: always, unless it ``needs_dataset`` and is not bound yet."""
        return not self.needs_dataset

    def params(self) -> dict[str, Any]:
        """The parameters that determine the output (part of the cache key)."""
        return {}

    @abstractmethod
    def apply(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        """Shift ``images`` (``[B,C,H,W]`` in [0,1], C = 3 or 1); returns the same shape, in [0,1]."""

    def __call__(
        self,
        images: torch.Tensor,
        sample_ids: Sequence[str],
        seed: int = 0,
        *,
        model: torch.nn.Module | None = None,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] not in CHANNELS:
            raise ValueError(
                f"shift {self.name} expects [B,3,H,W] (RGB) or [B,1,H,W] (grey) images, got {tuple(images.shape)}"
            )
        if self.needs_dataset and not self.is_bound():
            raise UnboundShiftError(
                f"shift {self.spec()!r} reads per-sample data from its dataset: bind it first with "
                "shift.bind(dataset, model.preprocessing) (Runner.run and Runner.plan do this for you)"
            )
        if self.needs_model:
            if model is None or labels is None:
                raise ValueError(f"shift {self.name} is an attack: call it with model=... and labels=...")
            out = self.apply(images, sample_ids, seed, model=model, labels=labels)  # type: ignore[call-arg]
        else:
            out = self.apply(images, sample_ids, seed)
        return out.clamp_(0.0, 1.0)

    def spec(self) -> str:
        """A readable name with parameters, used as the shift's label in results."""
        params = self.params()
        if not params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(params.items()))

    def key(self) -> dict[str, Any]:
        """Everything that identifies the shift's output: name, version, parameters."""
        return {"name": self.name, "version": self.version, "params": self.params()}


class Identity(Shift):
    """No shift: the clean images.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 3, 2, 2)
        >>> torch.equal(Identity()(x.clone(), ["a"]), x)
        True
    """

    name = "none"

    def apply(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        return images


def sample_seed(sample_id: str, *parts: object) -> int:
    """A 63-bit seed from a sample id and any other parts (corruption, severity, seed…).

    Gives per-sample randomness that does not depend on batch composition or device.

    Example:
        >>> sample_seed("img_001", "gaussian_noise", 3, 0) == sample_seed("img_001", "gaussian_noise", 3, 0)
        True
    """
    text = "\x1f".join([sample_id, *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1
