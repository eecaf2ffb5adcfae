"""What a network computes, as a hash: its module tree, class names, user code and TorchScript code.

Weights alone do not identify a model: two wrappers with the same (or no) parameters but different
``forward`` methods compute different things, and editing a class's code changes its outputs. The
digest here is the code part of :meth:`robustscope.models.base.Model.fingerprint`:

* the module tree (``repr`` of the network, memory addresses scrubbed so it is stable across processes);
* the qualified class name of every module in the tree;
* the source of every user-defined class in the tree and of its user-defined base classes
  (``inspect.getsource`` of the class and, located exactly through their code objects, of its
  methods), where "user-defined" means anything outside torch and the Python standard library;
* for TorchScript modules the compiled code of every submodule, with its constants; for
  ``torch.fx.GraphModule`` s (``torch.export`` programs among them) the generated code.

A class whose source cannot be read (defined in a REPL or with ``exec``) is reported once with a
warning; its code is then identified only by the ``version=`` the user gives the model.
Helper functions that a ``forward`` calls are not followed: give ``version=`` when they change.
"""

from __future__ import annotations

import builtins
import hashlib
import inspect
import re
import sys
import types
import warnings
import weakref
from typing import Any

import torch
from torch import nn

#: Hash of one class's source (``None``: source unavailable), computed once per class object.
_CLASS_DIGESTS: weakref.WeakKeyDictionary[type, str | None] = weakref.WeakKeyDictionary()
#: Classes already warned about, so that each is reported once per process.
_WARNED: weakref.WeakSet[type] = weakref.WeakSet()
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def network_code_digest(network: nn.Module, extra_classes: tuple[type, ...] = (), versioned: bool = False) -> str:
    """A sha256 of what ``network`` computes apart from its weights (see the module docstring).

    ``extra_classes`` are hashed like the tree's classes (e.g. a subclass of ``Model`` itself).
    With ``versioned=False`` a class whose source cannot be read is warned about (once per class),
    since nothing else would tell its versions apart.

    Example:
        >>> from torch import nn
        >>> a = network_code_digest(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
        >>> a == network_code_digest(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))  # weights do not count
        True
        >>> a == network_code_digest(nn.Sequential(nn.Linear(2, 2), nn.Tanh()))
        False
    """
    digest = hashlib.sha256()
    digest.update(_ADDRESS.sub("0x", repr(network)).encode())
    classes: list[type] = list(extra_classes)
    for name, module in network.named_modules(remove_duplicate=False):
        cls = type(module)
        digest.update(f"\x1e{name}\x1f{cls.__module__}.{cls.__qualname__}".encode())
        if isinstance(module, torch.jit.ScriptModule):
            digest.update(_script_code(module).encode())
        elif isinstance(module, torch.fx.GraphModule):
            digest.update(str(module.code).encode())
        if cls not in classes:
            classes.append(cls)
    hashed: list[type] = []
    for cls in classes:
        for base in cls.__mro__:
            if _is_user_defined(base) and base not in hashed:
                hashed.append(base)
    for cls in hashed:
        source_digest = class_source_digest(cls)
        if source_digest is None and not versioned:
            _warn_once(cls)
        digest.update(f"\x1e{cls.__module__}.{cls.__qualname__}\x1f{source_digest}".encode())
    return digest.hexdigest()


def class_source_digest(cls: type) -> str | None:
    """sha256 of a class's source and of each of its methods' source; ``None`` if any is unreadable.

    Methods are found through their code objects (file and first line), which stays exact where
    ``inspect.getsource(cls)`` guesses: two classes of the same name in one file, or a module
    loaded twice under one name. Cached per class object (a reloaded module makes new classes).

    Example:
        >>> from robustscope.models.smallcnn import SmallCNN
        >>> len(class_source_digest(SmallCNN))
        64
    """
    if cls in _CLASS_DIGESTS:
        return _CLASS_DIGESTS[cls]
    digest = hashlib.sha256()
    try:
        digest.update(inspect.getsource(cls).encode())
        for name in sorted(vars(cls)):
            for function in _functions(vars(cls)[name]):
                digest.update(f"\x1e{name}\x1f".encode() + inspect.getsource(function).encode())
        result: str | None = digest.hexdigest()
    except (OSError, TypeError):  # no file behind it: a REPL, exec, a notebook cell, a C extension
        result = None
    _CLASS_DIGESTS[cls] = result
    return result


def _functions(attribute: Any) -> list[types.FunctionType]:
    """The Python functions behind a class attribute (a method, static/class method or property)."""
    if isinstance(attribute, (staticmethod, classmethod)):
        attribute = attribute.__func__
    if isinstance(attribute, property):
        return [f for f in (attribute.fget, attribute.fset, attribute.fdel) if isinstance(f, types.FunctionType)]
    return [attribute] if isinstance(attribute, types.FunctionType) else []


def _is_user_defined(cls: type) -> bool:
    """Neither torch's nor the standard library's: the classes whose code a user may edit."""
    top = cls.__module__.split(".")[0]
    if top == "builtins":  # ``exec`` without a ``__name__`` puts user classes in "builtins" too
        return getattr(builtins, cls.__qualname__, None) is not cls
    return top != "torch" and top not in sys.stdlib_module_names


def _script_code(module: torch.jit.ScriptModule) -> str:
    """A TorchScript module's own compiled code and constants (submodules are visited separately)."""
    try:
        code, constants = module.code_with_constants
    except (RuntimeError, AttributeError):  # a submodule without a forward of its own
        return ""
    parts = [code]
    for name, value in sorted(constants.const_mapping.items()):
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            data = hashlib.sha256(tensor.view(-1).view(torch.uint8).numpy().tobytes()).hexdigest()
            parts.append(f"{name}:{tuple(tensor.shape)}{tensor.dtype}:{data}")
        else:
            parts.append(f"{name}:{_ADDRESS.sub('0x', repr(value))}")
    return "\x1f".join(parts)


def _warn_once(cls: type) -> None:
    if cls in _WARNED:
        return
    _WARNED.add(cls)
    warnings.warn(
        f"cannot read the source code of {cls.__module__}.{cls.__qualname__} (defined in a REPL, a notebook "
        "or with exec?), so its code is not part of the model's cache key: pass version='...' to "
        "Model.from_module(...) and change it whenever that code changes",
        stacklevel=4,
    )
