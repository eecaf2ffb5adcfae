"""Two models' predictions on the same samples, put in one order: what every paired comparison starts from.

:func:`robustscope.api.compare` (one metric, one dataset) and the before/after table of a mitigation
(:mod:`robustscope.suites.before_after`, every axis of a suite) both resample *images*, jointly for the two
models; that needs row ``i`` of both prediction sets to be the same image and column ``j`` the same class.
"""

from __future__ import annotations

import numpy as np

from robustscope.engine.predictions import Predictions
from robustscope.errors import LabelSpaceError, MissingDataError

__all__ = ["align_predictions"]


def align_predictions(a: Predictions, b: Predictions) -> tuple[Predictions, Predictions]:
    """``(a, b')``: ``b`` with its samples in ``a``'s order and its logit columns in ``a``'s class order (by name).

    Raises :class:`~robustscope.errors.MissingDataError` when the two sets cover different samples and
    :class:`~robustscope.errors.LabelSpaceError` when the models score different classes or disagree on a
    sample's true label.

    Example:
        >>> import pandas as pd
        >>> a = Predictions(np.array(["x", "y"]), np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]),
        ...                 pd.DataFrame(index=range(2)), ["cat", "dog"])
        >>> b = Predictions(np.array(["y", "x"]), np.array([[5.0, 0.0], [0.0, 3.0]]), np.array([0, 1]),
        ...                 pd.DataFrame(index=range(2)), ["dog", "cat"])
        >>> align_predictions(a, b)[1].logits.tolist()  # x first, cat first
        [[3.0, 0.0], [0.0, 5.0]]
    """
    if sorted(map(str, a.sample_ids)) != sorted(map(str, b.sample_ids)):
        only = sorted(set(map(str, a.sample_ids)) ^ set(map(str, b.sample_ids)))
        raise MissingDataError(
            f"the two models' predictions cover different samples (e.g. {only[:3]}); a paired comparison needs "
            "the same images: rerun both on the same dataset with the same bad-image policy"
        )
    if set(a.class_names) != set(b.class_names) or len(set(b.class_names)) != len(b.class_names):
        raise LabelSpaceError(
            "a paired comparison needs both models to score the same classes; "
            f"A has {len(a.class_names)}, B {len(b.class_names)}, {len(set(a.class_names) & set(b.class_names))} shared"
        )
    row_of = {str(s): i for i, s in enumerate(b.sample_ids)}
    rows = np.array([row_of[str(s)] for s in a.sample_ids], dtype=np.int64)
    column_of = {name: j for j, name in enumerate(b.class_names)}
    columns = np.array([column_of[name] for name in a.class_names], dtype=np.int64)
    index_in_a = {name: j for j, name in enumerate(a.class_names)}
    b_to_a = np.array([index_in_a[name] for name in b.class_names] + [-1])  # b's label -1 stays -1
    labels_b = b_to_a[b.labels[rows]]
    if not np.array_equal(labels_b, a.labels):
        raise LabelSpaceError(
            "the two models' predictions disagree on the true labels of the same samples: their label lists map the "
            "dataset's classes differently; check both models' labels"
        )
    aligned_b = Predictions(a.sample_ids, b.logits[rows][:, columns], a.labels, a.factors, list(a.class_names))
    return a, aligned_b
