"""Reading one image file as the 8-bit RGB PIL image the data pipeline works on, exactly or not at all.

Two kinds of files used to be read wrongly without a word: 16-bit (and 32-bit integer or float)
grey images, which ``convert("RGB")`` clips to solid white, and decompression bombs, which aborted a
whole run even under ``on_bad_image="skip"``. Both are handled here; every failure is a
:class:`~robustscope.errors.BadImageError` naming the file, so the bad-image policy applies to it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from robustscope.errors import BadImageError

#: PIL modes of 16-bit grey images (PNG, TIFF, PGM). ``"I"`` (32-bit integer) is what older Pillow
#: versions return for 16-bit PNGs; its values are read on the same 0..65535 scale.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
#: Most 16-bit value: the white of a 16-bit image.
SIXTEEN_BIT_WHITE = 65535

# PIL's decompression-bomb check reads its module global MAX_IMAGE_PIXELS; each read sets it to its own
# limit under this lock, so reads in threads of one process do not see each other's limit.
_PIXEL_LIMIT_LOCK = threading.Lock()


def default_max_pixels() -> int | None:
    """PIL's pixel limit (``PIL.Image.MAX_IMAGE_PIXELS``, 89,478,485 unless changed; ``None``: no limit).

    Example:
        >>> default_max_pixels() == Image.MAX_IMAGE_PIXELS
        True
    """
    return Image.MAX_IMAGE_PIXELS


def read_image(path: str | Path, max_pixels: int | None = None) -> Image.Image:
    """Decode an image file to 8-bit RGB, raising :class:`BadImageError` that names the file.

    - 16-bit grey (``I;16`` and its byte orders, and ``I`` on the same 0..65535 scale) becomes
      8-bit grey by ``round(v / 257)``, the 8-bit level nearest to ``v / 65535``: the pipeline
      resizes 8-bit PIL images and every model here sees 8-bit data, so 8 bits it is (error ≤ 0.5/255;
      ImageNet-C's reference quantises to uint8 too). ``I`` values outside 0..65535 are refused.
    - 32-bit float grey (``F``) must hold values in [0, 1] (refused otherwise, never clipped) and
      becomes ``round(v · 255)``.
    - 16-bit RGB(A) PNGs are opened by Pillow as 8-bit ``RGB``/``RGBA`` keeping the high byte of
      each value (error < 1/255, never white).
    - Every other mode goes through ``convert("RGB")``.

    Images of more than ``max_pixels`` pixels (default: PIL's ``MAX_IMAGE_PIXELS``) are refused
    before decoding, as possible decompression bombs, with the pixel count and how to raise the limit.

    Example:
        >>> import tempfile, os
        >>> bad = os.path.join(tempfile.mkdtemp(), "broken.png")
        >>> _ = open(bad, "wb").write(b"not a png")
        >>> try:
        ...     read_image(bad)
        ... except BadImageError as err:
        ...     print("broken.png" in str(err))
        True
        >>> grey16 = os.path.join(tempfile.mkdtemp(), "grey16.png")
        >>> Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16)).save(grey16)
        >>> read_image(grey16).getpixel((1, 0))  # 32768 / 65535 ≈ 0.5, not white
        (128, 128, 128)
    """
    limit = default_max_pixels() if max_pixels is None else int(max_pixels)
    try:
        with _pil_limit_held():
            return _read(path, limit)
    except FileNotFoundError:
        raise BadImageError(str(path), "file not found") from None
    except _TooManyPixelsError as err:
        raise BadImageError(str(path), _bomb_reason(err.pixels, limit)) from None
    except Image.DecompressionBombError as err:  # PIL's check of a frame or tile while decoding
        hint = "raise the limit with --max-image-pixels (max_image_pixels=...) if the file is trusted"
        raise BadImageError(str(path), f"{err} {hint}") from None
    except _UnsupportedValuesError as err:
        raise BadImageError(str(path), str(err)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise BadImageError(str(path), f"{type(err).__name__}: {err}") from None


def _read(path: str | Path, limit: int | None) -> Image.Image:
    # PIL checks the declared size in Image.open against its limit, but only warns up to twice the limit
    # (and a warning cannot be a bad image without catch_warnings, which resets every module's "shown once"
    # registry and so would repeat other warnings once per image). So PIL's check is off while the header
    # is read, ours replaces it exactly, and PIL's is back on at our limit for the frames and tiles that
    # some formats check while decoding.
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(path) as image:
        _check_pixel_count(image.size, limit)
        Image.MAX_IMAGE_PIXELS = limit
        image.load()
        return _to_rgb(image)


class _TooManyPixelsError(Exception):
    def __init__(self, pixels: int):
        super().__init__(pixels)
        self.pixels = pixels


class _UnsupportedValuesError(Exception):
    """Pixel values whose scale cannot be known (so they would be read wrongly)."""


@contextlib.contextmanager
def _pil_limit_held() -> Iterator[None]:
    """Hold the lock on PIL's global limit while one image is read (:func:`_read` sets it); restore it after."""
    with _PIXEL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _check_pixel_count(size: tuple[int, int], limit: int | None) -> None:
    pixels = int(size[0]) * int(size[1])
    if limit is not None and pixels > limit:
        raise _TooManyPixelsError(pixels)


def _bomb_reason(pixels: int, limit: int | None) -> str:
    return (
        f"{pixels:,} pixels exceed the limit of {limit:,} (a possible decompression bomb); if the file is trusted, "
        f"raise the limit with --max-image-pixels {pixels} (max_image_pixels={pixels})"
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > SIXTEEN_BIT_WHITE):
            raise _UnsupportedValuesError(
                f"{image.mode} image with values in [{values.min()}, {values.max()}], outside the 16-bit range "
                "0..65535; save it as an 8- or 16-bit PNG"
            )
        # round(v / 257) without floats: v / 257 is never exactly halfway between integers.
        grey = ((values + 128) // 257).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if values.size and (not np.isfinite(values).all() or values.min() < 0 or values.max() > 1):
            raise _UnsupportedValuesError(
                f"float image with values in [{np.nanmin(values):g}, {np.nanmax(values):g}], not [0, 1]; "
                "save it as an 8- or 16-bit PNG, or scale it to [0, 1]"
            )
        return Image.fromarray(np.rint(values * 255).astype(np.uint8), "L").convert("RGB")
    return image.convert("RGB")
