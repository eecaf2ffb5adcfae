"""The factor box a worst-case search may move an instance within: continuous and categorical dimensions.

A box is declared per factor of the synthetic world (YAML or a mapping), relative to each instance's own factor
values where that makes sense::

    yaw: {offset: [-30, 30]}            # the instance's yaw ± 30 degrees
    light_intensity: {scale: [0.5, 2]}  # the instance's intensity × 0.5 … × 2
    position_x: {range: [-0.2, 0.2]}    # absolute bounds, whatever the instance's value
    background: [sky, sunset, forest]   # a set of values (``all``: every value the renderer knows)
    texture: all

A *candidate* is a full sample record (every factor, as :class:`~robustscope.synth.scene.SceneRenderer` renders
it): the instance's record with the box's factors replaced. Distances are normalised per dimension by the box:
``|x - x0| / (high - low)`` for a continuous factor, 0 or 1 for a categorical one (same value or not); the
distance of a candidate is the largest of its dimensions' (L∞), so 0.5 means "half of some factor's box".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from robustscope.errors import SpecError
from robustscope.synth import BACKGROUNDS, COLORS, LIGHT_COLORS, TEXTURES

__all__ = ["CATEGORICAL_FACTORS", "CONTINUOUS_FACTORS", "CategoricalDim", "ContinuousDim", "FactorBox", "parse_box"]

#: Continuous factors of the world a box may move (the renderer's units: degrees, scale, half-frames, irradiance).
CONTINUOUS_FACTORS = ("yaw", "pitch", "roll", "scale", "position_x", "position_y", "light_azimuth",
                      "light_elevation", "light_intensity")  # fmt: skip
#: Categorical factors of the world and every value the renderer knows.
CATEGORICAL_FACTORS: dict[str, tuple[str, ...]] = {
    "texture": tuple(TEXTURES),
    "color": tuple(COLORS),
    "background": tuple(BACKGROUNDS),
    "light_color": tuple(LIGHT_COLORS),
}


@dataclass(frozen=True)
class ContinuousDim:
    """A continuous factor's interval: ``offset`` (added to the instance's value), ``scale`` (multiplies it) or
    ``range`` (absolute).

    Example:
        >>> ContinuousDim("yaw", -30, 30, "offset").bounds(10.0)
        (-20.0, 40.0)
        >>> ContinuousDim("light_intensity", 0.5, 2.0, "scale").bounds(2.5)
        (1.25, 5.0)
    """

    factor: str
    low: float
    high: float
    mode: Literal["offset", "scale", "range"] = "offset"

    def bounds(self, original: float) -> tuple[float, float]:
        """Absolute ``(low, high)`` of this factor for an instance whose value is ``original``."""
        if self.mode == "offset":
            return float(original + self.low), float(original + self.high)
        if self.mode == "scale":
            return float(original * self.low), float(original * self.high)
        return float(self.low), float(self.high)

    def describe(self) -> dict[str, Any]:
        return {self.mode: [self.low, self.high]}


@dataclass(frozen=True)
class CategoricalDim:
    """A categorical factor's set of values.

    Example:
        >>> CategoricalDim("background", ("sky", "night")).describe()
        ['sky', 'night']
    """

    factor: str
    values: tuple[str, ...]

    def describe(self) -> list[str]:
        return list(self.values)


@dataclass(frozen=True)
class FactorBox:
    """The dimensions a search may move, continuous first (the order CMA-ES sees them), then categorical.

    Example:
        >>> box = parse_box({"yaw": {"offset": [-30, 30]}, "background": ["sky", "night"]})
        >>> record = {"yaw": 10.0, "background": "sky", "texture": "plain"}
        >>> moved = box.candidate(record, np.array([1.0]), ("night",))
        >>> moved["yaw"], moved["background"], box.contains(record, moved), box.distance(record, moved)
        (40.0, 'night', True, 1.0)
        >>> box.distance(record, box.candidate(record, np.array([0.75]), ("sky",)))
        0.25
    """

    continuous: tuple[ContinuousDim, ...] = ()
    categorical: tuple[CategoricalDim, ...] = ()
    name: str = field(default="box", compare=False)

    @property
    def factors(self) -> list[str]:
        """The factor names, continuous then categorical."""
        return [d.factor for d in self.continuous] + [d.factor for d in self.categorical]

    def describe(self) -> dict[str, Any]:
        """The box as JSON-able data (the form :func:`parse_box` reads): part of every result row's protocol."""
        return {d.factor: d.describe() for d in (*self.continuous, *self.categorical)}

    def only(self, factor: str) -> FactorBox:
        """The box restricted to one of its factors (a per-factor search), named after it."""
        if factor not in self.factors:
            raise SpecError(f"factor box: no factor {factor!r} in the box (it has {self.factors})")
        return FactorBox(tuple(d for d in self.continuous if d.factor == factor),
                         tuple(d for d in self.categorical if d.factor == factor), name=factor)  # fmt: skip

    def bounds(self, record: Mapping[str, Any]) -> np.ndarray:
        """``[n_continuous, 2]`` absolute bounds of the continuous dimensions around ``record``."""
        return np.array([d.bounds(float(record[d.factor])) for d in self.continuous], dtype=float).reshape(-1, 2)

    def to_unit(self, record: Mapping[str, Any], candidate: Mapping[str, Any]) -> np.ndarray:
        """The candidate's continuous values in box coordinates ``[0, 1]^d`` around ``record``."""
        bounds = self.bounds(record)
        values = np.array([float(candidate[d.factor]) for d in self.continuous], dtype=float)
        return (values - bounds[:, 0]) / np.maximum(bounds[:, 1] - bounds[:, 0], 1e-12)

    def candidate(self, record: Mapping[str, Any], unit: np.ndarray, choices: Sequence[str]) -> dict[str, Any]:
        """``record`` with the continuous factors at box coordinates ``unit`` (clipped into ``[0, 1]``) and the
        categorical ones set to ``choices``. Values are rounded to 4 decimals, as the world's own records are."""
        out = copy.deepcopy(dict(record))
        bounds = self.bounds(record)
        unit = np.clip(np.asarray(unit, dtype=float), 0.0, 1.0)
        for dim, (low, high), u in zip(self.continuous, bounds, unit, strict=True):
            # Rounded inward so a rounded value never leaves the box.
            out[dim.factor] = float(np.clip(round(low + u * (high - low), 4), low, high))
        for dim, value in zip(self.categorical, choices, strict=True):
            out[dim.factor] = value
        return out

    def sample(self, record: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """A candidate drawn uniformly from the box (each continuous factor uniform, each categorical uniform)."""
        unit = rng.random(len(self.continuous))
        choices = [d.values[int(rng.integers(len(d.values)))] for d in self.categorical]
        return self.candidate(record, unit, choices)

    def contains(self, record: Mapping[str, Any], candidate: Mapping[str, Any]) -> bool:
        """Whether ``candidate`` lies in the box around ``record`` and changes no factor outside it."""
        for dim, (low, high) in zip(self.continuous, self.bounds(record), strict=True):
            if not low - 1e-9 <= float(candidate[dim.factor]) <= high + 1e-9:
                return False
        if any(candidate[d.factor] not in d.values for d in self.categorical):
            return False
        moved = set(self.factors)
        return all(candidate.get(k) == v for k, v in record.items() if k not in moved)

    def distances(self, record: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, float]:
        """Per-factor normalised distance of ``candidate`` from ``record`` (continuous: by the box's width)."""
        out = {}
        for dim, (low, high) in zip(self.continuous, self.bounds(record), strict=True):
            moved = abs(float(candidate[dim.factor]) - float(record[dim.factor]))
            out[dim.factor] = float(moved / max(high - low, 1e-12))
        for cat in self.categorical:
            out[cat.factor] = float(candidate[cat.factor] != record[cat.factor])
        return out

    def distance(self, record: Mapping[str, Any], candidate: Mapping[str, Any]) -> float:
        """The largest per-factor normalised distance (L∞): 0 = the instance itself."""
        return round(float(max(self.distances(record, candidate).values(), default=0.0)), 6)


def _continuous(factor: str, spec: Any) -> ContinuousDim:
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in ("offset", "scale", "range"):
        raise SpecError(f"factor box: {factor}: give one of {{offset: [low, high]}}, {{scale: [low, high]}} or "
                        f"{{range: [low, high]}}, got {spec!r}")  # fmt: skip
    mode, bounds = next(iter(spec.items()))
    if not isinstance(bounds, Sequence) or len(bounds) != 2 or not all(isinstance(b, int | float) for b in bounds):
        raise SpecError(f"factor box: {factor}.{mode}: two numbers [low, high], got {bounds!r}")
    low, high = float(bounds[0]), float(bounds[1])
    if not low < high:
        raise SpecError(f"factor box: {factor}.{mode}: low must be below high, got [{low}, {high}]")
    if mode == "scale" and low <= 0:
        raise SpecError(f"factor box: {factor}.scale: multipliers must be positive, got [{low}, {high}]")
    return ContinuousDim(factor, low, high, mode)


def _categorical(factor: str, spec: Any) -> CategoricalDim:
    known = CATEGORICAL_FACTORS[factor]
    if isinstance(spec, Mapping) and set(spec) == {"values"}:
        spec = spec["values"]
    values = known if spec == "all" else spec
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise SpecError(f"factor box: {factor}: a list of values or 'all', got {spec!r}")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise SpecError(f"factor box: {factor}: unknown value {unknown[0]!r}; known: {', '.join(known)}")
    return CategoricalDim(factor, tuple(dict.fromkeys(str(v) for v in values)))


def parse_box(spec: Mapping[str, Any], name: str = "all") -> FactorBox:
    """A :class:`FactorBox` from its declaration (module docstring); unknown factors and bad bounds raise
    :class:`~robustscope.errors.SpecError` naming the factor and what it takes.

    Example:
        >>> parse_box({"yaw": {"offset": [-30, 30]}, "texture": "all"}).factors
        ['yaw', 'texture']
        >>> parse_box({"hue": [1, 2]})
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: factor box: unknown factor 'hue'; known: yaw, pitch, roll, scale, position_x, position_y, light_azimuth, light_elevation, light_intensity, texture, color, background, light_color
    """  # noqa: E501
    if not isinstance(spec, Mapping) or not spec:
        raise SpecError(f"factor box: a mapping of factor -> bounds or values, got {spec!r}")
    continuous, categorical = [], []
    for factor, entry in spec.items():
        if factor in CONTINUOUS_FACTORS:
            continuous.append(_continuous(factor, entry))
        elif factor in CATEGORICAL_FACTORS:
            categorical.append(_categorical(factor, entry))
        else:
            known = ", ".join((*CONTINUOUS_FACTORS, *CATEGORICAL_FACTORS))
            raise SpecError(f"factor box: unknown factor {factor!r}; known: {known}")
    return FactorBox(tuple(continuous), tuple(categorical), name=name)
