"""Procedural environment maps: they light the object and are what the camera sees behind it.

Each map is a function of the world direction ``d`` (y up; the camera looks along -z), sampled on
Mitsuba's latitude-longitude layout, so what is drawn near ``d = (0, 0, -1)`` is the image background.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from robustscope.synth.textures import value_noise

ENV_HEIGHT = 256
ENV_WIDTH = 512

_Dirs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x, y, z, azimuth, u


def _directions(height: int, width: int) -> _Dirs:
    """World directions of the texel centres in Mitsuba's envmap layout."""
    u, v = np.meshgrid((np.arange(width) + 0.5) / width, (np.arange(height) + 0.5) / height)
    # Mitsuba maps d to (atan2(d.x, -d.z) / 2pi, acos(d.y) / pi); invert that.
    phi, theta = u * 2 * np.pi, v * np.pi
    x = np.sin(theta) * np.sin(phi)
    y = np.cos(theta)
    z = -np.sin(theta) * np.cos(phi)
    # Azimuth measured from the view direction, in (-pi, pi]: 0 straight behind the object.
    azimuth = np.arctan2(x, -z)
    return x, y, z, azimuth, u


def _mix(a: np.ndarray | tuple, b: np.ndarray | tuple, t: np.ndarray) -> np.ndarray:
    return np.asarray(a)[None, None] * (1 - t[..., None]) + np.asarray(b)[None, None] * t[..., None]


def _smooth(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0, 1)
    return t * t * (3 - 2 * t)


def _noise_on(u: np.ndarray, y: np.ndarray, cells: int, seed: int, freq: int = 6) -> np.ndarray:
    """Noise addressed by (azimuth fraction, height), wrapping around the horizon.

    The camera sees only ~40 degrees of the map, so the noise repeats ``freq`` times around it to
    put several features inside the frame.
    """
    size = 256
    n = value_noise(size, cells, seed)
    iu = (u * size * freq).astype(int) % size
    iv = ((y * 0.5 + 0.5) * size * freq / 2).astype(int) % size
    return n[iv, iu]


def _sky(x: np.ndarray, y: np.ndarray, z: np.ndarray, az: np.ndarray, u: np.ndarray) -> np.ndarray:
    sky = _mix((0.55, 0.72, 1.0), (0.12, 0.32, 0.95), _smooth(0.0, 0.6, y))
    ground = _mix((0.30, 0.42, 0.16), (0.18, 0.25, 0.10), _smooth(0.0, -0.5, y))
    return np.where((y > -0.25)[..., None], sky, ground)


def _sunset(x: np.ndarray, y: np.ndarray, z: np.ndarray, az: np.ndarray, u: np.ndarray) -> np.ndarray:
    sky = _mix((1.6, 0.55, 0.12), (0.30, 0.10, 0.45), _smooth(-0.2, 0.45, y))
    glow = np.exp(-((az / 0.5) ** 2) - ((y + 0.1) / 0.12) ** 2)[..., None] * np.array([2.0, 1.0, 0.3])
    ground = np.array([0.08, 0.04, 0.08])[None, None] * np.ones_like(sky)
    return np.where((y > -0.3)[..., None], sky + glow, ground)


def _overcast(x: np.ndarray, y: np.ndarray, z: np.ndarray, az: np.ndarray, u: np.ndarray) -> np.ndarray:
    clouds = _noise_on(u, y, 6, seed=11)
    grey = 0.45 + 0.35 * clouds
    sky = np.stack([grey, grey, grey * 1.05], -1)
    ground = np.array([0.22, 0.22, 0.2])[None, None] * np.ones_like(sky)
    return np.where((y > -0.28)[..., None], sky, ground)


def _indoor(x: np.ndarray, y: np.ndarray, z: np.ndarray, az: np.ndarray, u: np.ndarray) -> np.ndarray:
    wall = np.ones((*y.shape, 3)) * np.array([0.62, 0.55, 0.45])
    # Wainscot panel and a dark door-like rectangle to give the wall structure.
    panel = (y < -0.05) & (y > -0.28)
    wall[panel] = (0.35, 0.22, 0.12)
    window = (np.abs(az - 0.35) < 0.12) & (y > 0.02) & (y < 0.3)
    wall[window] = (1.6, 1.6, 1.5)
    door = (np.abs(az + 0.4) < 0.08) & (y > -0.28) & (y < 0.22)
    wall[door] = (0.15, 0.1, 0.08)
    planks = 0.8 + 0.2 * (np.sin(az * 60) > 0)
    floor = np.stack([0.42 * planks, 0.26 * planks, 0.14 * planks], -1)
    ceiling = np.ones_like(wall) * 0.9
    out = np.where((y < -0.28)[..., None], floor, wall)
    return np.where((y > 0.55)[..., None], ceiling, out)


