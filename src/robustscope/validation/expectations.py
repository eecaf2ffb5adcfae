"""The known-answer expectations: which check each axis runs, and which recipe it must flag (as data).

``validation/data/expectations.yaml`` declares the checks (an axis's result row, the side a failure lies
on, and a threshold chosen from the clean recipe's seed-to-seed spread) and the expected sign of every
cell of the recipes × checks matrix: ``flag`` (the planted failure), ``clear`` (no effect expected) or
``any`` (reported, not judged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from robustscope.errors import SpecError

__all__ = ["SIGNS", "Check", "Expectations", "load_expectations"]

#: Expected signs of a cell.
SIGNS = ("flag", "clear", "any")


@dataclass(frozen=True)
class Check:
    """One known-answer check: a result row of an axis and the side of ``threshold`` a failure lies on.

    Example:
        >>> check = Check("bg", "background_bias", "bg_gap", "above", 0.1)
        >>> check.flags(0.3, 0.2, 0.4), check.flags(0.3, 0.05, 0.5), check.flags(0.02, float("nan"), float("nan"))
        (True, False, False)
    """

    name: str
    axis: str
    metric: str
    failure: str  # "above" or "below"
    threshold: float
    dataset: str = ""
    means: str = ""

    def flags(self, value: float, ci_low: float, ci_high: float) -> bool:
        """Whether the row flags a failure: its whole CI beyond the threshold (the value itself, without a CI)."""
        low, high = (value, value) if math.isnan(ci_low) or math.isnan(ci_high) else (ci_low, ci_high)
        if math.isnan(low):
            return False
        return low > self.threshold if self.failure == "above" else high < self.threshold

    def with_threshold(self, threshold: float) -> Check:
        """The same check at another threshold (e.g. the CI-sized world's, from its own seed spread).

        Example:
            >>> Check("bg", "background_bias", "bg_gap", "above", 0.1).with_threshold(0.2).threshold
            0.2
        """
        return Check(self.name, self.axis, self.metric, self.failure, float(threshold), self.dataset, self.means)


@dataclass(frozen=True)
class Expectations:
    """The checks, in file order, and the expected sign of each (recipe, check) cell.

    Example:
        >>> exp = load_expectations()
        >>> exp.sign("texture-shortcut", "shape_bias"), exp.sign("clean", "shape_bias")
        ('flag', 'clear')
    """

    checks: tuple[Check, ...]
    expected: dict[str, dict[str, str]]

    def check(self, name: str) -> Check:
        """The check ``name``."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def sign(self, recipe: str, check: str) -> str:
        """Expected sign of a cell; recipes the file does not list are ``any``."""
        return self.expected.get(recipe, {}).get(check, "any")

    def with_thresholds(self, thresholds: dict[str, float]) -> Expectations:
        """The same expectations with some checks' thresholds replaced (``{check: threshold}``).

        Example:
            >>> load_expectations().with_thresholds({"calibration": 0.2}).check("calibration").threshold
            0.2
        """
        unknown = set(thresholds) - {c.name for c in self.checks}
        if unknown:
            raise KeyError(f"no checks named {sorted(unknown)}")
        checks = tuple(c.with_threshold(thresholds[c.name]) if c.name in thresholds else c for c in self.checks)
        return Expectations(checks, self.expected)


def _parse(raw: dict[str, Any], source: str) -> Expectations:
    checks = []
    for name, entry in (raw.get("checks") or {}).items():
        if entry.get("failure") not in ("above", "below"):
            raise SpecError(f"{source}: check {name}: failure must be 'above' or 'below'")
        checks.append(Check(name, str(entry["axis"]), str(entry["metric"]), str(entry["failure"]),
                            float(entry["threshold"]), str(entry.get("dataset", "")), str(entry.get("means", ""))))
    names = {c.name for c in checks}
    expected: dict[str, dict[str, str]] = {}
    for recipe, cells in (raw.get("expected") or {}).items():
        for check, sign in cells.items():
            if check not in names:
                raise SpecError(f"{source}: expected.{recipe} names unknown check {check!r}")
            if sign not in SIGNS:
                raise SpecError(f"{source}: expected.{recipe}.{check} must be one of {SIGNS}, got {sign!r}")
        expected[str(recipe)] = {str(k): str(v) for k, v in cells.items()}
    return Expectations(tuple(checks), expected)


@cache
def load_expectations() -> Expectations:
    """The built-in expectations (``robustscope/validation/data/expectations.yaml``).

    Example:
        >>> [c.name for c in load_expectations().checks][:3]
        ['shape_bias', 'background_bias', 'context_bias']
    """
    path = resources.files("robustscope.validation") / "data" / "expectations.yaml"
    return _parse(yaml.safe_load(path.read_text()), "validation/data/expectations.yaml")
