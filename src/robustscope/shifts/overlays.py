"""Overlay shifts: the ImageNet-W watermark and mask-based background replacement.

References:
    Li, Evtimov, Gordo, Hazirbas, Hassner, Canton Ferrer, Xu, Ibrahim. "A Whac-A-Mole Dilemma:
    Shortcuts Come in Multiples Where Mitigating One Amplifies Others." CVPR 2023 (ImageNet-W).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from robustscope.errors import BadImageError, MissingDataError, MissingDependencyError, ShiftSpecError
from robustscope.shifts.base import Shift, UnboundShiftError, sample_seed, to_channels

WATERMARK_TEXT = "捷径捷径捷径"
#: Font sizes of the reference implementation (``imagenet_w.AddWatermark``) for its known image
#: sizes; other sizes use its linear rule ``int(size / 6.22)``.
_FONT_SIZES = {224: 36, 384: 62, 512: 82, 518: 84}
FONT_HINT = (
    "the watermark needs a CJK font: `pip install imagenet-w` (ships the paper's SourceHanSerifSC-ExtraLight.otf), "
    "or `apt-get install fonts-noto-cjk`, or pass font_path=... / set ROBUSTSCOPE_CJK_FONT=/path/to/font"
)


class MissingFontError(MissingDependencyError, RuntimeError):
    """No CJK font was found for the watermark text (a missing dependency; a ``RuntimeError`` as before)."""


def watermark_font_size(size: int) -> int:
    """Font size for an image of ``size`` pixels (36 at 224, scaling linearly), as in ImageNet-W.

    Example:
        >>> watermark_font_size(224), watermark_font_size(448)
        (36, 72)
    """
    return _FONT_SIZES.get(size, int(size / 6.22))


def find_cjk_font() -> Path:
    """Locate a font that covers Chinese; the ImageNet-W package's own font first.

    Order: ``$ROBUSTSCOPE_CJK_FONT``; the ``imagenet-w`` package's ``SourceHanSerifSC-ExtraLight.otf``
    (the font of the published benchmark); ``fc-list :lang=zh``. Raises :class:`MissingFontError`
    naming how to get one.
    """
    env = os.environ.get("ROBUSTSCOPE_CJK_FONT")
    if env:
        if not Path(env).is_file():
            raise MissingFontError(f"ROBUSTSCOPE_CJK_FONT={env} is not a file; {FONT_HINT}")
        return Path(env)
    spec = importlib.util.find_spec("imagenet_w")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "fonts" / "SourceHanSerifSC-ExtraLight.otf"
            if candidate.is_file():
                return candidate
    if shutil.which("fc-list"):
        try:
            listing = subprocess.run(
                ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        files = sorted(line.split(":")[0].strip() for line in listing.splitlines() if line.strip())
        if files:
            return Path(files[0])
    raise MissingFontError(f"no CJK font found; {FONT_HINT}")


class Watermark(Shift):
    """The ImageNet-W watermark (Li et al., CVPR 2023): translucent white "捷径捷径捷径" across the image.

    Drawn on the [0,1] batch the Runner passes (after resize/crop, before normalisation): the text
    mask ``m`` (PIL's anti-aliased glyph coverage in [0,1], font size 36 at 224 px scaling with
    ``min(H, W)``, origin at ``(0.01·W, 0.4·H)``) is rendered once per image size and cached, and
    blended as ``out = (1 - opacity·m)·img + opacity·m·colour``. Where ``m = 1``, with the paper's
    opacity 0.5 and white, ``out = 0.5·img + 0.5`` exactly. The reference code
    (``imagenet_w.AddWatermark``) composites uint8 PIL images with alpha 128/255; outputs agree to a
    few grey levels (see tests).

    Shapes: ``[B,C,H,W]`` in [0,1] → same, C = 3 or 1 (grey: the text colour in luma, white stays 1);
    same for every sample (no randomness).

    Example:
        >>> import torch
        >>> out = Watermark()(torch.zeros(1, 3, 224, 224), ["a"])  # doctest: +SKIP
        >>> round(out.max().item(), 3)  # doctest: +SKIP
        0.5
    """

    name = "watermark"
    version = "1"

    def __init__(
        self,
        text: str = WATERMARK_TEXT,
        opacity: float = 0.5,
        colour: tuple[float, float, float] = (1.0, 1.0, 1.0),
        x_pos: float = 0.01,
        y_pos: float = 0.4,
        font_path: str | Path | None = None,
    ):
        for key, value in (("opacity", opacity), ("x", x_pos), ("y", y_pos)):
            if not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ShiftSpecError(f"watermark: {key} must lie in [0, 1], got {value!r}")
        self.text = text
        self.opacity = float(opacity)
        self.colour = tuple(float(c) for c in colour)
        self.x_pos, self.y_pos = float(x_pos), float(y_pos)
        self.font_path = Path(font_path) if font_path is not None else find_cjk_font()
        self._masks: dict[tuple[int, int], torch.Tensor] = {}

    def params(self) -> dict[str, Any]:
        # The font file name is part of the key: another font draws other pixels.
        return {
            "text": self.text,
            "opacity": self.opacity,
            "colour": list(self.colour),
            "x": self.x_pos,
            "y": self.y_pos,
            "font": self.font_path.name,
        }

    def spec(self) -> str:
        return self.name if self.params() == Watermark(font_path=self.font_path).params() else super().spec()

    def text_mask(self, height: int, width: int) -> torch.Tensor:
        """The glyph coverage ``[H,W]`` float32 in [0,1], rendered once per size."""
        key = (height, width)
        if key not in self._masks:
            from PIL import Image, ImageDraw, ImageFont

            font = ImageFont.truetype(str(self.font_path), watermark_font_size(min(height, width)))
            canvas = Image.new("L", (width, height), 0)
            ImageDraw.Draw(canvas).text((self.x_pos * width, self.y_pos * height), self.text, fill=255, font=font)
            self._masks[key] = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0)
        return self._masks[key]

    def apply(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        alpha = self.text_mask(images.shape[2], images.shape[3]).to(images.device, images.dtype) * self.opacity
        colour = torch.tensor(self.colour, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        return images * (1 - alpha) + alpha * to_channels(colour, images.shape[1])


def watermark_shift(argument: str = "") -> Watermark:
    """Shift factory for ``watermark`` (the paper's setting) or ``watermark:opacity=0.3``.

    Example:
        >>> watermark_shift().spec()  # doctest: +SKIP
        'watermark'
    """
    spec = f"watermark:{argument}"
    kwargs: dict[str, Any] = {}
    for token in argument.replace(",", ":").split(":"):
        if not token.strip():
            continue
        key, sep, value = token.partition("=")
        key = key.strip()
        if not sep or key not in ("opacity", "x", "y", "text"):
            raise ShiftSpecError(
                f"{spec}: unexpected {token.strip()!r}; watermark takes opacity=..., x=..., y=..., text=..."
            )
        if key == "text":
            kwargs["text"] = value
            continue
        try:
            number = float(value)
        except ValueError:
            raise ShiftSpecError(f"{spec}: {key} must be a number in [0, 1] (e.g. {key}=0.5), got {value!r}") from None
        if not 0.0 <= number <= 1.0:  # checked here too, so the message names the spec
            raise ShiftSpecError(f"{spec}: {key} must lie in [0, 1], got {value!r}")
        kwargs[{"x": "x_pos", "y": "y_pos"}.get(key, key)] = number
    return Watermark(**kwargs)


# -- background replacement ---------------------------------------------------------------------------
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


def _mask_paths(dataset: Any, column: str) -> dict[str, str]:
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

    def __init__(self, dataset: Any, preprocessing: Any, column: str = "mask_filename"):
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

    def __init__(
        self,
        masks: Callable[[Sequence[str]], torch.Tensor] | None = None,
        background: str = "noise",
        colour: tuple[float, float, float] = (0.5, 0.5, 0.5),
    ):
        if background not in ("noise", "solid"):
            raise ShiftSpecError(f"background_swap: background must be 'noise' or 'solid', got {background!r}")
        if len(colour) != 3 or not all(0.0 <= float(c) <= 1.0 for c in colour):
            raise ShiftSpecError(f"background_swap: colour must be 3 values in [0, 1], got {colour!r}")
        self.masks = masks
        self.background = background
        self.colour = tuple(float(c) for c in colour)

    def params(self) -> dict[str, Any]:
        return {"background": self.background, **({"colour": list(self.colour)} if self.background == "solid" else {})}

    def spec(self) -> str:
        if self.background == "noise":
            return f"{self.name}:noise"
        return f"{self.name}:solid:colour=" + ",".join(f"{c:g}" for c in self.colour)

    def key(self) -> dict[str, Any]:
        key = super().key()
        digest = getattr(self.masks, "digest", None)
        if callable(digest):
            key["masks"] = digest()
        return key

    def is_bound(self) -> bool:
        return self.masks is not None

    def bind(self, dataset: Any, preprocessing: Any) -> BackgroundSwap:
        """A copy reading ``dataset``'s masks (``mask_filename`` column) through ``preprocessing``.

        Example:
            >>> # bound = BackgroundSwap(background="solid").bind(dataset, model.preprocessing)
        """
        return type(self)(DatasetMasks(dataset, preprocessing), self.background, self.colour)

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


def _colour(text: str) -> tuple[float, float, float]:
    """``"0,0.5,1"`` ([0,1]) or ``"0,128,255"`` (0-255, when any value exceeds 1) → RGB in [0,1]."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or any(v < 0 for v in values):
        raise ShiftSpecError(
            f"background_swap: colour must be R,G,B (e.g. colour=0.5,0.5,0.5 or colour=0,128,255), got {text!r}"
        )
    if any(v > 1 for v in values):
        if any(v > 255 for v in values):
            raise ShiftSpecError(f"background_swap: colour values must be in [0,1] or 0-255, got {text!r}")
        values = [v / 255 for v in values]
    return (values[0], values[1], values[2])


def background_swap_shift(argument: str = "") -> BackgroundSwap:
    """Shift factory for ``background_swap[:noise|solid[:colour=R,G,B]]`` (colour in [0,1], or 0-255).

    Example:
        >>> background_swap_shift().spec()
        'background_swap:noise'
        >>> background_swap_shift("solid:colour=0,128,255").colour
        (0.0, 0.5019607843137255, 1.0)
    """
    background, colour = "noise", None
    tokens = [t.strip() for t in argument.split(":") if t.strip()]
    for token in tokens:
        key, sep, value = token.partition("=")
        key = key.strip()
        if not sep and key in ("noise", "solid"):
            background = key
        elif sep and key in ("background", "bg") and value.strip() in ("noise", "solid"):
            background = value.strip()
        elif sep and key in ("colour", "color"):
            colour = _colour(value.strip())
        else:
            raise ShiftSpecError(
                f"background_swap: unexpected {token!r} in {argument!r}; "
                "use background_swap, background_swap:noise, background_swap:solid[:colour=R,G,B]"
            )
    if colour is not None and background != "solid":
        raise ShiftSpecError(f"background_swap: colour= goes with solid backgrounds, got {argument!r}")
    return BackgroundSwap(None, background, colour if colour is not None else (0.5, 0.5, 0.5))


__all__ = [
    "FONT_HINT",
    "WATERMARK_TEXT",
    "BackgroundSwap",
    "DatasetMasks",
    "MissingFontError",
    "Watermark",
    "background_swap_shift",
    "find_cjk_font",
    "swap_background",
    "watermark_font_size",
    "watermark_shift",
]