def _forest(x: np.ndarray, y: np.ndarray, z: np.ndarray, az: np.ndarray, u: np.ndarray) -> np.ndarray:
    leaves = _noise_on(u, y, 10, seed=5)
    canopy = _mix((0.05, 0.18, 0.04), (0.28, 0.55, 0.15), leaves)
    light = _mix((0.35, 0.55, 0.25), (0.8, 0.95, 0.6), _smooth(0.4, 0.9, y))
    trunk_noise = _noise_on(u, np.zeros_like(y), 8, seed=3)
    trunks = (trunk_noise > 0.6)[..., None]
    out = np.where(trunks, np.array([0.16, 0.1, 0.06])[None, None], canopy)
    out = np.where((y > 0.6)[..., None], light, out)
    ground = _mix((0.18, 0.12, 0.06), (0.10, 0.16, 0.05), _noise_on(u, y, 16, seed=9))
    return np.where((y < -0.25)[..., None], ground, out)


def _night(x: np.ndarray, y: np.ndarray, z: np.ndarray, az: np.ndarray, u: np.ndarray) -> np.ndarray:
    sky = _mix((0.05, 0.06, 0.16), (0.01, 0.01, 0.05), _smooth(-0.1, 0.7, y))
    rng = np.random.default_rng(1)
    stars = (rng.random(y.shape) > 0.985) & (y > -0.1)
    sky = sky + stars[..., None] * np.array([0.9, 0.9, 1.0])
    moon = (az - 0.45) ** 2 + (y - 0.25) ** 2 < 0.06**2
    sky[moon] = (2.5, 2.5, 2.2)
    ground = np.array([0.02, 0.02, 0.03])[None, None] * np.ones_like(sky)
    return np.where((y > -0.25)[..., None], sky, ground)


def _studio(x: np.ndarray, y: np.ndarray, z: np.ndarray, az: np.ndarray, u: np.ndarray) -> np.ndarray:
    # A grey seamless backdrop with a soft spot behind the object, like a product photo.
    spot = np.exp(-(az**2 + y**2) / 0.08)
    grey = 0.35 + 0.45 * spot
    return np.stack([grey, grey, grey], -1)


def _desert(x: np.ndarray, y: np.ndarray, z: np.ndarray, az: np.ndarray, u: np.ndarray) -> np.ndarray:
    sky = _mix((0.95, 0.85, 0.65), (0.35, 0.6, 1.0), _smooth(-0.1, 0.5, y))
    dunes = -0.15 + 0.08 * np.sin(az * 5) + 0.04 * np.sin(az * 13 + 1)
    sand = _mix((0.95, 0.7, 0.38), (0.6, 0.38, 0.18), _smooth(-0.1, -0.6, y))
    return np.where((y < dunes)[..., None], sand, sky)


_MAKERS: dict[str, Callable[..., np.ndarray]] = {
    "sky": _sky,
    "sunset": _sunset,
    "overcast": _overcast,
    "indoor": _indoor,
    "forest": _forest,
    "night": _night,
    "studio": _studio,
    "desert": _desert,
}

#: Background (environment map) names, in a stable order.
BACKGROUNDS: tuple[str, ...] = tuple(_MAKERS)


@cache
def make_envmap(name: str, height: int = ENV_HEIGHT, width: int = ENV_WIDTH) -> np.ndarray:
    """Linear-RGB float32 environment map ``[height, width, 3]`` of background ``name``.

    Example:
        >>> env = make_envmap("sky", 16, 32)
        >>> env.shape, env.dtype.name
        ((16, 32, 3), 'float32')
    """
    if name not in _MAKERS:
        from robustscope.errors import UnknownNameError
        from robustscope.registry import suggest

        raise UnknownNameError("background", name, suggest(name, BACKGROUNDS), list(BACKGROUNDS))
    x, y, z, az, u = _directions(height, width)
    env = _MAKERS[name](x, y, z, az, u)
    return np.ascontiguousarray(np.clip(env, 0, None), dtype=np.float32)
