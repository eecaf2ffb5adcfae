"""Suites as data: which datasets, shifts, metrics and parameters each robustness axis uses.

A suite is a YAML file (the built-in ones live in ``robustscope/suites/data/``)::

    name: my-suite
    description: ...
    paper: ...
    axes:
      calibration:
        datasets: {test_id: "synth:{world}:test-id"}
        params: {metrics: [top1, ece20]}
      adversarial:
        datasets: {clean: "folder:{data:my-val}"}
        shifts: ["none", "fgsm:eps=1/255"]

Axis names come from :mod:`robustscope.suites.registry`; each axis's ``params`` are checked against its
record's typed ``Params`` (:class:`robustscope.suites.axis.Axis`) when the suite is loaded, before any forward
pass. Dataset specs may hold two placeholders: ``{world}`` (the synthetic world, ``--world``) and
``{data:NAME}`` (benchmark ``NAME``'s folder under ``--data-root``, found by
:func:`robustscope.data.benchmarks.roots.find_benchmark`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from robustscope.errors import SpecError, UnknownNameError
from robustscope.registry import suggest
from robustscope.suites.axis_spec import AxisSpec
from robustscope.suites.registry import axis_names, get_axis

__all__ = [
    "AXES",
    "AxisSpec",
    "SuiteSpec",
    "builtin_suites",
    "fill_placeholders",
    "load_suite",
    "placeholders",
    "typed_params",
]

_PLACEHOLDER = re.compile(r"\{(world|data:[A-Za-z0-9_.-]+)\}")


class _AxisSummaries(Mapping[str, str]):
    """Axis name → one line of what it measures, read from the records when asked (registration order)."""

    def __getitem__(self, name: str) -> str:
        if name not in axis_names():
            raise KeyError(name)
        return get_axis(name).summary

    def __iter__(self) -> Iterator[str]:
        return iter(axis_names())

    def __len__(self) -> int:
        return len(axis_names())


#: The robustness axes a suite can run, with what each measures.
AXES: Mapping[str, str] = _AxisSummaries()


def typed_params(axis: AxisSpec, where: str = "") -> Any:
    """The params of a suite's axis as its record's typed ``Params``; :class:`SpecError` names a bad key or value.

    Example:
        >>> typed_params(AxisSpec("corruptions", {"clean": "synth:{world}:test-id"}, params={"severities": [3]}))
        Params(corruptions='common', severities=(3,), on_the_fly='auto')
    """
    return get_axis(axis.axis).parse_params(axis.params, where or f"axes.{axis.axis}.params")


@dataclass(frozen=True)
class SuiteSpec:
    """A named set of axes. Load built-in suites with :func:`load_suite`.

    Example:
        >>> suite = load_suite("synthetic-clones-offline")
        >>> [a.axis for a in suite.axes][:3]
        ['shape_bias', 'context_bias', 'background_bias']
    """

    name: str
    description: str
    axes: tuple[AxisSpec, ...]
    paper: str = ""

    def axis(self, name: str) -> AxisSpec:
        """The spec of axis ``name`` (near-miss suggestions when it is not in the suite)."""
        for spec in self.axes:
            if spec.axis == name:
                return spec
        names = [a.axis for a in self.axes]
        raise UnknownNameError(f"axis of suite {self.name}", name, suggest(name, names), names)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "suite") -> SuiteSpec:
        """Validate a dict (read from YAML); :class:`SpecError` names the offending field.

        Example:
            >>> SuiteSpec.from_dict({"name": "s", "axes": {"calibraton": {"datasets": {"a": "folder:x"}}}})
            Traceback (most recent call last):
            ...
            robustscope.errors.SpecError: suite.axes.calibraton: unknown axis; did you mean 'calibration'?
        """
        if not isinstance(raw, dict):
            raise SpecError(f"{source}: a suite must be a mapping")
        unknown = sorted(set(raw) - {"name", "description", "paper", "axes"})
        if unknown:
            raise SpecError(f"{source}: unknown field(s) {unknown} (name, description, paper, axes)")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(f"{source}.name: a suite needs a non-empty name")
        axes_raw = raw.get("axes")
        if not isinstance(axes_raw, dict) or not axes_raw:
            raise SpecError(f"{source}.axes: must map axis names to their datasets")
        axes = []
        for axis, body in axes_raw.items():
            where = f"{source}.axes.{axis}"
            if axis not in axis_names():
                hint = suggest(str(axis), axis_names())
                raise SpecError(
                    f"{where}: unknown axis"
                    + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {axis_names()}")
                )
            if not isinstance(body, dict):
                raise SpecError(f"{where}: must be a mapping with datasets (and optional shifts, params)")
            bad = sorted(set(body) - {"datasets", "shifts", "params"})
            if bad:
                raise SpecError(f"{where}: unknown field(s) {bad} (datasets, shifts, params)")
            datasets = body.get("datasets")
            if not isinstance(datasets, dict) or not datasets or not all(isinstance(v, str) for v in datasets.values()):
                raise SpecError(f"{where}.datasets: must map role names to dataset spec strings")
            shifts = body.get("shifts", ["none"])
            if not isinstance(shifts, list) or not all(isinstance(s, str) for s in shifts):
                raise SpecError(f"{where}.shifts: must be a list of shift spec strings")
            params = body.get("params") or {}
            if not isinstance(params, dict):
                raise SpecError(f"{where}.params: must be a mapping")
            get_axis(str(axis)).parse_params(params, where=f"{where}.params")
            _check_shifts(where, shifts)
            axes.append(AxisSpec(str(axis), {str(k): v for k, v in datasets.items()}, tuple(shifts), dict(params)))
        return cls(name, str(raw.get("description", "")), tuple(axes), str(raw.get("paper", "")))


def _check_shifts(where: str, shifts: list[str]) -> None:
    """Parse every shift spec now, so a bad one fails at load, before any model runs."""
    from robustscope.shifts.registry import check_shift_spec

    for index, shift in enumerate(shifts):
        try:
            check_shift_spec(shift)
        except (SpecError, UnknownNameError) as err:
            raise SpecError(f"{where}.shifts[{index}]: {err}") from None


def builtin_suites() -> list[str]:
    """Names of the suites shipped with robustscope.

    Example:
        >>> {"synthetic-clones", "synthetic-clones-offline"} <= set(builtin_suites())
        True
    """
    folder = resources.files("robustscope.suites") / "data"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_suite(name_or_path: str | Path) -> SuiteSpec:
    """A built-in suite by name, or a suite YAML file by path.

    Example:
        >>> load_suite("synthetic-clones").axis("adversarial").shifts[-1]
        'pgd:linf:eps=1/255:steps=20:alpha=2/255'
        >>> load_suite("synthetic-clone")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        robustscope.errors.UnknownNameError: unknown suite 'synthetic-clone'; did you mean 'synthetic-clones', ...?
    """
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        try:
            return SuiteSpec.from_dict(yaml.safe_load(path.read_text()), source=str(path))
        except yaml.YAMLError as err:
            raise SpecError(f"{path}: not valid YAML: {err}") from None
    text = str(name_or_path)
    known = builtin_suites()
    if text not in known:
        raise UnknownNameError("suite", text, suggest(text, known), known)
    raw = yaml.safe_load((resources.files("robustscope.suites") / "data" / f"{text}.yaml").read_text())
    return SuiteSpec.from_dict(raw, source=f"suite {text}")


def placeholders(spec: str) -> list[str]:
    """The placeholders in a dataset spec string.

    Example:
        >>> placeholders("imagenet-c:{data:imagenet-c}")
        ['data:imagenet-c']
    """
    return _PLACEHOLDER.findall(spec)


def fill_placeholders(spec: str, world: str, data_paths: dict[str, str]) -> str:
    """Substitute ``{world}`` and ``{data:NAME}`` (from ``data_paths``: NAME → folder).

    Example:
        >>> fill_placeholders("synth-bench:{world}:context", "demo", {})
        'synth-bench:demo:context'
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        return world if token == "world" else data_paths[token.split(":", 1)[1]]

    return _PLACEHOLDER.sub(replace, spec)
