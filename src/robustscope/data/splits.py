"""Factor-held-out splits: train on some values of a factor of variation, test on the others.

The protocol of PUG's out-of-distribution experiments (Bordes et al., "PUG: Photorealistic and Semantically
Controllable Synthetic Data for Representation Learning", NeurIPS 2023 Datasets and Benchmarks): a factor
(the background ``world_name``, the ``character_texture``, the size, a pose angle) has some values seen in
training and the others held out for testing, so a model's test accuracy measures generalisation to unseen
values of that factor. The functions work on any manifest with the factor as a column: the PUG releases
(:mod:`robustscope.data.benchmarks.pug`), a ``csv:`` manifest, and the synthetic world's ``labels.csv``
(``synth:WORLD:SPLIT``), which writes the same PUG columns; one code path for all of them.

A held-out specification is a list of values (compared as text, and as numbers when both sides are
numbers: ``90`` matches ``"90.0"``) or, for a continuous factor, ``{"range": [low, high]}`` (closed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from robustscope.data.base import Dataset
from robustscope.errors import SpecError

__all__ = ["FactorSplit", "HeldOut", "choose_held_out", "factor_held_out_split", "held_out_mask"]

#: Held-out values of a factor: a list of values, or ``{"range": [low, high]}`` for a numeric factor.
HeldOut = Sequence[Any] | Mapping[str, Sequence[float]]


def _as_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def held_out_mask(values: pd.Series | Sequence[Any], held_out: HeldOut) -> np.ndarray:
    """``True`` where a value is held out: one of the listed values, or inside ``{"range": [low, high]}``.

    Values match as text or, when both are numbers, numerically (``90`` matches ``"90.0"``). Missing values
    are never held out.

    Example:
        >>> held_out_mask(pd.Series(["Desert", "Forest", "Lake"]), ["Forest"]).tolist()
        [False, True, False]
        >>> held_out_mask(pd.Series(["0.0", "90.0", "Default"]), [90]).tolist()
        [False, True, False]
        >>> held_out_mask(pd.Series([10.0, 75.5, 200.0]), {"range": [60, 180]}).tolist()
        [False, True, False]
    """
    column = pd.Series(list(values), dtype=object)
    present = column.notna().to_numpy() & (column.astype(str) != "").to_numpy()
    if isinstance(held_out, Mapping):
        bounds = held_out.get("range")
        if set(held_out) != {"range"} or bounds is None or len(bounds) != 2:
            raise SpecError(f"held-out {dict(held_out)!r}: write a list of values or {{'range': [low, high]}}")
        low, high = (float(b) for b in bounds)
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            return present & (numbers >= low) & (numbers <= high)
    if isinstance(held_out, (str, bytes)) or not isinstance(held_out, Sequence):
        raise SpecError(f"held-out values {held_out!r}: give a list of values or {{'range': [low, high]}}")
    texts = {str(v) for v in held_out}
    numbers = {n for n in (_as_number(v) for v in held_out) if n is not None}
    out = np.zeros(len(column), dtype=bool)
    for i, value in enumerate(column):
        if not present[i]:
            continue
        number = _as_number(value)
        out[i] = str(value) in texts or (number is not None and number in numbers)
    return out


@dataclass(frozen=True)
class FactorSplit:
    """A factor-held-out split: ``train`` has only seen values of ``factor``, ``test`` only held-out ones.

    ``train`` and ``test`` are :class:`~robustscope.data.base.Dataset` objects (or DataFrames, when the
    split was made from a DataFrame); ``seen`` and ``held_out`` list the factor's values on each side.
    """

    factor: str
    train: Any
    test: Any
    seen: list[str]
    held_out: list[str]


def factor_held_out_split(data: Dataset | pd.DataFrame, factor: str, held_out: HeldOut) -> FactorSplit:
    """Split a manifest by a factor: rows with a held-out value form ``test``, the others ``train``.

    Bordes et al. (NeurIPS 2023) train on some values of a PUG factor and test on the rest. Every row lands
    in exactly one side; rows whose factor is missing go to ``train`` (they show no held-out value). The
    same function splits a PUG release, a ``csv:`` manifest and a synthetic world's ``labels.csv``.

    Args:
        data: a :class:`Dataset` (both sides share its root, classes and metadata) or a manifest DataFrame.
        factor: the column to split on (``world_name``, ``character_texture``, ``character_rotation_yaw``…).
        held_out: the test values, or ``{"range": [low, high]}`` (see :func:`held_out_mask`).

    Example:
        >>> frame = pd.DataFrame({"sample_id": list("abcd"), "path": list("abcd"), "label": [0, 1, 0, 1],
        ...                       "world_name": ["Desert", "Forest", "Lake", "Forest"]})
        >>> split = factor_held_out_split(Dataset("d", ".", ["x", "y"], frame), "world_name", ["Forest"])
        >>> split.train.manifest["sample_id"].tolist(), split.test.manifest["sample_id"].tolist()
        (['a', 'c'], ['b', 'd'])
        >>> split.seen, split.held_out
        (['Desert', 'Lake'], ['Forest'])
    """
    frame = data.manifest if isinstance(data, Dataset) else data
    if factor not in frame.columns:
        columns = [c for c in frame.columns if c not in ("sample_id", "path", "label")]
        raise SpecError(f"no factor {factor!r} to hold out; the manifest's factors are {columns}")
    mask = held_out_mask(frame[factor], held_out)
    values = frame[factor].astype(str)
    seen = sorted(set(values[~mask]) - {"", "nan", "None"})
    held = sorted(set(values[mask]))
    if isinstance(data, Dataset):
        tag = f"{factor} held out: {held}" if len(held) <= 4 else f"{factor} held out: {len(held)} values"
        train = data.subset(pd.Series(~mask, index=frame.index), name=f"{data.name}[train, {tag}]")
        test = data.subset(pd.Series(mask, index=frame.index), name=f"{data.name}[test, {tag}]")
        for side, role in ((train, "train"), (test, "test")):
            side.metadata["held_out"] = {"factor": factor, "values": held, "side": role}
    else:
        train, test = frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)
    return FactorSplit(factor, train, test, seen, held)


def choose_held_out(data: Dataset | pd.DataFrame, factor: str, n: int, seed: int = 0) -> list[str]:
    """``n`` values of ``factor`` drawn at random (seeded) to hold out, sorted.

    Example:
        >>> frame = pd.DataFrame({"world_name": ["A", "B", "C", "D", "A"]})
        >>> choose_held_out(frame, "world_name", 2, seed=0) == choose_held_out(frame, "world_name", 2, seed=0)
        True
        >>> len(choose_held_out(frame, "world_name", 2))
        2
    """
    frame = data.manifest if isinstance(data, Dataset) else data
    values = sorted(set(frame[factor].astype(str)) - {"", "nan", "None"})
    if not 0 < n < len(values):
        raise SpecError(f"cannot hold out {n} of the {len(values)} values of {factor!r}: keep at least one seen")
    rng = np.random.default_rng(seed)
    return sorted(str(v) for v in rng.choice(np.array(values, dtype=object), size=n, replace=False))
