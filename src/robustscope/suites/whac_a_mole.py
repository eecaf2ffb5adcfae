"""The Whac-A-Mole matrix: each mitigation's effect on every shortcut at once, against the same base.

Li et al. ("A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One Amplifies Others", CVPR 2023,
Tables 2-4) tabulate, per method, the UrbanCars BG gap, CoObj gap and BG+CoObj gap with the I.D. accuracy and
worst-group accuracy (and the ImageNet-W gap on ImageNet): mitigating one shortcut can widen another. Here the
rows are the base model and each mitigated model, the columns the shortcuts axis's gaps (and the watermark's
IN-W gap where the suite measures it); each cell carries the model's value with the axis's own CI and, for a
mitigated model, its change against the base with the paired CI of :mod:`robustscope.suites.before_after`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from robustscope.suites.before_after import BeforeAfter, before_after

if TYPE_CHECKING:
    from robustscope.config import Workspace
    from robustscope.models.base import Model
    from robustscope.suites.spec import SuiteSpec

__all__ = ["WHAC_A_MOLE_COLUMNS", "WhacAMoleMatrix", "whac_a_mole_from_tables", "whac_a_mole_matrix"]

#: (metric, shift kind, column label) of the matrix, in the paper's order; columns without rows are left out.
WHAC_A_MOLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bg_gap", "none", "BG gap"),
    ("coobj_gap", "none", "CoObj gap"),
    ("bg_coobj_gap", "none", "BG+CoObj gap"),
    ("in_w_gap", "watermark", "IN-W gap"),
    ("worst_group_acc", "none", "worst group"),
    ("id_acc", "none", "I.D. acc"),
)
_ENTRY_COLUMNS = ("model", "method", "dataset", "column", "value", "ci_low", "ci_high", "change", "change_ci_low",
                  "change_ci_high", "p_value", "paired")  # fmt: skip


@dataclass
class WhacAMoleMatrix:
    """Rows: the base and each mitigated model; columns: each shortcut's gap (:data:`WHAC_A_MOLE_COLUMNS`).

    ``entries`` is long: one row per (model, dataset, column) with the model's ``value`` and its own CI, and for
    mitigated models the paired ``change`` against the base with its CI and p-value (NaN for the base).

    Example:
        >>> entries = pd.DataFrame([["erm", "", "d", "BG gap", -0.3, -0.35, -0.25] + [np.nan] * 4 + [False],
        ...     ["dfr", "dfr", "d", "BG gap", -0.1, -0.15, -0.05, 0.2, 0.15, 0.25, 0.001, True]],
        ...     columns=list(_ENTRY_COLUMNS))
        >>> WhacAMoleMatrix("erm", entries).wide()["BG gap"].tolist()
        ['-0.300 [-0.350, -0.250]', '-0.100 [-0.150, -0.050]; Δ +0.200 [+0.150, +0.250]']
    """

    base: str
    entries: pd.DataFrame

    def wide(self) -> pd.DataFrame:
        """One row per model, one text column per shortcut: ``value [CI]`` and ``Δ change [paired CI]``.

        With several UrbanCars sets a column is named ``label · dataset``.
        """
        if self.entries.empty:
            return pd.DataFrame(columns=["model"])
        several = self.entries.groupby("column")["dataset"].nunique().max() > 1
        out: dict[str, dict[str, str]] = {}
        for e in self.entries.itertuples(index=False):
            label = f"{e.column} · {e.dataset}" if several else str(e.column)
            text = f"{e.value:.3f} [{e.ci_low:.3f}, {e.ci_high:.3f}]"
            if np.isfinite(e.change):
                text += f"; Δ {e.change:+.3f}"
                text += f" [{e.change_ci_low:+.3f}, {e.change_ci_high:+.3f}]" if e.paired else " (not paired)"
            out.setdefault(str(e.model), {})[label] = text
        frame = pd.DataFrame.from_dict(out, orient="index")
        frame.index.name = "model"
        return frame.reset_index()


def _column_rows(table: pd.DataFrame, metric: str, kind: str) -> pd.DataFrame:
    kinds = table["shift"].astype(str).str.split(":").str[0]
    return table[(table.metric == metric) & (kinds == kind) & (table.axis == "shortcuts")]


def whac_a_mole_from_tables(tables: Sequence[BeforeAfter]) -> WhacAMoleMatrix:
    """The matrix from before/after tables of mitigations of one base (the base's values come from the first).

    Example:
        >>> whac_a_mole_from_tables([]).entries.empty
        True
    """
    if not tables:
        return WhacAMoleMatrix("", pd.DataFrame(columns=list(_ENTRY_COLUMNS)))
    bases = {t.base_fingerprint or t.base for t in tables}
    if len(bases) > 1:
        raise ValueError(f"a Whac-A-Mole matrix compares mitigations of one base; got {len(bases)} bases")
    records: list[dict[str, Any]] = []
    for metric, kind, label in WHAC_A_MOLE_COLUMNS:
        first = _column_rows(tables[0].table, metric, kind)
        for row in first.itertuples(index=False):
            records.append({"model": tables[0].base, "method": "", "dataset": row.dataset, "column": label,
                            "value": row.before, "ci_low": row.before_ci_low, "ci_high": row.before_ci_high,
                            "change": np.nan, "change_ci_low": np.nan, "change_ci_high": np.nan, "p_value": np.nan,
                            "paired": False})  # fmt: skip
        for t in tables:
            for row in _column_rows(t.table, metric, kind).itertuples(index=False):
                records.append({"model": t.mitigated, "method": t.method, "dataset": row.dataset, "column": label,
                                "value": row.after, "ci_low": row.after_ci_low, "ci_high": row.after_ci_high,
                                "change": row.difference, "change_ci_low": row.ci_low, "change_ci_high": row.ci_high,
                                "p_value": row.p_value, "paired": bool(row.paired)})  # fmt: skip
    entries = pd.DataFrame(records, columns=list(_ENTRY_COLUMNS))
    order = {name: i for i, name in enumerate([tables[0].base] + [t.mitigated for t in tables])}
    entries = entries.sort_values("model", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    return WhacAMoleMatrix(tables[0].base, entries)


def whac_a_mole_matrix(
    base: str | Model,
    mitigated: Sequence[str | Model],
    suite: str | SuiteSpec = "shortcuts-offline",
    world: str = "demo",
    data_root: str | Path | None = None,
    store: str | Path | Workspace | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    progress: bool = True,
    **options: Any,
) -> WhacAMoleMatrix:
    """The Whac-A-Mole matrix of ``mitigated`` models against ``base`` on a suite with the shortcuts axis.

    Each mitigated model is compared with the base by :func:`~robustscope.suites.before_after.before_after` (which
    runs the suite for a model without rows, and otherwise reads stored predictions).

    Example:
        >>> matrix = whac_a_mole_matrix("file:models/erm", ["file:models/dfr", "file:models/lle"],
        ...                             world="tiny")  # doctest: +SKIP
        >>> matrix.wide()  # doctest: +SKIP
    """
    from robustscope.config import Workspace, workspace
    from robustscope.models.registry import load_model

    ws = store if isinstance(store, Workspace) else workspace(store)
    base_model = load_model(base) if isinstance(base, str) else base
    tables = [
        before_after(base_model, m, suite, world, data_root, ws, n_resamples, seed, progress, **options)
        for m in mitigated
    ]
    return whac_a_mole_from_tables(tables)
