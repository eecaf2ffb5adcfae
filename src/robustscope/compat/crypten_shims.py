"""Make CrypTen 0.4.1 (2022, the latest on PyPI) run on today's torch, without forking it.

CrypTen (facebookresearch/CrypTen, secure multi-party computation for PyTorch) backs
``robustscope.evaluate(..., private=True)`` (the ``robustscope[private]`` extra). Four frictions, found by
running it on torch 2.14 and fixed here without touching the installed package:

- **Import**: ``crypten.nn.onnx_converter`` imports ``torch.onnx.symbolic_registry`` (torch < 1.13) or else
  ``torch.onnx._internal.registration`` (torch 1.13–2.8); torch 2.9 moved that module to
  ``torch.onnx._internal.torchscript_exporter.registration``, so ``import crypten`` fails. The shim registers
  the moved module under its old name in ``sys.modules`` (crypten only needs the import to succeed: it then
  registers its symbolics through the public ``torch.onnx.register_custom_op_symbolic``).
- **Export**: ``crypten.nn.from_pytorch`` calls ``torch.onnx.export`` with TorchScript-exporter arguments
  (``operator_export_type``, custom symbolics); since torch 2.9 the default is the dynamo exporter, which
  ignores both and emits ops CrypTen cannot read. The shim replaces its ``_export_pytorch_model`` with the
  same call plus ``dynamo=False`` (and keeps the legacy exporter's deprecation warning out of the output).
- **Identity**: the TorchScript exporter emits an ONNX ``Identity`` node where a graph output is its input
  unchanged (a network that ends in ``nn.Identity()``, or is one); CrypTen's converter has no ``Identity``
  module and raises "CrypTen does not support ONNX op Identity". The shim adds one to ``crypten.nn.module``,
  where the converter looks ops up by name.
- **Install**: crypten requires the deprecated ``sklearn`` PyPI package, whose install fails on purpose unless
  ``SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True`` is set (crypten never imports it). The Makefile's
  setup sets it; install the extra by hand with
  ``SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL=True pip install "robustscope[private]"``.

Only :func:`load_crypten` applies the shims (idempotent); ``import robustscope`` never imports crypten.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import warnings
from types import ModuleType
from typing import Any

#: The CrypTen release these shims were written and tested for.
CRYPTEN_VERSION = "0.4.1"

#: Environment variable the ``sklearn`` placeholder package (a crypten requirement) needs to install.
SKLEARN_INSTALL_VARIABLE = "SKLEARN_ALLOW_DEPRECATED_SKLEARN_PACKAGE_INSTALL"

#: The module crypten imports under its torch 1.13–2.8 name, and where torch ≥ 2.9 keeps it.
REGISTRATION_ALIAS = ("torch.onnx._internal.registration", "torch.onnx._internal.torchscript_exporter.registration")


def crypten_installed() -> bool:
    """Whether the ``crypten`` package is installed (without importing it).

    Example:
        >>> isinstance(crypten_installed(), bool)
        True
    """
    return importlib.util.find_spec("crypten") is not None


def alias_registration_module() -> bool:
    """Register torch's moved ONNX registration module under the name crypten imports; True if an alias was added.

    Example:
        >>> import sys
        >>> _ = alias_registration_module()
        >>> importlib.util.find_spec("torch") is None or REGISTRATION_ALIAS[0] in sys.modules
        True
    """
    old_name, new_name = REGISTRATION_ALIAS
    if old_name in sys.modules:
        return False
    try:
        importlib.import_module(old_name)
        return False  # this torch still has it: nothing to alias
    except ImportError:
        pass
    sys.modules[old_name] = importlib.import_module(new_name)
    return True


def _export_pytorch_model(f: Any, pytorch_model: Any, dummy_input: Any) -> Any:
    """crypten's ``_export_pytorch_model`` with ``dynamo=False``: the TorchScript exporter its symbolics target."""
    import torch
    from crypten.nn import onnx_converter

    kwargs: dict[str, Any] = {
        "do_constant_folding": False,
        "export_params": True,
        "input_names": ["input"],
        "operator_export_type": torch.onnx.OperatorExportTypes.ONNX,
        "output_names": ["output"],
        "opset_version": onnx_converter._OPSET_VERSION,
    }
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with warnings.catch_warnings():
        # "You are using the legacy TorchScript-based ONNX export": the point of this shim.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(pytorch_model, dummy_input, f, **kwargs)
    return f


def _identity_module_class(module: ModuleType) -> type:
    """A ``crypten.nn.Module`` for the ONNX ``Identity`` op (output = input)."""

    class Identity(module.Module):  # type: ignore[name-defined,misc]
        """ONNX ``Identity``: returns its input (added by robustscope.compat.crypten_shims)."""

        _robustscope_shim = True

        def forward(self, x: Any) -> Any:
            return x

        @staticmethod
        def from_onnx(attributes: dict[str, Any] | None = None) -> Identity:
            return Identity()

    return Identity


def load_crypten() -> ModuleType:
    """Import ``crypten`` with every shim applied (idempotent); returns the package.

    Raises ``ImportError`` when crypten is not installed (install the ``robustscope[private]`` extra).

    Example:
        >>> crypten = load_crypten()  # doctest: +SKIP
        >>> crypten.__version__  # doctest: +SKIP
        '0.4.1'
    """
    alias_registration_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crypten's own import-time deprecation warnings (pkg_resources, …)
        import crypten
        from crypten.nn import module, onnx_converter

    if onnx_converter._export_pytorch_model is not _export_pytorch_model:
        onnx_converter._export_pytorch_model = _export_pytorch_model
    if not hasattr(module, "Identity"):
        module.Identity = _identity_module_class(module)
    return crypten
