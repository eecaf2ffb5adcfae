"""Checks of the options a run takes (device, batch size, resamples, bad-image policy), before any work.

:func:`robustscope.evaluate`, :func:`robustscope.compare`, :func:`robustscope.suites.run_suite` and the CLI
call these first, so a bad option fails in one line instead of after minutes of forward passes.
"""

from __future__ import annotations

import numbers

from robustscope.engine.image_loading import BAD_IMAGE_POLICIES
from robustscope.errors import OptionError

#: Device types robustscope runs on; torch knows more (``meta``, ``hpu``…), none of which computes logits here.
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def _is_integer(value: object) -> bool:
    # numbers.Integral takes numpy's integers too; a bool is an int to Python but never a count here.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_device(device: str) -> str:
    """Return ``device`` if torch can run on it here; else raise :class:`OptionError` saying what to pass.

    Example:
        >>> check_device("cpu")
        'cpu'
        >>> check_device("tpu9")
        Traceback (most recent call last):
        ...
        robustscope.errors.OptionError: device 'tpu9' is not a device torch knows; use cpu, cuda, cuda:N, mps or xpu
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.type not in DEVICE_TYPES:
        raise OptionError(f"device {device!r} is not a device torch knows; use cpu, cuda, cuda:N, mps or xpu")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise OptionError(
                f"device {device!r}: torch sees no CUDA GPU here (torch.cuda.is_available() is False); "
                "run with --device cpu (device='cpu'), or check the NVIDIA driver, CUDA_VISIBLE_DEVICES and that "
                "torch was built with CUDA"
            )
        if parsed.index is not None and parsed.index >= count:
            raise OptionError(f"device {device!r}: torch sees {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise OptionError(f"device {device!r}: Apple's MPS backend is not available here; run with --device cpu")
    elif parsed.type == "xpu" and not (hasattr(torch, "xpu") and torch.xpu.is_available()):
        raise OptionError(f"device {device!r}: torch sees no Intel XPU here; run with --device cpu")
    return device


#: Forward-pass precisions: ``fp32`` (default: plain float32), or autocast to float16 / bfloat16.
PRECISIONS = ("fp32", "fp16", "bf16")


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of :data:`PRECISIONS`; else raise :class:`OptionError` saying what to pass.

    Example:
        >>> check_precision("bf16")
        'bf16'
        >>> check_precision("int8")
        Traceback (most recent call last):
        ...
        robustscope.errors.OptionError: precision (--precision) must be one of fp32, fp16, bf16, got 'int8'
    """
    if precision not in PRECISIONS:
        raise OptionError(f"precision (--precision) must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def check_num_workers(num_workers: int) -> int:
    """Return ``num_workers`` (decoding processes) if it is an integer >= 0; else raise :class:`OptionError`.

    Example:
        >>> check_num_workers(2)
        2
        >>> check_num_workers(-1)
        Traceback (most recent call last):
        ...
        robustscope.errors.OptionError: num_workers (--num-workers) must be an integer >= 0 (0: decode in the \
main process), got -1
    """
    if not _is_integer(num_workers) or num_workers < 0:
        raise OptionError(
            f"num_workers (--num-workers) must be an integer >= 0 (0: decode in the main process), got {num_workers!r}"
        )
    return int(num_workers)


def check_run_options(batch_size: int = 64, n_resamples: int = 0, on_bad_image: str = "raise") -> None:
    """Raise :class:`OptionError` naming the first option out of its range.

    Example:
        >>> check_run_options(batch_size=32, n_resamples=1000)
        >>> check_run_options(n_resamples=-5)
        Traceback (most recent call last):
        ...
        robustscope.errors.OptionError: n_resamples (--n-resamples) must be an integer >= 0 (0: no confidence \
intervals), got -5
    """
    if not _is_integer(batch_size) or batch_size < 1:
        raise OptionError(f"batch_size (--batch-size) must be a positive integer, got {batch_size!r}")
    if not _is_integer(n_resamples) or n_resamples < 0:
        raise OptionError(
            f"n_resamples (--n-resamples) must be an integer >= 0 (0: no confidence intervals), got {n_resamples!r}"
        )
    if on_bad_image not in BAD_IMAGE_POLICIES:
        raise OptionError(
            f"on_bad_image (--on-bad-image) must be one of {', '.join(BAD_IMAGE_POLICIES)}, got {on_bad_image!r}"
        )
