"""World specs: a declarative description of which factor values a synthetic world draws from.

A spec names the shape classes, and for each factor either a list of ``values`` (categorical or
numeric), a ``range: [low, high]`` (continuous), or a single constant. A factor can be tied to the
class (``tie_to_class: {cube: [stripes]}``, with ``tie_prob``) to build exact correlations. Samples are
drawn at random with a seed (``sampling: random``, ``n`` samples, classes balanced) or as the full
grid over the listed values (``sampling: grid``; a range becomes ``steps`` evenly spaced values).
Named ``splits`` share the top-level defaults and override fields or whole factors. The factors, their
defaults and how one factor's value is drawn are in :mod:`robustscope.synth.factors`.

Example YAML::

    name: toy
    classes: [sphere, cube]
    resolution: 32
    factors:
      texture: {values: [plain, stripes], tie_to_class: {cube: [stripes]}, tie_prob: 0.9}
      yaw: {range: [-30, 30]}
      background: [sky, sunset]
    splits:
      train: {n: 100, seed: 1}
      test-pose: {n: 20, seed: 2, factors: {yaw: {range: [-180, 180]}}}
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robustscope.errors import SpecError, UnknownNameError
from robustscope.registry import suggest
from robustscope.synth.factors import (
    CATEGORICAL_FACTORS,
    FACTOR_NAMES,
    GROUP_FACTORS,
    NUMERIC_FACTORS,
    Factor,
    house_id,
    parse_factor,
    spec_error,
)
from robustscope.synth.meshes import SHAPES

_TOP_FIELDS = ("name", "description", "classes", "n", "seed", "sampling", "resolution", "spp", "factors", "splits")
_SPLIT_FIELDS = ("description", "classes", "n", "seed", "sampling", "resolution", "spp", "factors")


#: World and split names become folder names in the render cache: plain names only, so that none
#: (``../x``, ``/tmp/x``, ``.hidden``) can point outside it.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def _check_plain_name(where: str, name: str, what: str) -> None:
    if not _PLAIN_NAME.fullmatch(name):
        raise spec_error(
            where,
            f"{what} {name!r} is not a plain name; use letters, digits, '_' and '-' only (no '/', '.' or spaces): "
            "renders are cached in a folder named after it",
        )


def _int_field(raw: dict[str, Any], key: str, default: int, where: str, low: int = 0) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise spec_error(f"{where}.{key}", f"must be an integer >= {low}, got {value!r}")
    return value


@dataclass
class WorldSpec:
    """A synthetic world: shape classes, factor distributions, image settings and named splits.

    ``splits`` holds each split's raw overrides; :meth:`resolve` gives the spec of one split. A
    resolved spec has no splits and records its split name in ``split``.

    Example:
        >>> spec = WorldSpec.from_dict({"name": "toy", "classes": ["sphere", "cube"], "n": 4,
        ...                             "factors": {"yaw": {"range": [-30, 30]}},
        ...                             "splits": {"train": {"seed": 1}, "test": {"seed": 2}}})
        >>> spec.split_names()
        ['train', 'test']
        >>> [s["character_label"] for s in spec.resolve("train").samples()]  # doctest: +SKIP
        ['cube', 'sphere', 'sphere', 'cube']
    """

    name: str
    classes: list[str]
    factors: dict[str, Factor] = field(default_factory=dict)
    n: int = 100
    seed: int = 0
    sampling: str = "random"
    resolution: int = 64
    spp: int = 16
    description: str = ""
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    split: str | None = None

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "world spec") -> WorldSpec:
        """Validate a plain dict (as read from YAML); raise :class:`SpecError` naming the bad field.

        Example:
            >>> WorldSpec.from_dict({"name": "w", "classes": ["cube"]}).classes
            ['cube']
        """
        if not isinstance(raw, dict):
            raise spec_error(source, "a world spec must be a mapping")
        unknown = [k for k in raw if k not in (*_TOP_FIELDS, "split")]
        if unknown:
            hint = suggest(unknown[0], _TOP_FIELDS)
            raise spec_error(
                f"{source}: field {unknown[0]!r}",
                "unknown field" + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(_TOP_FIELDS)}"),
            )
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise spec_error(f"{source}.name", "a world needs a non-empty string name")
        _check_plain_name(f"{source}.name", name, "world name")
        where = f"world {name}"
        spec = cls._parse_body(raw, where, name)
        splits = raw.get("splits") or {}
        if not isinstance(splits, dict):
            raise spec_error(f"{where}.splits", "must map split names to overrides")
        for split_name, override in splits.items():
            at = f"{where}.splits.{split_name}"
            _check_plain_name(at, str(split_name), "split name")
            override = override or {}
            if not isinstance(override, dict):
                raise spec_error(at, "must be a mapping of overrides")
            bad = [k for k in override if k not in _SPLIT_FIELDS]
            if bad:
                hint = suggest(bad[0], _SPLIT_FIELDS)
                raise spec_error(
                    f"{at}.{bad[0]}",
                    "not a field a split can override" + (f"; did you mean {hint[0]!r}?" if hint else ""),
                )
            # Validate now, so a bad split fails when the spec is loaded, not when it is rendered.
            cls._parse_body(_merge(raw, override), at, name)
            spec.splits[str(split_name)] = copy.deepcopy(override)
        spec.split = raw.get("split")
        if spec.split is not None:
            _check_plain_name(f"{source}.split", str(spec.split), "split name")
        return spec

    @classmethod
    def _parse_body(cls, raw: dict[str, Any], where: str, name: str) -> WorldSpec:
        classes = raw.get("classes")
        if not isinstance(classes, (list, tuple)) or not classes:
            raise spec_error(f"{where}.classes", "must be a non-empty list of shape names")
        for c in classes:
            if c not in SHAPES:
                hint = suggest(str(c), SHAPES)
                raise spec_error(
                    f"{where}.classes",
                    f"unknown shape {c!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else f"; known: {', '.join(SHAPES)}"),
                )
        if len(set(classes)) != len(classes):
            raise spec_error(f"{where}.classes", "lists a class twice")
        sampling = raw.get("sampling", "random")
        if sampling not in ("random", "grid"):
            raise spec_error(f"{where}.sampling", f"must be 'random' or 'grid', got {sampling!r}")
        factors_raw = raw.get("factors") or {}
        if not isinstance(factors_raw, dict):
            raise spec_error(f"{where}.factors", "must map factor names to values/ranges")
        factors = {k: parse_factor(str(k), v, list(classes), f"{where}.factors.{k}") for k, v in factors_raw.items()}
        description = raw.get("description", "")
        return cls(
            name=name,
            classes=list(classes),
            factors=factors,
            n=_int_field(raw, "n", 100, where, low=1),
            seed=_int_field(raw, "seed", 0, where),
            sampling=sampling,
            resolution=_int_field(raw, "resolution", 64, where, low=8),
            spp=_int_field(raw, "spp", 16, where, low=1),
            description=str(description),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> WorldSpec:
        """Read a spec from a YAML file."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise SpecError(f"{path}: not valid YAML: {err}") from None
        return cls.from_dict(raw, source=str(path))

    # -- splits -------------------------------------------------------------------------------

    def split_names(self) -> list[str]:
        """Names of the spec's splits, in file order (empty when the spec is a single split)."""
        return list(self.splits)

    def resolve(self, split: str | None = None) -> WorldSpec:
        """The spec of one split: top-level defaults with the split's overrides applied.

        With ``split=None`` a spec without splits (or an already resolved one) is returned as is.

        Example:
            >>> spec = load_spec("tiny")
            >>> spec.resolve("test-pose").split
            'test-pose'
        """
        if split is None or (not self.splits and self.split == split):
            if self.splits and split is None:
                raise SpecError(f"world {self.name} has splits {self.split_names()}: choose one")
            return self
        if split not in self.splits:
            raise UnknownNameError(
                f"split of world {self.name}", split, suggest(split, self.splits), self.split_names()
            )
        raw = _merge(self._base_dict(), self.splits[split])
        resolved = type(self)._parse_body(raw, f"world {self.name}.splits.{split}", self.name)
        resolved.split = split
        return resolved

    def _base_dict(self) -> dict[str, Any]:
        out = self.to_dict()
        out.pop("splits", None)
        out.pop("split", None)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The spec as a plain, YAML/JSON-able dict (loads back with :meth:`from_dict`)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "classes": list(self.classes),
            "n": self.n,
            "seed": self.seed,
            "sampling": self.sampling,
            "resolution": self.resolution,
            "spp": self.spp,
            "factors": {k: f.to_dict() for k, f in self.factors.items()},
        }
        if self.splits:
            out["splits"] = copy.deepcopy(self.splits)
        if self.split is not None:
            out["split"] = self.split
        return out

    def fingerprint(self, extra: str = "") -> str:
        """Short hash of the (resolved) spec plus ``extra`` (e.g. a renderer version)."""
        blob = json.dumps(self.to_dict(), sort_keys=True) + extra
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    # -- sampling -----------------------------------------------------------------------------

    def factor(self, name: str) -> Factor:
        """The factor ``name``, or its default constant when the spec does not list it."""
        if name in self.factors:
            return self.factors[name]
        default = NUMERIC_FACTORS.get(name, CATEGORICAL_FACTORS.get(name))
        return Factor(name, values=[default])

    def samples(self) -> list[dict[str, Any]]:
        """Factor values of every image of this (resolved) spec, in render order.

        Each record has ``index``, ``character_label`` (class) and one key per factor (group factors only when
        the spec declares them; ``house`` as :func:`~robustscope.synth.factors.house_id`). Random sampling
        balances classes exactly (up to ``n % len(classes)``).

        Example:
            >>> spec = WorldSpec.from_dict({"name": "w", "classes": ["cube", "sphere"], "n": 4, "seed": 3})
            >>> sorted(s["character_label"] for s in spec.samples())
            ['cube', 'cube', 'sphere', 'sphere']
        """
        if self.splits:
            raise SpecError(f"world {self.name} has splits {self.split_names()}: resolve one first")
        # Group factors first (rendered factors may follow them), and only those declared: a world without them
        # draws the same random numbers as before they existed.
        groups = [self.factors[name] for name in GROUP_FACTORS if name in self.factors]
        factors = [*groups, *(self.factor(name) for name in FACTOR_NAMES)]
        records: list[dict[str, Any]] = []
        if self.sampling == "grid":
            if groups or any(f.follows for f in factors):
                raise SpecError(f"world {self.name}: group factors and 'follows' need sampling: random")
            for cls in self.classes:
                for combo in itertools.product(*(f.grid_values(cls) for f in factors)):
                    records.append({"character_label": cls, **dict(zip(FACTOR_NAMES, combo, strict=True))})
        else:
            rng = np.random.default_rng(self.seed)
            labels = np.array([self.classes[i % len(self.classes)] for i in range(self.n)])
            labels = labels[rng.permutation(self.n)]
            for cls in labels:
                cls = str(cls)
                record: dict[str, Any] = {"character_label": cls}
                for f in factors:  # in draw order, so a following factor sees its leader
                    record[f.name] = f.sample(cls, rng, record)
                if "house" in record:
                    record["house"] = house_id(record)
                records.append(record)
        for i, record in enumerate(records):
            record["index"] = i
            # Rounded once here so labels.csv states exactly the values that were rendered.
            for name in NUMERIC_FACTORS:
                record[name] = round(float(record[name]), 4)
        return records


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Split overrides on top of the defaults; a factor given in a split replaces the default one."""
    out = copy.deepcopy(base)
    out.pop("splits", None)
    for key, value in override.items():
        if key == "factors":
            factors = dict(out.get("factors") or {})
            factors.update(copy.deepcopy(value or {}))
            out["factors"] = factors
        else:
            out[key] = copy.deepcopy(value)
    return out


def builtin_worlds() -> list[str]:
    """Names of the worlds shipped with robustscope.

    Example:
        >>> "demo" in builtin_worlds()
        True
    """
    folder = resources.files("robustscope.synth") / "worlds"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_spec(name_or_path: str | Path) -> WorldSpec:
    """Load a world spec from a YAML file or by the name of a built-in world.

    Unknown names raise :class:`UnknownNameError` with near misses; bad fields raise :class:`SpecError`.

    Example:
        >>> load_spec("demo").split_names()[:2]
        ['train-narrow', 'train-diverse']
    """
    if isinstance(name_or_path, WorldSpec):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise UnknownNameError("world spec file", text, [], None)
        return WorldSpec.from_yaml(path)
    known = builtin_worlds()
    if text not in known:
        raise UnknownNameError("world", text, suggest(text, known), known)
    folder = resources.files("robustscope.synth") / "worlds"
    raw = yaml.safe_load((folder / f"{text}.yaml").read_text())
    return WorldSpec.from_dict(raw, source=f"built-in world {text}")
