"""Content-addressed thumbnails of samples as the model saw them, clean or shifted.

A thumbnail is the image after the model's preprocessing (resize, crop) and the shift, applied exactly as the
engine applies it (:func:`robustscope.engine.shard_tasks` calls ``shift(images, ids, seed)``; attacks get the model
and the labels). Its address is the sha256 of everything that decides its pixels: the image file's bytes, the
sample id and seed (per-sample randomness), the preprocessing, the bound shift's key (a background swap's key
covers its masks; an attack's covers the model fingerprint) and the thumbnail size and format. Thumbnails live in
``<workspace>/thumbnails/<aa>/<address>.jpg``: one written is never encoded again, whatever folder it is then
copied to.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from robustscope.data.base import Dataset
    from robustscope.models import Preprocessing
    from robustscope.shifts.base import Shift

__all__ = ["THUMBNAIL_PIXELS", "ThumbnailCache", "VariantRequest", "thumbnail_address", "to_thumbnail"]

#: Longest side of a thumbnail; smaller model inputs keep their own size (the page scales them up, pixelated).
THUMBNAIL_PIXELS = 96
#: Bumped when the encoding changes, so old thumbnails are not mistaken for new ones. JPEG without chroma
#: subsampling: WebP's lossy mode always halves the colour resolution, which erased the colour noise of the
#: noise corruptions (mean error 27/255 on a 32-px noisy image; JPEG 4:4:4 at quality 85: 9/255, ~2 KB).
THUMBNAIL_FORMAT = "jpeg-q85-444-v1"


@functools.cache
def _thumbnail_code_digest() -> str:
    # The code that turns a shifted tensor into a thumbnail (resizing, quantising, encoding) is in this module:
    # a change to it must re-encode, even when no constant changed. Shifts carry their own version in their key.
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def thumbnail_address(
    image_bytes: bytes, sample_id: str, seed: int, preprocessing: dict[str, Any], shift_key: dict[str, Any]
) -> str:
    """The content address of one thumbnail: sha256 over everything that decides its pixels (hex, 32 chars).

    Example:
        >>> a = thumbnail_address(b"png", "s1", 0, {"input_size": 32}, {"name": "identity"})
        >>> a == thumbnail_address(b"png", "s1", 0, {"input_size": 32}, {"name": "identity"}), len(a)
        (True, 32)
        >>> a == thumbnail_address(b"png", "s2", 0, {"input_size": 32}, {"name": "identity"})
        False
    """
    digest = hashlib.sha256(image_bytes)
    context = {"sample": sample_id, "seed": int(seed), "pre": preprocessing, "shift": shift_key,
               "format": THUMBNAIL_FORMAT, "pixels": THUMBNAIL_PIXELS, "code": _thumbnail_code_digest()}  # fmt: skip
    digest.update(json.dumps(context, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def to_thumbnail(image: torch.Tensor) -> Any:
    """A ``[C,H,W]`` tensor in [0,1] as a PIL image no larger than :data:`THUMBNAIL_PIXELS` (grey stays grey).

    Example:
        >>> import torch
        >>> to_thumbnail(torch.ones(3, 200, 100)).size
        (48, 96)
        >>> to_thumbnail(torch.zeros(1, 32, 32)).mode
        'L'
    """
    from PIL import Image

    pixels = (image.detach().float().clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    picture = Image.fromarray(pixels[0]) if pixels.shape[0] == 1 else Image.fromarray(pixels.transpose(1, 2, 0))
    if max(picture.size) > THUMBNAIL_PIXELS:
        picture.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS), Image.Resampling.LANCZOS)
    return picture


@dataclass
class VariantRequest:
    """Thumbnails wanted of some samples of one dataset under one shift, as seen by one model's preprocessing.

    ``labels`` (indices into the model's labels) and ``model`` are what an attack needs; ``model_fingerprint``
    enters an attack's address, so two models' adversarial images never share one.
    """

    dataset: Dataset
    rows: list[int]
    shift: Shift
    seed: int
    preprocessing: Preprocessing
    labels: list[int] = field(default_factory=list)
    model: Any = None
    model_fingerprint: str = ""


class ThumbnailCache:
    """The workspace's thumbnails: :meth:`get` returns addresses, encoding only those not yet on disk.

    ``encoded`` counts the thumbnails this cache wrote (a rebuild over the same samples writes none).

    Example:
        >>> import tempfile, pandas as pd
        >>> from PIL import Image
        >>> from robustscope.data.base import Dataset
        >>> from robustscope.models import Preprocessing
        >>> from robustscope.shifts.registry import load_shift
        >>> root = Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (20, 20), (200, 10, 10)).save(root / "a.png")
        >>> data = Dataset("toy", root, ["red"], pd.DataFrame({"sample_id": ["a"], "path": ["a.png"], "label": [0]}))
        >>> cache = ThumbnailCache(root / "thumbs")
        >>> pre = Preprocessing(16, 1.0, "bilinear", (0.5,) * 3, (0.5,) * 3)
        >>> first = cache.get(VariantRequest(data, [0], load_shift("corruption:gaussian_noise:3"), 0, pre))
        >>> again = cache.get(VariantRequest(data, [0], load_shift("corruption:gaussian_noise:3"), 0, pre))
        >>> first == again, cache.encoded, cache.path(first[0]).suffix
        (True, 1, '.jpg')
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.encoded = 0

    def path(self, address: str) -> Path:
        """Where the thumbnail with ``address`` lives."""
        return self.root / address[:2] / f"{address}.jpg"

    def addresses(self, request: VariantRequest) -> list[str]:
        """The address of each requested row's thumbnail (reads the image files, computes nothing else)."""
        shift_key = dict(request.shift.key())
        if request.shift.needs_model:
            shift_key["model_fingerprint"] = request.model_fingerprint
        pre = request.preprocessing.to_dict()
        ids = request.dataset.manifest["sample_id"].astype(str)
        return [
            thumbnail_address(request.dataset.image_path(row).read_bytes(), ids.iat[row], request.seed, pre, shift_key)
            for row in request.rows
        ]

    def get(self, request: VariantRequest) -> list[str]:
        """Each requested row's thumbnail address; the missing ones are rendered and written first."""
        addresses = self.addresses(request)
        missing = [i for i, address in enumerate(addresses) if not self.path(address).is_file()]
        if missing:
            images = self._render(request, [request.rows[i] for i in missing],
                                  [request.labels[i] for i in missing] if request.labels else [])  # fmt: skip
            for i, image in zip(missing, images, strict=True):
                self._write(addresses[i], to_thumbnail(image))
        return addresses

    def _render(self, request: VariantRequest, rows: list[int], labels: list[int]) -> torch.Tensor:
        """The shifted images of ``rows`` at the model's input size, as the engine computes them."""
        import torch

        ids = request.dataset.manifest["sample_id"].astype(str)
        batch = torch.stack([request.preprocessing.to_tensor(request.dataset.load_image(row)) for row in rows])
        sample_ids = [ids.iat[row] for row in rows]
        shift = request.shift
        if shift.needs_model:
            # As the engine attacks: the model in eval mode (its modes restored after), gradients on the input.
            modes = [(module, module.training) for module in request.model.modules()]
            request.model.eval()
            try:
                with torch.enable_grad():
                    target = torch.as_tensor(labels, dtype=torch.long)
                    return shift(batch, sample_ids, request.seed, model=request.model, labels=target).detach()
            finally:
                for module, mode in modes:
                    module.training = mode
        with torch.inference_mode():
            return shift(batch, sample_ids, request.seed)

    def _write(self, address: str, picture: Any) -> None:
        path = self.path(address)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".jpg.tmp")
        picture.save(partial, format="JPEG", quality=85, subsampling=0)
        partial.replace(path)  # atomic: a reader never sees half a thumbnail
        self.encoded += 1
