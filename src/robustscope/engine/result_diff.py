"""Compare two sets of result rows number by number: did a change of code (or of machine) move any figure?

Rows are matched on what they measure (model, dataset, shift, metric, slice, suite, axis), not on
fingerprints or prediction keys, which legitimately change when the code that computed them changes.
``robustscope results --diff OTHER.csv`` prints the summary; a refactor proves itself when the demo's
rows before and after it differ in nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from robustscope.errors import RobustscopeError

#: Columns that say *what* a row measures; together they identify it.
IDENTITY_COLUMNS = ("model", "dataset", "shift", "metric", "slice_factor", "slice_value", "suite", "axis")
#: Columns that carry the measured figure; each must match exactly (NaN equals NaN).
FIGURE_COLUMNS = ("value", "ci_low", "ci_high", "n")


@dataclass
class ResultDiff:
    """The outcome of :func:`diff_results`: rows only in one side and rows whose figures differ."""

    matched: int
    only_before: pd.DataFrame
    only_after: pd.DataFrame
    changed: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def identical(self) -> bool:
        """Whether every row exists on both sides with the same value, CI and n."""
        return self.only_before.empty and self.only_after.empty and self.changed.empty

    def summary(self) -> str:
        """One line: matched rows, rows only on one side, rows whose figures changed."""
        verdict = "identical" if self.identical else "DIFFERENT"
        return (
            f"{verdict}: {self.matched} rows matched, {len(self.changed)} with changed figures, "
            f"{len(self.only_before)} only before, {len(self.only_after)} only after"
        )


def _identity(rows: pd.DataFrame) -> pd.DataFrame:
    present = [c for c in IDENTITY_COLUMNS if c in rows.columns]
    frame = rows.copy()
    for column in present:
        frame[column] = frame[column].fillna("").astype(str)
    duplicated = frame.duplicated(subset=present, keep=False)
    if duplicated.any():
        example = frame.loc[duplicated, present].iloc[0].to_dict()
        raise RobustscopeError(
            f"{int(duplicated.sum())} result rows share what they measure, e.g. {example}; compare one export each"
        )
    return frame.set_index(present)


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    left, right = pd.to_numeric(a, errors="coerce").to_numpy(float), pd.to_numeric(b, errors="coerce").to_numpy(float)
    return (left == right) | (np.isnan(left) & np.isnan(right))


def canonical_shift_labels(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each registered shift's label in its canonical spec (``corruption:fog:3``).

    Rows written before shift specs had one grammar label corruptions ``corruption:corruption=fog,severity=3``;
    labels that are not a registered shift's spec (``summary``) are kept as they are.

    Example:
        >>> rows = pd.DataFrame({"shift": ["corruption:corruption=fog,severity=3", "summary", "none"]})
        >>> canonical_shift_labels(rows)["shift"].tolist()
        ['corruption:fog:3', 'summary', 'none']
    """
    from robustscope.shifts.registry import canonical_spec

    def canonical(label: str) -> str:
        try:
            return canonical_spec(label)
        except RobustscopeError:
            return label

    mapping = {label: canonical(str(label)) for label in rows["shift"].dropna().unique()}
    return rows.assign(shift=rows["shift"].map(lambda label: mapping.get(label, label)))


def diff_results(before: pd.DataFrame, after: pd.DataFrame, canonical_shifts: bool = True) -> ResultDiff:
    """Match rows of ``before`` and ``after`` on :data:`IDENTITY_COLUMNS` and compare :data:`FIGURE_COLUMNS` exactly.

    With ``canonical_shifts`` both sides' shift labels are first put in canonical form
    (:func:`canonical_shift_labels`), so rows written before and after the one spec grammar match.

    Example:
        >>> a = pd.DataFrame({"model": ["m", "m"], "dataset": ["d", "d"], "shift": ["none", "fog"],
        ...                   "metric": ["top1", "top1"], "value": [0.5, 0.25], "n": [4, 4]})
        >>> b = a.assign(value=[0.5, 0.5])
        >>> diff = diff_results(a, b)
        >>> diff.summary()
        'DIFFERENT: 2 rows matched, 1 with changed figures, 0 only before, 0 only after'
        >>> diff_results(a, a).identical
        True
    """
    if canonical_shifts and "shift" in before.columns and "shift" in after.columns:
        before, after = canonical_shift_labels(before), canonical_shift_labels(after)
    left, right = _identity(before), _identity(after)
    common = left.index.intersection(right.index)
    left_common, right_common = left.loc[common], right.loc[common]
    same = np.ones(len(common), dtype=bool)
    for column in FIGURE_COLUMNS:
        if column in left.columns and column in right.columns:
            same &= _same(left_common[column], right_common[column])
    figures = [c for c in FIGURE_COLUMNS if c in left.columns and c in right.columns]
    changed = left_common.loc[~same, figures].join(right_common.loc[~same, figures].add_suffix("_after"))
    return ResultDiff(
        matched=len(common),
        only_before=left.loc[left.index.difference(right.index)].reset_index(),
        only_after=right.loc[right.index.difference(left.index)].reset_index(),
        changed=changed.reset_index(),
    )
