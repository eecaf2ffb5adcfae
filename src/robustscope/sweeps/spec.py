"""The sweep file: models × suites × (worlds or data roots) as one declarative YAML.

Schema (``robustscope sweep sweep.yaml``; docs/scaling.md has a runnable example)::

    name: tiny-sweep                  # names the output folder (default: the file's stem)
    models: [file:models/a, timm:resnet50]
    suites:                           # a name or YAML path, or {suite: ..., axes: [...]} to run some axes only
      - synthetic-clones-offline
      - {suite: synthetic-clones-offline, axes: [calibration, ood]}
    worlds: [tiny]                    # {world} of the suites' dataset specs (default: [demo])
    data_roots: [~/data]              # {data:NAME} benchmarks (default: none); cells = worlds × data_roots
    seed: 0
    n_resamples: 1000
    batch_size: 64
    device: cpu
    executor: serial                  # or ray (--executor on the command line wins)
    ray_address: null                 # auto or HOST:PORT with executor: ray
    fits:                             # across the sweep's models, after the cells
      effective_robustness: {x: "clean top-1", y: ["corruption top-1"], scale: linear}
      progress_gap: {geo_metric: top5}

Every (model, suite, world, data root) is a cell; cells are cached through the workspace's prediction and result
stores, so a rerun computes nothing it already has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from robustscope.errors import SpecError

__all__ = ["FITS", "SuiteEntry", "SweepCell", "SweepSpec", "SweepSpecError", "load_sweep"]

#: The fits a sweep may ask for, and the settings each takes.
FITS: dict[str, tuple[str, ...]] = {
    "effective_robustness": ("x", "y", "scale"),
    "progress_gap": ("geo_metric",),
}
_FIELDS = ("name", "models", "suites", "worlds", "data_roots", "seed", "n_resamples", "batch_size", "device",
           "executor", "ray_address", "fits")  # fmt: skip


class SweepSpecError(SpecError):
    """A sweep file with an invalid field; the message names the field and what it accepts."""


@dataclass(frozen=True)
class SuiteEntry:
    """One suite of a sweep: a built-in name or YAML path, and optionally only some of its axes."""

    suite: str
    axes: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        """``suite`` or ``suite[axis,axis]``: how tables and the progress view name it.

        Example:
            >>> SuiteEntry("synthetic-clones-offline", ("calibration", "ood")).label
            'synthetic-clones-offline[calibration,ood]'
        """
        return self.suite + (f"[{','.join(self.axes)}]" if self.axes else "")


@dataclass(frozen=True)
class SweepCell:
    """One (model, suite, world, data root) of a sweep."""

    model: str
    suite: SuiteEntry
    world: str
    data_root: str | None

    @property
    def label(self) -> str:
        """``model × suite × world`` (``@ data root`` when there is one).

        Example:
            >>> SweepCell("file:m", SuiteEntry("s"), "tiny", None).label
            'file:m × s × tiny'
        """
        where = self.world + (f" @ {self.data_root}" if self.data_root else "")
        return f"{self.model} × {self.suite.label} × {where}"


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file (see the module docstring for its schema)."""

    name: str
    models: tuple[str, ...]
    suites: tuple[SuiteEntry, ...]
    worlds: tuple[str, ...] = ("demo",)
    data_roots: tuple[str | None, ...] = (None,)
    seed: int = 0
    n_resamples: int = 1000
    batch_size: int = 64
    device: str = "cpu"
    executor: str = "serial"
    ray_address: str | None = None
    fits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def cells(self) -> list[SweepCell]:
        """Every cell, models outermost (a model's cells run one after another, its weights loaded once each).

        Example:
            >>> spec = SweepSpec("s", ("a", "b"), (SuiteEntry("x"),), worlds=("tiny", "demo"))
            >>> [cell.label for cell in spec.cells()][:2]
            ['a × x × tiny', 'a × x × demo']
        """
        return [
            SweepCell(model, suite, world, root)
            for model in self.models
            for suite in self.suites
            for world in self.worlds
            for root in self.data_roots
        ]

    @classmethod
    def from_dict(cls, raw: Any, source: str = "sweep", default_name: str = "sweep") -> SweepSpec:
        """Parse and check a sweep mapping; :class:`SweepSpecError` names the first bad field.

        Example:
            >>> SweepSpec.from_dict({"models": ["file:m"], "suites": ["s"], "worlds": ["tiny"]}).cells()[0].label
            'file:m × s × tiny'
            >>> SweepSpec.from_dict({"models": [], "suites": ["s"]})  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            robustscope.sweeps.spec.SweepSpecError: sweep: models must be a non-empty list of model specs ...
        """
        if not isinstance(raw, Mapping):
            raise SweepSpecError(f"{source}: a sweep file is a mapping with models: and suites: (see docs/scaling.md)")
        unknown = sorted(set(raw) - set(_FIELDS))
        if unknown:
            raise SweepSpecError(f"{source}: unknown field(s) {unknown}; a sweep has {', '.join(_FIELDS)}")
        models = _strings(raw.get("models"), f"{source}: models", "model specs (file:PATH, timm:NAME, …)")
        suites = tuple(_suite(entry, source) for entry in _list(raw.get("suites"), f"{source}: suites", "suites"))
        worlds = _strings(raw.get("worlds", ["demo"]), f"{source}: worlds", "world names or YAML paths")
        roots = raw.get("data_roots", [None])
        if not isinstance(roots, list) or not roots or not all(r is None or isinstance(r, str) for r in roots):
            raise SweepSpecError(f"{source}: data_roots must be a non-empty list of folders (or null)")
        executor = str(raw.get("executor", "serial"))
        if executor not in ("serial", "ray"):
            raise SweepSpecError(f"{source}: executor must be serial or ray, got {executor!r}")
        fits = raw.get("fits") or {}
        if not isinstance(fits, Mapping) or any(name not in FITS for name in fits):
            raise SweepSpecError(f"{source}: fits must map fit names ({', '.join(FITS)}) to their settings")
        for name, settings in fits.items():
            extra = sorted(set(settings or {}) - set(FITS[name]))
            if extra or not isinstance(settings or {}, Mapping):
                raise SweepSpecError(f"{source}: fits.{name} takes {', '.join(FITS[name])}, got {extra or settings}")
        return cls(
            name=str(raw.get("name") or default_name),
            models=models,
            suites=suites,
            worlds=worlds,
            data_roots=tuple(roots),
            seed=_integer(raw, "seed", 0, 0, source),
            n_resamples=_integer(raw, "n_resamples", 1000, 0, source),
            batch_size=_integer(raw, "batch_size", 64, 1, source),
            device=str(raw.get("device", "cpu")),
            executor=executor,
            ray_address=None if raw.get("ray_address") is None else str(raw["ray_address"]),
            fits={name: dict(settings or {}) for name, settings in fits.items()},
        )


