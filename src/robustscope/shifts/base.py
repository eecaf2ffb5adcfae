"""Shifts: versioned, seeded functions of a batch of [0,1] images, RGB ``[B,3,H,W]`` or grey ``[B,1,H,W]``."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import torch

from robustscope.errors import RobustscopeError, ShiftSpecError
from robustscope.shifts.params import Param
from robustscope.shifts.spec import ParsedSpec, bind_spec, parse_spec, write_spec

if TYPE_CHECKING:
    import pandas as pd

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


_S = TypeVar("_S", bound="Shift")


class ShiftDataset(Protocol):
    """What a dataset-bound shift may read of the dataset it runs on (a :class:`robustscope.data.Dataset` is one).

    Declared here, not imported from ``robustscope.data``: shifts sit on a floor below the datasets.
    """

    name: str
    root: Path
    manifest: pd.DataFrame
    metadata: dict[str, Any]

    def file_digests(self, paths: Sequence[str]) -> list[str]:
        """Content digests of files under :attr:`root` (cached by the workspace's stat index)."""
        ...


class UnboundShiftError(RobustscopeError, RuntimeError):
    """A shift that reads per-sample data from its dataset (``needs_dataset``) was applied before :meth:`Shift.bind`."""


class Shift(ABC):
    """A distribution shift applied to a batch of images in [0,1] pixel space.

    Subclasses set :attr:`name` and :attr:`version` (bump it whenever outputs change, so stored
    predictions made with the old code are not reused) and implement :meth:`apply`. The result
    must depend only on (image, sample id, parameters, seed), never on batch composition.

    A registered shift declares its spec parameters once in :attr:`PARAMS` (see
    :mod:`robustscope.shifts.spec`): :meth:`from_spec` reads ``NAME[:positional…][:key=value…]`` with them
    and :meth:`spec` writes the canonical spec back, so ``load_shift(s.spec()).key() == s.key()``.
    :meth:`params` is what identifies the output (the cache key) and what result rows carry.

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
        >>> class Darker(Darken):  # declared parameters: a spec reads and writes them
        ...     name, PARAMS = "darker", (Param("factor", "number", positional=True, default=0.5, range=(0, 1)),)
        >>> Darker.from_spec("darker:0.25").factor, Darker(0.25).spec()
        (0.25, 'darker:0.25')
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    #: Attacks set this: :meth:`apply` then also takes ``model=`` (eval mode) and ``labels=`` (true
    #: logit indices ``[B]``), and the Runner calls it outside inference mode so gradients flow.
    needs_model: ClassVar[bool] = False
    #: Shifts that read per-sample data from the dataset (object masks, …) set this and implement
    #: :meth:`bind` and :meth:`is_bound`; the Runner binds them to the dataset it runs on.
    needs_dataset: ClassVar[bool] = False
    #: The parameters a spec gives, in order (positional first): read by :meth:`from_spec`, written by :meth:`spec`.
    PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: A valid spec, shown in the message of a spec that misses a parameter.
    EXAMPLE: ClassVar[str] = ""

    def bind(self, dataset: ShiftDataset, preprocessing: Preprocessing) -> Shift:
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
        """The parameters that determine the output, JSON-able: part of the cache key (:meth:`key`), and what
        result rows carry (as JSON) so that no one parses spec strings."""
        return {}

    def spec_values(self) -> dict[str, Any]:
        """The current value of each declared parameter (:attr:`PARAMS`), by parameter name, as a spec gives it.

        Read from the attribute named like the constructor's keyword; a shift whose attributes differ
        (a derived default, a value only some settings use) overrides this.
        """
        return {p.name: getattr(self, p.keyword) for p in self.PARAMS}

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
        """The canonical spec (``corruption:fog:3``): :func:`load_shift` reads it back to the same :meth:`key`.

        It labels the shift in result rows and progress bars. A shift without declared :attr:`PARAMS`
        writes its :meth:`params` as ``key=value`` parts.
        """
        if self.PARAMS:
            return write_spec(self.name, self.PARAMS, self.spec_values())
        return ":".join([self.name, *(f"{k}={v}" for k, v in sorted(self.params().items()))])

    @classmethod
    def from_spec(cls: type[_S], spec: str | ParsedSpec) -> _S:
        """The shift a spec describes (``NAME[:positional…][:key=value…]``, ``NAME`` being :attr:`name`).

        Every value is read and checked against :attr:`PARAMS` before the constructor runs; a
        :class:`~robustscope.errors.ShiftSpecError` the constructor raises gets the spec in front.
        """
        parsed = spec if isinstance(spec, ParsedSpec) else parse_spec(spec)
        if parsed.name != cls.name:
            raise ShiftSpecError(f"{parsed.text}: not a {cls.name} spec (it names {parsed.name!r})")
        kwargs = bind_spec(parsed, cls.PARAMS, example=cls.EXAMPLE)
        try:
            return cls(**kwargs)
        except ShiftSpecError as err:
            message = str(err)
            prefix = f"{parsed.text}: "
            raise ShiftSpecError(message if message.startswith(prefix) else prefix + message) from None

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
    EXAMPLE = "none"

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
