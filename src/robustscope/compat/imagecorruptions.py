"""Make the reference ``imagecorruptions`` package (1.1.2, 2020) run on numpy 2 and scikit-image ≥ 0.19.

Two frictions, both fixed without touching the installed package:

- numpy 2 removed ``np.float_``, which ``fog`` uses (via ``plasma_fractal``);
- scikit-image removed ``gaussian(..., multichannel=True)`` in favour of ``channel_axis=-1``,
  which ``glass_blur`` and ``gaussian_blur`` pass.

The package also needs ``setuptools<81`` installed (it imports ``pkg_resources``). It is a dev
and benchmark dependency only: robustscope's own corruptions never import it.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any


def load_imagecorruptions() -> ModuleType:
    """Import ``imagecorruptions`` with the shims applied (idempotent); returns the package.

    Example:
        >>> import numpy as np
        >>> ic = load_imagecorruptions()  # doctest: +SKIP
        >>> ic.corrupt(np.zeros((32, 32, 3), np.uint8), corruption_name="fog", severity=1).shape  # doctest: +SKIP
        (32, 32, 3)
    """
    import numpy as np

    if not hasattr(np, "float_"):
        np.float_ = np.float64  # type: ignore[attr-defined]

    import imagecorruptions
    from imagecorruptions import corruptions

    original = corruptions.gaussian
    if not getattr(original, "_robustscope_shim", False):

        @functools.wraps(original)
        def gaussian(image: Any, *args: Any, multichannel: bool | None = None, **kwargs: Any) -> Any:
            if multichannel is not None and "channel_axis" not in kwargs:
                kwargs["channel_axis"] = -1 if multichannel else None
            return original(image, *args, **kwargs)

        gaussian._robustscope_shim = True  # type: ignore[attr-defined]
        corruptions.gaussian = gaussian
    return imagecorruptions
