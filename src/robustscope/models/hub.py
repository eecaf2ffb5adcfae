"""Fetching hub-hosted weights without hanging: offline detection and one clear error.

Without a network, ``huggingface_hub`` retries each request for ~45 s before giving up. When the
hub cannot be reached (``HF_HUB_OFFLINE=1``, or a short connection probe fails) loads run in the
hub's offline mode, so cached weights still load and missing ones fail at once with
:class:`~robustscope.errors.WeightsUnavailableError`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import threading
from collections.abc import Iterator
from types import ModuleType

from robustscope.errors import MissingDependencyError, WeightsUnavailableError

HF_HOST = "huggingface.co"
#: How to install the packages of the ``timm:`` and ``clip:`` model schemes (the ``hub`` extra).
HUB_INSTALL = "pip install 'robustscope[hub]'"
#: The pip package of each module the hub extra provides.
_HUB_PACKAGES = {"timm": "timm", "open_clip": "open-clip-torch"}
_TRUE = {"1", "on", "yes", "true"}
_probe_cache: dict[str, bool] = {}


def import_hub_package(module: str, scheme: str) -> ModuleType:
    """Import ``timm`` or ``open_clip`` for the ``scheme:`` models, or say how to install it.

    Example:
        >>> import_hub_package("timm", "timm").__name__
        'timm'
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{scheme}: models need the {module} package (pip package {_HUB_PACKAGES.get(module, module)}), which "
            f"cannot be imported here ({err}); install it with {HUB_INSTALL}"
        ) from None


def offline_requested() -> bool:
    """True when the environment asks for offline mode (``HF_HUB_OFFLINE`` or ``ROBUSTSCOPE_OFFLINE``).

    Example:
        >>> isinstance(offline_requested(), bool)
        True
    """
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ROBUSTSCOPE_OFFLINE")
    )


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` s (cached per process).

    DNS lookups have no timeout of their own, so the probe runs in a daemon thread.

    Example:
        >>> reachable("localhost", port=1, timeout=0.5)
        False
    """
    key = f"{host}:{port}"
    if key in _probe_cache:
        return _probe_cache[key]
    result = [False]

    def probe() -> None:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
            result[0] = True

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    _probe_cache[key] = result[0]
    return result[0]


def hub_offline(host: str = HF_HOST) -> bool:
    """True when weights must come from the local cache: offline requested or ``host`` unreachable.

    Example:
        >>> isinstance(hub_offline(), bool)
        True
    """
    return offline_requested() or not reachable(host)


@contextlib.contextmanager
def hf_offline_mode(enabled: bool = True) -> Iterator[None]:
    """Run the body with ``huggingface_hub`` in offline mode (cache only, no retries).

    Example:
        >>> with hf_offline_mode():
        ...     pass
    """
    if not enabled:
        yield
        return
    try:
        from huggingface_hub import constants
    except ImportError:  # no hub client: nothing can try the network through it
        yield
        return
    previous_env = os.environ.get("HF_HUB_OFFLINE")
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous
        if previous_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous_env


def weights_unavailable(spec: str, looked_for: str, cause: BaseException | None = None) -> WeightsUnavailableError:
    """The error for hub weights that are neither cached nor downloadable, with how to fix it.

    Example:
        >>> err = weights_unavailable("timm:resnet18", "timm/resnet18.a1_in1k (model.safetensors)")
        >>> "file:" in str(err)
        True
    """
    reason = f" ({type(cause).__name__}: {str(cause).splitlines()[0][:200]})" if cause and str(cause) else ""
    return WeightsUnavailableError(
        f"weights for {spec!r} are not available offline: looked for {looked_for} in the local cache"
        f"{reason}. Either pre-download them on a machine with internet into the same cache "
        "(HF_HOME / ~/.cache/huggingface for hub weights, TORCH_HOME / ~/.cache/torch for torchvision) "
        "and copy it here, or save the weights to a local file and load it with "
        "'file:PATH' (a model.safetensors + config.json folder naming the architecture)."
    )
