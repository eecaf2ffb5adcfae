"""Background replacement from each sample's object mask: a solid colour or a seeded noise field.

The masks come from the dataset the shift runs on (``needs_dataset``); the Runner binds the shift to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from robustscope.errors import BadImageError, MissingDataError, ShiftSpecError
from robustscope.shifts.base import Shift, ShiftDataset, UnboundShiftError, sample_seed, to_channels
from robustscope.shifts.params import Param

if TYPE_CHECKING:
    from robustscope.models.preprocessing import Preprocessing

#: The solid background's colour when a spec gives none: mid grey.
SOLID_GREY = (0.5, 0.5, 0.5)


def swap_background(images: torch.Tensor, masks: torch.Tensor, backgrounds: torch.Tensor) -> torch.Tensor:
    """Composite each object onto a new background: ``m·image + (1 - m)·background``.

    Soft masks (anti-aliased coverage, e.g. the synthetic world's alpha masks) blend object edges.

    Args:
        images: ``[B,C,H,W]`` in [0,1], C = 3 or 1 (grey).
        masks: object coverage ``[B,H,W]`` or ``[B,1,H,W]`` in [0,1] (1 = object).
        backgrounds: ``[B,C,H,W]``, ``[C,H,W]`` or a colour ``[C]``, in [0,1]; RGB backgrounds on grey
            images are taken in luma.

    Example:
        >>> import torch
        >>> img, mask = torch.ones(1, 3, 2, 2), torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
        >>> swap_background(img, mask, torch.zeros(3))[0, 0].tolist()
        [[1.0, 0.0], [0.0, 0.0]]
    """
    if masks.ndim == 3:
        masks = masks.unsqueeze(1)
    if masks.shape != (images.shape[0], 1, *images.shape[2:]):
        raise ValueError(f"masks {tuple(masks.shape)} do not match images {tuple(images.shape)}")
    if backgrounds.ndim == 1:
        backgrounds = backgrounds.view(1, -1, 1, 1)
    if backgrounds.ndim == 3:
        backgrounds = backgrounds.unsqueeze(0)
    if backgrounds.shape[1] != images.shape[1]:
        backgrounds = to_channels(backgrounds, images.shape[1])
    masks = masks.to(images.device, images.dtype)
    return masks * images + (1 - masks) * backgrounds.to(images.device, images.dtype)


def _mask_paths(dataset: ShiftDataset, column: str) -> dict[str, str]:
    """sample id → mask path (relative to ``dataset.root``) for every sample of ``dataset``."""
    ids = dataset.manifest["sample_id"].astype(str)
    if column in dataset.manifest.columns:
        return dict(zip(ids, dataset.manifest[column].astype(str), strict=True))
    source = dataset.metadata.get("manifest")
    if source and Path(source).is_file():
        import pandas as pd

        frame = pd.read_csv(source, keep_default_na=False)
        if column in frame.columns:
            # load_manifest's sample ids: the CSV's sample_id column, else its file column
            key = (
                "sample_id"
                if "sample_id" in frame.columns
                else next((c for c in ("path", "filename", "file_name", "file", "image") if c in frame.columns), None)
            )
            if key is not None:
                table = dict(zip(frame[key].astype(str), frame[column].astype(str), strict=True))
                missing = [sid for sid in ids if sid not in table]
                if not missing:
                    return {sid: table[sid] for sid in ids}
    raise MissingDataError(
        f"dataset {dataset.name!r} has no {column!r} column (in its manifest or its CSV): background swap "
        "needs per-sample object masks (the synthetic world writes them: synth:WORLD:SPLIT)"
    )


class DatasetMasks:
    """Loads a dataset's object masks (a ``mask_filename`` column) resized like the images.

    The mask goes through the model's own :class:`~robustscope.models.Preprocessing` (resize and
    crop), so it lines up with the ``[B,3,S,S]`` batch the Runner passes to shifts. The column is
    read from the dataset's manifest or, when the loader kept it out of the factors (as
    ``load_manifest`` does for the synthetic world's ``labels.csv``), from the CSV the dataset was
    loaded from (``dataset.metadata["manifest"]``); paths are relative to ``dataset.root``.

    Example:
        >>> import pandas as pd, tempfile, pathlib
        >>> from PIL import Image
        >>> from robustscope.data import Dataset
        >>> from robustscope.models import Preprocessing
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> Image.new("L", (8, 8), 255).save(root / "m.png")
        >>> data = Dataset("toy", root, ["a"], pd.DataFrame(
        ...     {"sample_id": ["s"], "path": ["x.png"], "label": [0], "mask_filename": ["m.png"]}))
        >>> DatasetMasks(data, Preprocessing(input_size=4, crop_pct=1.0))(["s"]).shape
        torch.Size([1, 4, 4])
    """

    def __init__(self, dataset: ShiftDataset, preprocessing: Preprocessing, column: str = "mask_filename"):
        self.root = Path(dataset.root)
        self.paths = _mask_paths(dataset, column)
        self.preprocessing = preprocessing
        self.dataset = dataset

    def digest(self) -> str:
        """A short hash of the mask files' names and contents (like the dataset fingerprint for images)."""
        digest = hashlib.sha256()
        contents = self.dataset.file_digests(list(self.paths.values()))  # through the workspace's stat index
        for (sid, relative), content in zip(self.paths.items(), contents, strict=True):
            digest.update(f"{sid}\x1f{relative}\x1f{content}\x1e".encode())
        return digest.hexdigest()[:16]

    def __call__(self, sample_ids: Sequence[str]) -> torch.Tensor:
        from PIL import Image

        out = []
        for sid in sample_ids:
            path = self.root / self.paths[str(sid)]
            try:
                with Image.open(path) as mask:
                    out.append(self.preprocessing.to_tensor(mask.convert("L").convert("RGB"))[0])
            except (OSError, ValueError) as err:
                raise BadImageError(str(path), f"object mask of sample {sid!r}: {type(err).__name__}: {err}") from None
        return torch.stack(out)


