"""The factors of a synthetic world: their names and defaults, and how one factor's value is chosen.

A world spec (:mod:`robustscope.synth.spec`) gives each factor either a list of ``values`` (categorical or
numeric), a ``range: [low, high]`` (numeric factors only), or a single constant; ``tie_to_class`` (with
``tie_prob``) ties values to classes to build exact correlations, and ``steps`` is how many values a range
contributes to a grid. A categorical factor can ``follow`` an earlier one (``color: {values: all, follows:
texture, map: {stripes: blue, ...}}``): the pair then moves together as one joint appearance factor, so
a cue-conflict split that swaps the texture swaps its colour with it. A ``map`` entry can also be a choice: a
list (uniform) or a ``{value: weight}`` dict for a categorical factor, a ``[low, high]`` sub-range for a numeric
one (``light_intensity: {range: [1, 4], follows: income, map: {low: [0.6, 1.5]}}``); ``weights`` (one per value)
makes a plain ``values`` draw non-uniform. :func:`parse_factor` validates one factor's entry into a
:class:`Factor`, which draws values (:meth:`Factor.sample`) and lists them for a grid (:meth:`Factor.grid_values`).

Group factors (:data:`GROUP_FACTORS`: ``region``, ``income``, ``country``, ``house``) describe who took the photo
rather than what it shows (Dollar Street's metadata): they are not rendered, take any plain names as values
(``house``: a ``range`` of house numbers), are drawn before every rendered factor (so those can follow them), and
only when a world declares them, so worlds without them draw exactly the same random numbers as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robustscope.errors import SpecError
from robustscope.registry import suggest
from robustscope.synth.backgrounds import BACKGROUNDS
from robustscope.synth.textures import COLORS, LIGHT_COLORS, TEXTURES, parse_color

__all__ = ["CATEGORICAL_FACTORS", "FACTOR_NAMES", "GROUP_FACTORS", "NUMERIC_FACTORS", "Factor", "house_id",
           "parse_factor", "spec_error"]

#: Numeric factors (values are floats; ``range`` allowed), with their defaults.
NUMERIC_FACTORS: dict[str, float] = {
    "yaw": 0.0,
    "pitch": 0.0,
    "roll": 0.0,
    "scale": 0.8,
    "position_x": 0.0,
    "position_y": 0.0,
    "light_azimuth": 45.0,
    "light_elevation": 40.0,
    "light_intensity": 2.5,
}
#: Categorical factors, with their defaults.
CATEGORICAL_FACTORS: dict[str, str] = {
    "texture": "plain",
    "color": "red",
    "light_color": "white",
    "background": "sky",
}
FACTOR_NAMES: tuple[str, ...] = (*CATEGORICAL_FACTORS, *NUMERIC_FACTORS)
#: Group factors, in draw order: not rendered, no default (absent unless a world declares them).
GROUP_FACTORS: tuple[str, ...] = ("region", "income", "country", "house")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_NAMES_OF = {"texture": TEXTURES, "color": tuple(COLORS), "light_color": tuple(LIGHT_COLORS), "background": BACKGROUNDS}


def spec_error(where: str, message: str) -> SpecError:
    """The :class:`SpecError` for a bad field of a world spec: where it is, then what is wrong.

    Example:
        >>> print(spec_error("world toy.factors.yaw.range", "low 3 is above high 1"))
        world toy.factors.yaw.range: low 3 is above high 1
    """
    return SpecError(f"{where}: {message}")


@dataclass
class Factor:
    """How one factor's value is chosen.

    Exactly one of ``values`` (list) or ``range`` (low, high) is set. ``tie_to_class`` maps a class to
    the values (or, for a range factor, the ``[low, high]`` sub-range) it draws from with probability
    ``tie_prob``; otherwise the sample draws from the other values (range: the whole range). The class
    ``"*"`` in a spec ties every class not named: ``{"*": [white]}`` with ``tie_prob: 0.5`` gives a common
    value half the time and an uncommon one otherwise.
    ``steps`` is how many evenly spaced values a range contributes to a grid.
    ``follows`` names an earlier categorical factor whose drawn value picks this one through
    ``follow_map`` (with probability ``follow_prob``; otherwise, or for an unmapped value, the value is
    drawn as usual): a joint appearance factor, e.g. each texture always in its own colour.
    """

    name: str
    values: list[Any] | None = None
    range: tuple[float, float] | None = None
    tie_to_class: dict[str, Any] = field(default_factory=dict)
    tie_prob: float = 1.0
    steps: int = 3
    follows: str | None = None
    follow_map: dict[str, Any] = field(default_factory=dict)
    follow_prob: float = 1.0
    weights: list[float] | None = None

    @property
    def numeric(self) -> bool:
        return self.name in NUMERIC_FACTORS or self.name == "house"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.values is not None:
            out["values"] = list(self.values)
        if self.weights is not None:
            out["weights"] = list(self.weights)
        if self.range is not None:
            out["range"] = list(self.range)
        if self.tie_to_class:
            out["tie_to_class"] = {
                k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in self.tie_to_class.items()
            }
            out["tie_prob"] = self.tie_prob
        if self.range is not None:
            out["steps"] = self.steps
        if self.follows is not None:
            out["follows"] = self.follows
            out["map"] = {k: _jsonable(v) for k, v in self.follow_map.items()}
            out["follow_prob"] = self.follow_prob
        return out

    def grid_values(self, cls: str) -> list[Any]:
        """Values this factor takes in a grid for class ``cls`` (ties restrict them)."""
        if cls in self.tie_to_class:
            tied = self.tie_to_class[cls]
            if self.range is not None:
                return [float(x) for x in np.linspace(tied[0], tied[1], self.steps)]
            return list(tied)
        if self.range is not None:
            return [float(x) for x in np.linspace(self.range[0], self.range[1], self.steps)]
        assert self.values is not None
        return list(self.values)

    def sample(self, cls: str, rng: np.random.Generator, drawn: dict[str, Any] | None = None) -> Any:
        """Draw one value for a sample of class ``cls``; ``drawn`` holds the sample's earlier factors.

        Always consumes the same number of random numbers, so adding a tie does not reshuffle
        the other factors of the world (a following factor draws one more, for its own coin; a mapped
        choice or sub-range reuses the draw's own uniform number).

        Example:
            >>> colour = Factor("color", values=["red", "blue"], follows="texture", follow_map={"stripes": "blue"})
            >>> colour.sample("cube", np.random.default_rng(0), {"texture": "stripes"})
            'blue'
            >>> light = Factor("light_intensity", range=(1.0, 4.0), follows="income", follow_map={"low": (0.5, 1.0)})
            >>> 0.5 <= light.sample("cube", np.random.default_rng(0), {"income": "low"}) <= 1.0
            True
        """
        coin, pick = rng.random(), rng.random()
        if self.follows is not None:
            leader = (drawn or {}).get(self.follows)
            if rng.random() < self.follow_prob and leader in self.follow_map:
                return self._mapped(self.follow_map[leader], pick)
        pool_range, pool_values = self.range, self.values
        if cls in self.tie_to_class:
            tied = self.tie_to_class[cls]
            if coin < self.tie_prob:
                pool_range, pool_values = (tuple(tied), None) if self.range is not None else (None, list(tied))
            elif self.values is not None:
                rest = [v for v in self.values if v not in tied]
                pool_values = rest or list(self.values)
        if pool_range is not None:
            return float(pool_range[0] + (pool_range[1] - pool_range[0]) * pick)
        assert pool_values is not None
        if self.weights is not None and pool_values == self.values:
            return _weighted(dict(zip(pool_values, self.weights, strict=True)), pick)
        return pool_values[min(int(pick * len(pool_values)), len(pool_values) - 1)]

    def _mapped(self, entry: Any, pick: float) -> Any:
        """The value a ``map`` entry gives: itself, a uniform pick from a list, a weighted pick, a sub-range draw."""
        if self.range is not None:
            return float(entry[0] + (entry[1] - entry[0]) * pick)
        if isinstance(entry, list):
            return entry[min(int(pick * len(entry)), len(entry) - 1)]
        if isinstance(entry, dict):
            return _weighted(entry, pick)
        return entry


def _weighted(weights: dict[Any, float], pick: float) -> Any:
    """The value whose share of the cumulative weights holds ``pick`` (uniform in [0, 1))."""
    total = float(sum(weights.values()))
    edge = 0.0
    for value, weight in weights.items():
        edge += weight / total
        if pick < edge:
            return value
    return next(reversed(weights))


def _jsonable(entry: Any) -> Any:
    return list(entry) if isinstance(entry, tuple) else (dict(entry) if isinstance(entry, dict) else entry)


def house_id(record: dict[str, Any]) -> str:
    """The id of a sample's house: its country (else region), income and house number, so a house lies in one
    country and one income group, and the same id in two splits is the same household.

    Example:
        >>> house_id({"region": "Africa", "country": "Kenya", "income": "low", "house": 7.9})
        'Kenya-low-007'
    """
    place = record.get("country", record.get("region", "house"))
    parts = [str(place)] + ([str(record["income"])] if "income" in record else [])
    return "-".join([*parts, f"{int(record['house']):03d}"])


def _check_value(factor: str, value: Any, where: str) -> Any:
    if factor in GROUP_FACTORS and factor != "house":
        if not isinstance(value, str) or not _PLAIN_VALUE.fullmatch(value):
            raise spec_error(where, f"{factor} values must be plain names (letters, digits, _ . + -), got {value!r}")
        return value
    if factor in NUMERIC_FACTORS or factor == "house":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise spec_error(where, f"{factor} values must be numbers, got {value!r}")
        if factor == "scale" and value <= 0:
            raise spec_error(where, f"scale must be positive, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise spec_error(where, f"{factor} values must be names, got {value!r}")
    names = _NAMES_OF[factor]
    if value in names:
        return value
    if factor in ("color", "light_color"):
        try:
            parse_color(value, COLORS if factor == "color" else LIGHT_COLORS)
            return value
        except ValueError:
            pass
    hint = suggest(value, names)
    raise spec_error(
        where,
        f"unknown {factor} {value!r}" + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(names)}"),
    )


def parse_factor(name: str, raw: Any, classes: list[str], where: str) -> Factor:
    """Validate one factor's entry of a world spec (a constant, a list, ``"all"`` or a mapping) into a :class:`Factor`.

    Raises :class:`SpecError` naming the bad field (``where``) with near misses for unknown names.

    Example:
        >>> f = parse_factor("texture", {"values": ["plain", "stripes"], "tie_to_class": {"cube": "stripes"}},
        ...                  ["sphere", "cube"], "world toy.factors.texture")
        >>> f.values, f.tie_to_class
        (['plain', 'stripes'], {'cube': ['stripes']})
        >>> parse_factor("yaw", {"range": [30, -30]}, ["cube"], "w.factors.yaw")
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: w.factors.yaw.range: low 30.0 is above high -30.0
    """
    known = (*GROUP_FACTORS, *FACTOR_NAMES)
    if name not in known:
        hint = suggest(name, known)
        raise spec_error(
            where,
            f"unknown factor {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(known)}"),
        )
    if raw == "all" and name in _NAMES_OF:
        raw = {"values": list(_NAMES_OF[name])}
    if not isinstance(raw, dict):
        raw = {"values": list(raw) if isinstance(raw, (list, tuple)) else [raw]}
    keys = {"values", "range", "tie_to_class", "tie_prob", "steps", "follows", "map", "follow_prob", "weights"}
    unknown = set(raw) - keys
    if unknown:
        raise spec_error(where, f"unknown key(s) {sorted(unknown)} (use {', '.join(sorted(keys))})")
    values, rng_ = raw.get("values"), raw.get("range")
    if (values is None) == (rng_ is None):
        raise spec_error(where, "give exactly one of 'values' or 'range'")
    factor = Factor(name)
    if values is not None:
        if values == "all" and name in _NAMES_OF:
            values = list(_NAMES_OF[name])
        if not isinstance(values, (list, tuple)):
            values = [values]
        if not values:
            raise spec_error(f"{where}.values", "must not be empty")
        factor.values = [_check_value(name, v, f"{where}.values") for v in values]
    else:
        if name not in NUMERIC_FACTORS and name != "house":
            raise spec_error(f"{where}.range", f"{name} is categorical: give 'values', not 'range'")
        if not (isinstance(rng_, (list, tuple)) and len(rng_) == 2):
            raise spec_error(f"{where}.range", f"must be [low, high], got {rng_!r}")
        lo, hi = (_check_value(name, v, f"{where}.range") for v in rng_)
        if lo > hi:
            raise spec_error(f"{where}.range", f"low {lo} is above high {hi}")
        factor.range = (lo, hi)
    steps = raw.get("steps", 3)
    if not isinstance(steps, int) or steps < 1:
        raise spec_error(f"{where}.steps", f"must be a positive integer, got {steps!r}")
    factor.steps = steps
    prob = raw.get("tie_prob", 1.0)
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
        raise spec_error(f"{where}.tie_prob", f"must be a probability in [0, 1], got {prob!r}")
    factor.tie_prob = float(prob)
    ties = raw.get("tie_to_class") or {}
    if not isinstance(ties, dict):
        raise spec_error(f"{where}.tie_to_class", "must map class names to values")
    if "*" in ties:  # the same tie for every class not listed by name
        ties = {**{c: ties["*"] for c in classes}, **{k: v for k, v in ties.items() if k != "*"}}
    for cls, tied in ties.items():
        at = f"{where}.tie_to_class.{cls}"
        if cls not in classes:
            hint = suggest(str(cls), classes)
            raise spec_error(
                at,
                f"{cls!r} is not one of the world's classes {classes}"
                + (f"; did you mean {hint[0]!r}?" if hint else ""),
            )
        if factor.range is not None:
            if not (isinstance(tied, (list, tuple)) and len(tied) == 2):
                raise spec_error(at, f"a range factor ties to a [low, high] sub-range, got {tied!r}")
            lo, hi = (_check_value(name, v, at) for v in tied)
            if lo > hi:
                raise spec_error(at, f"low {lo} is above high {hi}")
            factor.tie_to_class[cls] = (lo, hi)
        else:
            tied = list(tied) if isinstance(tied, (list, tuple)) else [tied]
            if not tied:
                raise spec_error(at, "must not be empty")
            factor.tie_to_class[cls] = [_check_value(name, v, at) for v in tied]
    _parse_weights(factor, raw.get("weights"), f"{where}.weights")
    _parse_follow(factor, raw, where)
    return factor


def _parse_weights(factor: Factor, weights: Any, where: str) -> None:
    if weights is None:
        return
    if factor.values is None or not isinstance(weights, (list, tuple)) or len(weights) != len(factor.values):
        raise spec_error(where, "give one weight per value of 'values'")
    if any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in weights) or not sum(weights):
        raise spec_error(where, f"weights must be non-negative numbers, not all zero, got {list(weights)!r}")
    factor.weights = [float(w) for w in weights]


def _leaders_before(name: str) -> list[str]:
    """Factors drawn before ``name`` (group factors first, then categorical, then numeric) that it may follow."""
    if name in GROUP_FACTORS:
        return list(GROUP_FACTORS[: GROUP_FACTORS.index(name)])
    order = list(CATEGORICAL_FACTORS)
    if name in order:
        return [*GROUP_FACTORS[:-1], *order[: order.index(name)]]
    return [*GROUP_FACTORS[:-1], *order]


def _map_entry(factor: Factor, entry: Any, where: str) -> Any:
    """One validated ``map`` entry: a value, a list (uniform choice) or a ``{value: weight}`` dict; a numeric
    factor's entry is a ``[low, high]`` sub-range."""
    if factor.range is not None:
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2):
            raise spec_error(where, f"a range factor maps to a [low, high] sub-range, got {entry!r}")
        lo, hi = (_check_value(factor.name, v, where) for v in entry)
        if lo > hi:
            raise spec_error(where, f"low {lo} is above high {hi}")
        return (lo, hi)
    if isinstance(entry, (list, tuple)):
        if not entry:
            raise spec_error(where, "must not be empty")
        return [_check_value(factor.name, v, where) for v in entry]
    if isinstance(entry, dict):
        weights = {_check_value(factor.name, k, where): w for k, w in entry.items()}
        if any(isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0 for w in weights.values()) or not sum(
            weights.values()
        ):
            raise spec_error(where, f"weights must be non-negative numbers, not all zero, got {entry!r}")
        return {k: float(w) for k, w in weights.items()}
    return _check_value(factor.name, entry, where)


def _parse_follow(factor: Factor, raw: dict[str, Any], where: str) -> None:
    """Fill ``follows``/``follow_map``/``follow_prob`` of a joint factor (validated against both factors' names)."""
    leader = raw.get("follows")
    if leader is None:
        if "map" in raw or "follow_prob" in raw:
            raise spec_error(where, "'map' and 'follow_prob' need 'follows: <factor>'")
        return
    earlier = _leaders_before(factor.name)
    if leader not in earlier:
        raise spec_error(
            f"{where}.follows",
            f"{factor.name} can follow a factor drawn before it ({', '.join(earlier) or 'none'}), not {leader!r}",
        )
    mapping = raw.get("map")
    if not isinstance(mapping, dict) or not mapping:
        raise spec_error(f"{where}.map", f"must map {leader} values to {factor.name} values")
    factor.follows = str(leader)
    factor.follow_map = {
        _check_value(leader, k, f"{where}.map"): _map_entry(factor, v, f"{where}.map.{k}") for k, v in mapping.items()
    }
    prob = raw.get("follow_prob", 1.0)
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
        raise spec_error(f"{where}.follow_prob", f"must be a probability in [0, 1], got {prob!r}")
    factor.follow_prob = float(prob)