def _list(value: Any, what: str, items: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise SweepSpecError(f"{what} must be a non-empty list of {items}")
    return value


def _strings(value: Any, what: str, items: str) -> tuple[str, ...]:
    values = _list(value, what, items)
    if not all(isinstance(v, str) and v for v in values):
        raise SweepSpecError(f"{what} must be a non-empty list of {items}")
    return tuple(values)


def _integer(raw: Mapping[str, Any], name: str, default: int, minimum: int, source: str) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SweepSpecError(f"{source}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def _suite(entry: Any, source: str) -> SuiteEntry:
    if isinstance(entry, str) and entry:
        return SuiteEntry(entry)
    if isinstance(entry, Mapping) and isinstance(entry.get("suite"), str) and set(entry) <= {"suite", "axes"}:
        axes = entry.get("axes")
        if axes is not None and not (isinstance(axes, list) and axes and all(isinstance(a, str) for a in axes)):
            raise SweepSpecError(f"{source}: suites: axes of {entry['suite']!r} must be a list of axis names")
        return SuiteEntry(entry["suite"], tuple(axes) if axes else None)
    raise SweepSpecError(f"{source}: suites entries are a suite name/YAML path or {{suite: NAME, axes: [...]}}, "
                         f"got {entry!r}")


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a sweep YAML file; relative ``file:`` models, suite files and data roots are resolved against its folder.

    Example:
        >>> import tempfile
        >>> sweep = Path(tempfile.mkdtemp()) / "s.yaml"
        >>> _ = sweep.write_text("models: [file:m]\\nsuites: [synthetic-clones-offline]\\nworlds: [tiny]\\n")
        >>> spec = load_sweep(sweep)
        >>> spec.name, spec.models[0] == f"file:{sweep.parent / 'm'}"
        ('s', True)
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise SweepSpecError(f"sweep file {path} does not exist; pass the path of a sweep YAML (see docs/scaling.md)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SweepSpecError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    spec = SweepSpec.from_dict(raw, source=str(path), default_name=path.stem)
    here = path.parent.resolve()

    def local(text: str | None) -> str | None:
        if text is None:
            return None
        candidate = Path(text).expanduser()
        return str(candidate if candidate.is_absolute() else here / candidate)

    models = tuple(f"file:{local(m[5:])}" if m.startswith("file:") else m for m in spec.models)
    suites = tuple(
        SuiteEntry(str(local(s.suite)), s.axes) if s.suite.endswith((".yaml", ".yml")) else s for s in spec.suites
    )
    worlds = tuple(str(local(w)) if w.endswith((".yaml", ".yml")) else w for w in spec.worlds)
    roots = tuple(local(r) for r in spec.data_roots)
    return replace(spec, models=models, suites=suites, worlds=worlds, data_roots=roots)
