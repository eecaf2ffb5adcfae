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

Axis names come from :data:`AXES`. Dataset specs may hold two placeholders: ``{world}`` (the
synthetic world, ``--world``) and ``{data:NAME}`` (benchmark ``NAME``'s folder under ``--data-root``,
found by :func:`robustscope.data.benchmarks.roots.find_benchmark`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from robustscope.errors import SpecError, UnknownNameError
from robustscope.registry import suggest
from robustscope.suites.registry import AXIS_FUNCTIONS

#: The robustness axes a suite can run, with what each measures.
AXES: dict[str, str] = {entry.key: entry.summary for entry in AXIS_FUNCTIONS.entries()}
_PLACEHOLDER = re.compile(r"\{(world|data:[A-Za-z0-9_.-]+)\}")
#: The ``params`` each axis reads (its function's module documents them); any other key is a typo,
#: refused when the suite is loaded rather than silently ignored.
AXIS_PARAMS: dict[str, frozenset[str]] = {
    "shape_bias": frozenset(),
    "context_bias": frozenset({"attributes"}),
    "background_bias": frozenset(),
    "calibration": frozenset({"metrics"}),
    "ood": frozenset({"scores"}),
    "corruptions": frozenset({"corruptions", "severities", "on_the_fly"}),
    "adversarial": frozenset(),
    "imagenet_x": frozenset({"factors", "filter_prototypes", "correctness", "n_bins", "metaclass", "annotations"}),
    "geography": frozenset({"income_edges", "k", "disparity", "slices", "factor_min_count"}),
    "shortcuts": frozenset({"bg_ratio", "co_occur_obj_ratio", "carton_class"}),
    "pug": frozenset(
        {"factors", "default_value", "n_bins", "max_values", "min_count", "held_out", "retrieval_k", "spar_slices"}
    ),
}


@dataclass(frozen=True)
class AxisSpec:
    """One axis of a suite: named dataset specs (roles), shifts and axis parameters.

    Example:
        >>> AxisSpec("adversarial", {"clean": "synth:{world}:test-id"}, ("none", "fgsm:eps=1/255")).shifts
        ('none', 'fgsm:eps=1/255')
    """

    axis: str
    datasets: dict[str, str]
    shifts: tuple[str, ...] = ("none",)
    params: dict[str, Any] = field(default_factory=dict)


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
            if axis not in AXES:
                hint = suggest(str(axis), AXES)
                raise SpecError(
                    f"{where}: unknown axis" + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {list(AXES)}")
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
            _check_params(where, str(axis), params)
            _check_shifts(where, shifts)
            axes.append(AxisSpec(str(axis), {str(k): v for k, v in datasets.items()}, tuple(shifts), dict(params)))
        return cls(name, str(raw.get("description", "")), tuple(axes), str(raw.get("paper", "")))


def _check_params(where: str, axis: str, params: dict[str, Any]) -> None:
    """Refuse param keys the axis does not read (a typo would silently fall back to the default)."""
    known = AXIS_PARAMS.get(axis)
    unknown = sorted(map(str, set(params) - known)) if known is not None else []
    if unknown:
        listing = ", ".join(sorted(known)) if known else "none"
        hint = suggest(unknown[0], known) if known else []
        raise SpecError(
            f"{where}.params: unknown param {unknown[0]!r}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
            + f" (known params of the {axis} axis: {listing})"
        )


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
