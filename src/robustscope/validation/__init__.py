"""Known-answer validation: each axis must flag the model with its planted failure and no other (issue 19).

``robustscope validate-axes`` trains the recipes of :mod:`robustscope.train.recipes`, runs the
synthetic-clones-offline suite on each model and judges the recipes × checks matrix declared in
``validation/data/expectations.yaml``.
"""

from robustscope.validation.expectations import Check, Expectations, load_expectations
from robustscope.validation.matrix import format_matrix, validation_matrix
from robustscope.validation.run import VALIDATION_SUITE, ValidationResult, validate_axes

__all__ = [
    "VALIDATION_SUITE",
    "Check",
    "Expectations",
    "ValidationResult",
    "format_matrix",
    "load_expectations",
    "validate_axes",
    "validation_matrix",
]
