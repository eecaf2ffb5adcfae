"""Argument types of the command line, and a parser whose usage errors are one line.

Each type refuses a value out of its range at parse time, naming the option and the value, so a run
never starts with ``--batch-size 0`` or ``--n-resamples -5``.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (else a usage error naming the value).

    Example:
        >>> positive_int("64")
        64
        >>> positive_int("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: expected a positive integer, got '0'
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (``--n-resamples 0``: no confidence intervals).

    Example:
        >>> non_negative_int("0")
        0
        >>> non_negative_int("-5")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: expected an integer >= 0, got '-5'
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a learning rate).

    Example:
        >>> positive_float("3e-3")
        0.003
        >>> positive_float("nan")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: expected a number > 0, got 'nan'
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """argparse type: a number strictly between 0 and 1 (a significance level).

    Example:
        >>> probability("0.05")
        0.05
        >>> probability("5")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: expected a number between 0 and 1 (e.g. 0.05), got '5'
    """
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 (e.g. 0.05), got {text!r}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other error of the command (exit 2).

    Example:
        >>> parser = OneLineParser(prog="robustscope run")
        >>> _ = parser.add_argument("--batch-size", type=positive_int)
        >>> import contextlib, io
        >>> with contextlib.redirect_stderr(io.StringIO()) as err:
        ...     try:
        ...         parser.parse_args(["--batch-size", "0"])
        ...     except SystemExit as exit_:
        ...         print(exit_.code)
        2
        >>> print(err.getvalue().strip())
        robustscope: error: argument --batch-size: expected a positive integer, got '0'; see robustscope run --help
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"robustscope: error: {message}; see {self.prog} --help\n")
