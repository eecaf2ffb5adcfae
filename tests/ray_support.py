"""Helpers of the Ray executor tests that Ray workers import by name (no tests here).

:class:`DieOnce` kills the worker process that first applies it to a chosen sample, leaving a marker file so
that Ray's retry (and every later run) goes through: a worker dying mid-run, reproducibly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from robustscope.shifts.base import Shift


class DieOnce(Shift):
    """The identity, except that the first process to see sample ``trigger`` exits at once (no cleanup).

    Example:
        >>> import tempfile
        >>> shift = DieOnce(str(Path(tempfile.mkdtemp()) / "died"), trigger="s9")
        >>> shift(torch.ones(1, 3, 2, 2), ["s0"]).sum().item()  # not the trigger: nothing happens
        12.0
    """

    name, version = "die_once", "1"

    def __init__(self, marker: str, trigger: str):
        self.marker = marker
        self.trigger = trigger

    def params(self) -> dict[str, Any]:
        return {"trigger": self.trigger}  # the marker's path is no part of what the shift computes

    def apply(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        if self.trigger in sample_ids and not Path(self.marker).exists():
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)  # like a SIGKILL or an OOM kill: no exception, no cleanup, the process is gone
        return images
