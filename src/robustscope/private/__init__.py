"""Private evaluation: measure a model on data whose owner will not share it, with CrypTen (secure 2-party MPC).

A model owner (rank 0) and a data owner (rank 1) evaluate the model together while each keeps its input secret:
:func:`evaluate_private` (``robustscope.evaluate(..., private=True)``, ``robustscope run --private``) on one
machine, :func:`run_private_party` across machines. Needs the ``robustscope[private]`` extra; see
docs/private-evaluation.md for the threat model, the costs measured and the layers CrypTen supports.
"""

from robustscope.private.evaluate import evaluate_private, run_private_party
from robustscope.private.layers import UNSUPPORTED_LAYERS, check_supported_layers
from robustscope.private.protocol import PrivateEvaluationError, PrivateProtocol, UnsupportedLayerError

__all__ = [
    "UNSUPPORTED_LAYERS",
    "PrivateEvaluationError",
    "PrivateProtocol",
    "UnsupportedLayerError",
    "check_supported_layers",
    "evaluate_private",
    "run_private_party",
]