class BackgroundSwap(Shift):
    """Replace each image's background using its object mask: a solid colour or a seeded noise field.

    Background-swap evaluations (ImageNet-9's ``mixed_rand``/``only_fg``, Xiao et al., ICLR 2021;
    UrbanCars' background factor, Li et al., CVPR 2023) ask whether a prediction survives losing
    the original background. The masks come from the dataset (``needs_dataset``): the Runner calls
    :meth:`bind` with the dataset and the model's preprocessing, giving a copy that reads them
    with :class:`DatasetMasks`; applying an unbound swap raises
    :class:`~robustscope.shifts.base.UnboundShiftError`. As a Runner shift: ``background_swap``
    (noise), ``background_swap:solid``, ``background_swap:solid:colour=0,0.5,1``.

    Args:
        masks: ``sample_ids -> [B,H,W]`` object coverage in [0,1] at the batch's size, or ``None``
            (unbound: :meth:`bind` supplies the dataset's masks).
        background: ``"noise"`` (uniform noise, per sample from ``sample_seed(id, "background_swap", seed)``)
            or ``"solid"``.
        colour: the solid colour, [0,1] RGB.

    The prediction key holds :meth:`params` (noise vs solid, colour), the dataset's fingerprint
    and, once bound, a digest of the mask files' names and contents (``load_manifest`` keeps the mask
    column out of the manifest, so the dataset fingerprint alone does not cover the masks).

    Shapes: ``[B,C,H,W]`` in [0,1] → same, C = 3 or 1 (grey).

    Example:
        >>> import torch
        >>> masks = lambda ids: torch.zeros(len(ids), 2, 2)  # no object: all background
        >>> BackgroundSwap(masks, "solid", colour=(0.0, 1.0, 0.0))(torch.rand(1, 3, 2, 2), ["a"])[0, 1].tolist()
        [[1.0, 1.0], [1.0, 1.0]]
        >>> BackgroundSwap(background="solid").spec()
        'background_swap:solid:colour=0.5,0.5,0.5'
    """

    name = "background_swap"
    version = "1"
    needs_dataset: ClassVar[bool] = True
    PARAMS = (
        Param("background", positional=True, default="noise", choices=("noise", "solid"), aliases=("bg",)),
        # None: mid grey on a solid background; a solid background's colour is always written.
        Param("colour", "rgb", default=None, aliases=("color",)),
    )
    EXAMPLE = "background_swap:solid:colour=0.5,0.5,0.5"

    def __init__(
        self,
        masks: Callable[[Sequence[str]], torch.Tensor] | None = None,
        background: str = "noise",
        colour: tuple[float, float, float] | None = None,
    ):
        self.PARAMS[0].check(background)
        if colour is not None and background != "solid":  # a colour the noise would silently ignore
            raise ShiftSpecError(
                f"colour goes with solid backgrounds (background_swap:solid:colour=R,G,B), not {background}"
            )
        colour = SOLID_GREY if colour is None else tuple(colour)
        self.PARAMS[1].check(colour)
        self.masks = masks
        self.background = background
        self.colour = tuple(float(c) for c in colour)

    def params(self) -> dict[str, Any]:
        return {"background": self.background, **({"colour": list(self.colour)} if self.background == "solid" else {})}

    def spec_values(self) -> dict[str, Any]:
        return {"background": self.background, "colour": self.colour if self.background == "solid" else None}

    def key(self) -> dict[str, Any]:
        key = super().key()
        digest = getattr(self.masks, "digest", None)
        if callable(digest):
            key["masks"] = digest()
        return key

    def is_bound(self) -> bool:
        return self.masks is not None

    def bind(self, dataset: ShiftDataset, preprocessing: Preprocessing) -> BackgroundSwap:
        """A copy reading ``dataset``'s masks (``mask_filename`` column) through ``preprocessing``.

        Example:
            >>> # bound = BackgroundSwap(background="solid").bind(dataset, model.preprocessing)
        """
        colour = self.colour if self.background == "solid" else None
        return type(self)(DatasetMasks(dataset, preprocessing), self.background, colour)

    def backgrounds(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        """The replacement backgrounds ``[B,C,H,W]``, deterministic per sample (grey images: luma of the
        solid colour, or noise drawn per grey pixel)."""
        if self.background == "solid":
            colour = torch.tensor(self.colour, dtype=images.dtype, device=images.device)
            return to_channels(colour.view(1, 3, 1, 1), images.shape[1]).expand_as(images)
        fields = []
        for sid in sample_ids:
            gen = torch.Generator().manual_seed(sample_seed(str(sid), "background_swap", seed))
            fields.append(torch.rand(images.shape[1:], generator=gen))
        return torch.stack(fields).to(images.device, images.dtype)

    def apply(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        if self.masks is None:
            raise UnboundShiftError(
                f"shift {self.spec()!r} is not bound to a dataset: call bind(dataset, preprocessing)"
            )
        masks = self.masks(sample_ids)
        return swap_background(images, masks, self.backgrounds(images, sample_ids, seed))


def background_swap_shift(argument: str = "") -> BackgroundSwap:
    """The swap from the part of a spec after ``background_swap:`` (kept for older callers).

    Example:
        >>> background_swap_shift().spec()
        'background_swap:noise'
        >>> background_swap_shift("solid:colour=0,128,255").colour
        (0.0, 0.5019607843137255, 1.0)
    """
    return BackgroundSwap.from_spec(f"background_swap:{argument}")


__all__ = ["SOLID_GREY", "BackgroundSwap", "DatasetMasks", "background_swap_shift", "swap_background"]
