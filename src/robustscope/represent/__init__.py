"""robustscope.represent: what a backbone has learned — Lie-group operators on embeddings, self-supervised training
on the rendered world, and the representation axis's evaluations (kNN, linear probe and RankMe live in
:mod:`robustscope.metrics.representation` and :mod:`robustscope.metrics.linear_probe`)."""

from robustscope.represent.lie import LieOperator, TransformationPredictor, fit_lie_operator, lie_loss

__all__ = ["LieOperator", "TransformationPredictor", "fit_lie_operator", "lie_loss"]
