"""Argument types of the command line, and a parser whose usage errors are one line.

Each type refuses a value out of its range at parse time, naming the option and the value, so a run
never starts with ``--batch-size 0`` or ``--n-resamples -5``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn, TypeVar

N = TypeVar("N", int, float)


def _number(text: str, convert: Callable[[str], N], accept: Callable[[N], bool], expected: str) -> N:
    """``convert(text)`` when it reads and ``accept`` s it; else the usage error ``expected …, got 'text'``."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not accept(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


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
    return _number(text, int, lambda value: value >= 1, "a positive integer")


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
    return _number(text, int, lambda value: value >= 0, "an integer >= 0")


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
    return _number(text, float, lambda value: 0 < value < float("inf"), "a number > 0")


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
    return _number(text, float, lambda value: 0 < value < 1, "a number between 0 and 1 (e.g. 0.05)")


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor serial|ray`` and ``--ray-address auto|HOST:PORT`` (``robustscope run``, ``robustscope sweep``).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_executor_arguments(parser)
        >>> args = parser.parse_args(["--executor", "ray", "--ray-address", "auto"])
        >>> args.executor, args.ray_address
        ('ray', 'auto')
    """
    parser.add_argument("--executor", choices=["serial", "ray"], default=None,
                        help="who computes predictions: this process (serial, the default) or Ray "
                             "(pip install 'robustscope[ray]'; local cores unless --ray-address)")
    parser.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                        help="with --executor ray: join the cluster started by `ray start --head` ('auto' on one "
                             "of its machines) instead of starting a local Ray")


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
