"""The inputs of a view: :class:`ViewInputs`, and the score histograms the OOD view draws."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from robustscope.metrics.classification import ReliabilityCurve
from robustscope.report.kit.charts import Figures, Palette

__all__ = ["HEADLINE_OOD_SCORE", "ScoreHistogram", "ViewInputs", "score_histogram"]


@dataclass(frozen=True)
class ScoreHistogram:
    """Histograms (densities over shared bins) of the ID and OOD scores of one model and OOD set.

    Built by :func:`score_histogram` (from stored predictions: :mod:`robustscope.report.from_store`), drawn
    by the OOD view; the page then holds the bin densities, not every score.

    Example:
        >>> h = score_histogram("m", "id", "ood", np.array([0.0, 1.0]), np.array([0.0]), bins=2)
        >>> h.bin_edges.tolist(), h.id_density.tolist(), h.ood_density.tolist()
        ([0.0, 0.5, 1.0], [1.0, 1.0], [2.0, 0.0])
    """

    model: str
    id_dataset: str
    ood_dataset: str
    score: str
    bin_edges: np.ndarray
    id_density: np.ndarray
    ood_density: np.ndarray
    n_id: int
    n_ood: int


#: The score whose histograms the OOD view draws (the seed benchmark's choice).
HEADLINE_OOD_SCORE = "entropy"


def score_histogram(
    model: str,
    id_dataset: str,
    ood_dataset: str,
    id_scores: np.ndarray,
    ood_scores: np.ndarray,
    score: str = HEADLINE_OOD_SCORE,
    bins: int = 40,
) -> ScoreHistogram:
    """Bin ID and OOD scores over the same edges (densities, so sets of different sizes compare).

    Non-finite scores are dropped.

    Example:
        >>> h = score_histogram("m", "test", "far", np.array([-0.1, -0.2, -0.1]), np.array([-1.5, -1.0]), bins=4)
        >>> h.n_id, h.n_ood, len(h.bin_edges)
        (3, 2, 5)
    """
    id_s = np.asarray(id_scores, dtype=np.float64).ravel()
    ood_s = np.asarray(ood_scores, dtype=np.float64).ravel()
    id_s, ood_s = id_s[np.isfinite(id_s)], ood_s[np.isfinite(ood_s)]
    both = np.concatenate([id_s, ood_s])
    edges = np.histogram_bin_edges(both if both.size else np.zeros(1), bins=bins)

    def density(values: np.ndarray) -> np.ndarray:
        if not values.size:
            return np.zeros(edges.size - 1)
        return np.histogram(values, bins=edges, density=True)[0]

    return ScoreHistogram(
        model, id_dataset, ood_dataset, score, edges, density(id_s), density(ood_s), int(id_s.size), int(ood_s.size)
    )


@dataclass(frozen=True, eq=False)  # eq=False: comparing frames has no single truth value
class ViewInputs:
    """What an axis view draws: the axis's rows of one suite, the page's figures and palette, and precomputed data.

    ``rows`` are prepared result rows (strings in ``model``, ``dataset``, ``shift``, ``metric``, ``slice_*``).
    ``reliability`` (``(model, dataset, shift, curve)``) and ``histograms`` are everything the page was given;
    a view keeps those of its own rows (the calibration and OOD views use them, the others ignore them).

    Example:
        >>> inputs = ViewInputs(pd.DataFrame({"model": ["m"]}), Figures(), Palette(["m"]))
        >>> inputs.reliability, inputs.histograms
        ((), ())
    """

    rows: pd.DataFrame
    figures: Figures
    palette: Palette
    reliability: Sequence[tuple[str, str, str, ReliabilityCurve]] = ()
    histograms: Sequence[ScoreHistogram] = ()
