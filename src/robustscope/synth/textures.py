"""Procedural surface textures and the named colours that tint them, as numpy RGB bitmaps.

A texture is a pattern in [0, 1] over UV space; :func:`make_texture` turns it into a linear-RGB
bitmap in the sample's colour (pattern 1 is the full colour, pattern 0 a dark shade of it), so the
colour factor and the texture factor stay independent.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

#: Named object colours, sRGB in [0, 1].
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.12, 0.10),
    "orange": (0.98, 0.52, 0.08),
    "yellow": (0.96, 0.86, 0.12),
    "green": (0.15, 0.70, 0.20),
    "teal": (0.08, 0.62, 0.60),
    "blue": (0.12, 0.30, 0.90),
    "purple": (0.55, 0.20, 0.80),
    "pink": (0.96, 0.45, 0.70),
    "white": (0.92, 0.92, 0.92),
    "brown": (0.55, 0.33, 0.16),
}

#: Named light colours, linear RGB multipliers (luminance about 1).
LIGHT_COLORS: dict[str, tuple[float, float, float]] = {
    "white": (1.0, 1.0, 1.0),
    "warm": (1.25, 0.95, 0.65),
    "cool": (0.75, 0.95, 1.35),
    "red": (1.9, 0.55, 0.45),
    "green": (0.55, 1.6, 0.55),
    "blue": (0.5, 0.6, 2.2),
    "purple": (1.5, 0.5, 1.7),
}

TEXTURE_SIZE = 128


def _uv(size: int) -> tuple[np.ndarray, np.ndarray]:
    u, v = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size)
    return u, v


def value_noise(size: int, cells: int, seed: int, octaves: int = 3) -> np.ndarray:
    """Tileable smooth value noise in [0, 1], deterministic in ``seed``.

    Example:
        >>> n = value_noise(32, 4, seed=0)
        >>> n.shape, bool(0 <= n.min() and n.max() <= 1)
        ((32, 32), True)
    """
    rng = np.random.default_rng(seed)
    out = np.zeros((size, size))
    amplitude, total = 1.0, 0.0
    for octave in range(octaves):
        c = cells * 2**octave
        grid = rng.random((c, c))
        x = np.arange(size) * c / size
        i0 = np.floor(x).astype(int)
        t = x - i0
        t = t * t * (3 - 2 * t)
        i1 = (i0 + 1) % c
        # Separable bilinear with smoothstep weights, wrapping so the texture tiles around seams.
        rows = grid[i0] * (1 - t)[:, None] + grid[i1] * t[:, None]
        layer = rows[:, i0] * (1 - t)[None] + rows[:, i1] * t[None]
        out += amplitude * layer
        total += amplitude
        amplitude *= 0.5
    out /= total
    return (out - out.min()) / (out.max() - out.min() + 1e-12)


def _plain(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.ones_like(u)


def _stripes(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (np.sin(u * 2 * np.pi * 6) > 0).astype(float)


def _checker(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return ((np.floor(u * 6) + np.floor(v * 6)) % 2 == 0).astype(float)


def _dots(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    fu, fv = (u * 5) % 1 - 0.5, (v * 5) % 1 - 0.5
    return (fu**2 + fv**2 > 0.3**2).astype(float)


def _noise(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    n = value_noise(u.shape[0], 4, seed=7)
    return (n > 0.5).astype(float) * 0.8 + 0.2 * n


def _waves(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # A zigzag band pattern: triangle wave in u shifts the stripes of v.
    zig = np.abs((u * 5) % 1 - 0.5) * 2
    return (((v * 4 + zig * 0.8) % 1) > 0.5).astype(float)


def _gradient(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.abs((v * 2) % 2 - 1)


def _grid(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    lines = (np.abs((u * 5) % 1 - 0.5) > 0.36) | (np.abs((v * 5) % 1 - 0.5) > 0.36)
    return (~lines).astype(float)


_PATTERNS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "plain": _plain,
    "stripes": _stripes,
    "checker": _checker,
    "dots": _dots,
    "noise": _noise,
    "waves": _waves,
    "gradient": _gradient,
    "grid": _grid,
}

#: Texture names, in a stable order.
TEXTURES: tuple[str, ...] = tuple(_PATTERNS)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """Convert sRGB values in [0, 1] to linear RGB."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Convert linear RGB to sRGB in [0, 1] (clipped)."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0, 1)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def parse_color(name: str, table: dict[str, tuple[float, float, float]] | None = None) -> tuple[float, ...]:
    """Look up a named colour, or parse ``#rrggbb``; returns the table's RGB triple.

    Example:
        >>> parse_color("red")
        (0.86, 0.12, 0.1)
        >>> parse_color("#ff0000")
        (1.0, 0.0, 0.0)
    """
    table = COLORS if table is None else table
    if name in table:
        return tuple(table[name])
    if isinstance(name, str) and name.startswith("#") and len(name) == 7:
        try:
            return tuple(int(name[i : i + 2], 16) / 255 for i in (1, 3, 5))
        except ValueError:
            pass
    raise ValueError(f"unknown colour {name!r}; use one of {', '.join(table)} or '#rrggbb'")


@cache
def pattern(name: str, size: int = TEXTURE_SIZE) -> np.ndarray:
    """The [0, 1] pattern of texture ``name`` as a ``[size, size]`` array."""
    if name not in _PATTERNS:
        from robustscope.errors import UnknownNameError
        from robustscope.registry import suggest

        raise UnknownNameError("texture", name, suggest(name, TEXTURES), list(TEXTURES))
    u, v = _uv(size)
    return np.clip(_PATTERNS[name](u, v), 0, 1)


def make_texture(name: str, color: str, size: int = TEXTURE_SIZE) -> np.ndarray:
    """A linear-RGB float32 bitmap ``[size, size, 3]`` of texture ``name`` in colour ``color``.

    Example:
        >>> tex = make_texture("checker", "blue", size=16)
        >>> tex.shape, tex.dtype.name
        ((16, 16, 3), 'float32')
    """
    p = pattern(name, size)[..., None]
    base = srgb_to_linear(np.array(parse_color(color)))
    # Dark shade keeps some of the hue so that the colour label stays true on patterned objects.
    dark = 0.18 * base + 0.01
    return (dark + (base - dark) * p).astype(np.float32)
