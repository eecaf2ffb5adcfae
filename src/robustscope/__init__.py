"""robustscope: how robust are vision models when the world shifts, why they fail, what fixes it.

The Python API mirrors the CLI::

    import robustscope
    model = robustscope.load_model("timm:resnet18")
    data = robustscope.load_dataset("folder:/data/imagenet/val")
    table = robustscope.evaluate(model, data, metrics=["top1", "ece"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from robustscope.api import compare, evaluate, load_dataset, load_model
    from robustscope.data.base import Dataset
    from robustscope.models.base import Model
    from robustscope.models.preprocessing import Preprocessing
    from robustscope.shifts.registry import load_shift

_LAZY = {
    "Model": "robustscope.models.base",
    "Preprocessing": "robustscope.models.preprocessing",
    "Dataset": "robustscope.data.base",
    "load_model": "robustscope.api",
    "load_dataset": "robustscope.api",
    "evaluate": "robustscope.api",
    "compare": "robustscope.api",
    "load_shift": "robustscope.shifts.registry",
}

__all__ = [
    "Dataset",
    "Model",
    "Preprocessing",
    "__version__",
    "compare",
    "evaluate",
    "load_dataset",
    "load_model",
    "load_shift",
]


def __getattr__(name: str) -> Any:
    # Lazy so that `import robustscope` stays fast and pulls in torch only when needed.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'robustscope' has no attribute {name!r}")
